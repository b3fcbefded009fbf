"""``prefspace label``: the labeling studio (a local web page, or headless with a simulated
annotator), and ``prefspace label export`` / ``import`` for its database."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Annotated, Literal

import typer
from typer.core import TyperGroup

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._options import (
    CacheOpt,
    PoolIdKey,
    PoolJoinKey,
    PoolPromptKey,
    PoolResponseKey,
    default_cache_dir,
    deprecated_option,
    examples,
    renamed,
)


class _ServeByDefault(TyperGroup):
    """``prefspace label POOL ...`` means ``prefspace label serve POOL ...``."""

    def parse_args(self, ctx, args):
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = ["serve", *args]
        return super().parse_args(ctx, args)


label_app = typer.Typer(
    cls=_ServeByDefault,
    no_args_is_help=True,
    help="Active labeling with people in the loop: `prefspace label POOL --db labels.sqlite` serves a page to "
    "compare responses; `label export` writes TRL pairs; `label import` reads Label Studio annotations.",
)
app.add_typer(label_app, name="label")

_STRATEGY_HELP = (
    "{strategies}. Default random: in this project's label-loop and active-labeling benchmarks "
    "(docs/benchmarks.md) D-optimal selection learned more slowly than random; see "
    "docs/active-labeling.md."
)
_HEAD_HELP = (
    "Head refitted on the labels: {heads} (default bt-linear; with --model, the model's own)."
)


@label_app.command(
    "serve",
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace label serve candidates.jsonl --db labels.sqlite --model runs/bt   (or: prefspace label candidates.jsonl ...)"
    ),
)
def serve(
    pool: Annotated[
        str,
        typer.Argument(
            help="Candidate responses, as `prefspace select` reads them (prompt + response rows, or prompt + responses lists).",
            show_default=False,
        ),
    ],
    db: Annotated[
        Path,
        typer.Option(
            "--db",
            help="The label database (SQLite; created if missing, resumed if not).",
            show_default=False,
        ),
    ],
    model: Annotated[
        Path | None,
        typer.Option(
            "--model",
            help="A saved model: it chooses the first batch and its encoder embeds the pool. Without it the first batch is random.",
            show_default=False,
        ),
    ] = None,
    strategy: Annotated[
        str,
        typer.Option("--strategy", "-s", parser=RegistryChoice("strategies"), help=_STRATEGY_HELP),
    ] = "random",
    batch: Annotated[
        int,
        typer.Option(
            "--batch", "-b", min=1, help="Pairs per batch; the head is refitted after each."
        ),
    ] = 20,
    explore: Annotated[
        float,
        typer.Option(
            "--explore",
            min=0.0,
            max=1.0,
            help="Share of each batch chosen at random (exploration).",
        ),
    ] = 0.2,
    overlap: Annotated[
        int, typer.Option("--overlap", min=1, help="Annotators per pair (>= 2 measures agreement).")
    ] = 1,
    rounds: Annotated[
        int | None,
        typer.Option(
            "--rounds",
            min=1,
            help="Stop after this many batches (required with --simulate).",
            show_default=False,
        ),
    ] = None,
    head: Annotated[
        str | None,
        typer.Option("--head", parser=RegistryChoice("heads"), help=_HEAD_HELP, show_default=False),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; anything but loopback needs --token.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=0, max=65535, help="TCP port (0: any free port).")
    ] = 8765,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            envvar="PREFSPACE_LABEL_TOKEN",
            help="Access token (16+ characters); annotators open /?token=TOKEN once.",
            show_default=False,
        ),
    ] = None,
    prompts: Annotated[
        str | None,
        typer.Option(
            "--prompts",
            help="Separate prompts file joined on --join-key (alpaca_bon layout).",
            show_default=False,
        ),
    ] = None,
    prompt_key: PoolPromptKey = "prompt",
    response_key: PoolResponseKey = "response",
    id_key: PoolIdKey = None,
    join_key: PoolJoinKey = "prompt_id",
    encoder: Annotated[
        str | None,
        typer.Option(
            "--encoder",
            help="Encoder for the pool without --model (default all-MiniLM-L6-v2).",
            show_default=False,
        ),
    ] = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            help="Precomputed feature rows (.npy/.safetensors), one per response in POOL order, instead of embedding.",
            show_default=False,
        ),
    ] = None,
    prompt_features: Annotated[
        Path | None,
        typer.Option(
            "--prompt-features",
            help="With --features: one row per prompt (prompts-file order); rows become [prompt, response].",
            show_default=False,
        ),
    ] = None,
    cache: CacheOpt = None,
    cross_prompt: Annotated[
        bool, typer.Option("--cross-prompt", help="Pair responses to different prompts.")
    ] = False,
    max_candidates: Annotated[
        int,
        typer.Option(
            "--max-candidates",
            min=1,
            help="Choose from a random sample of this many candidate pairs.",
        ),
    ] = 1_000_000,
    lam: Annotated[
        float | None,
        typer.Option(
            "--lam",
            help="Ridge lambda of the D-optimal information matrix (default: the head's own penalty).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed: first batch, exploration, A/B sides, the head.")
    ] = 0,
    lease_minutes: Annotated[
        float,
        typer.Option(
            "--lease-minutes",
            min=0.05,
            help="How long a shown pair stays reserved for its annotator.",
        ),
    ] = 10.0,
    save_model: Annotated[
        Path | None,
        typer.Option(
            "--save-model",
            help="Save the latest refit here after each batch (save_model format).",
            show_default=False,
        ),
    ] = None,
    no_serve: Annotated[
        bool,
        typer.Option(
            "--no-serve",
            help="Refit and choose the next batch if one is due, then exit (for labelling in Label Studio).",
        ),
    ] = False,
    simulate: Annotated[
        str | None,
        typer.Option(
            "--simulate",
            help="Headless: a simulated annotator answers from this score column (e.g. gold), through the HTTP API.",
            show_default=False,
        ),
    ] = None,
    simulate_beta: Annotated[
        float,
        typer.Option(
            "--simulate-beta",
            min=0.0,
            help="Bradley-Terry inverse temperature of the simulated annotator.",
        ),
    ] = 1.0,
    simulate_transform: Annotated[
        Literal["none", "logit"],
        typer.Option(
            "--simulate-transform",
            help="Score transform before the Bradley-Terry draw: none or logit (for scores in [0, 1]).",
        ),
    ] = "none",
    annotators: Annotated[
        int, typer.Option("--annotators", min=1, help="Simulated annotators labelling at once.")
    ] = 1,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report",
            help="With --simulate: write one JSON line per batch (latencies, accuracy) here.",
            show_default=False,
        ),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the labeling page for POOL: compare two responses, A / B / tie / skip.

    After each batch the head is refitted in the background on every label and the next batch
    is chosen with STRATEGY. Labels go to DB as they are made (kill -9 loses none).
    """
    from ..studio import StudioConfig, build_studio, create_studio_app, run_studio_server

    if simulate is not None and rounds is None:
        raise typer.BadParameter(
            "--simulate needs --rounds N (how many batches to label).", param_hint="--rounds"
        )
    if simulate is None and report is not None:
        raise typer.BadParameter("--report goes with --simulate.", param_hint="--report")
    if cache is None and features is None:
        cache = default_cache_dir()
    if report is not None:
        from .._paths import check_output

        check_output(
            report,
            caches=[cache],
            what="--report",
            inputs=[pool, prompts, model, features, prompt_features, db, save_model],
        )
    config = StudioConfig(
        strategy=strategy,
        batch_size=batch,
        explore=explore,
        overlap=overlap,
        rounds=rounds,
        lam=lam,
        seed=seed,
        lease_seconds=60.0 * lease_minutes,
    )
    studio = build_studio(
        pool,
        db,
        model=model,
        head=head,
        encoder=encoder,
        features=features,
        prompt_features=prompt_features,
        cache=cache,
        prompts=prompts,
        prompt_key=prompt_key,
        response_key=response_key,
        id_key=id_key,
        join_key=join_key,
        score_key=simulate,
        cross_prompt=cross_prompt,
        max_candidates=max_candidates,
        save_model_to=save_model,
        config=config,
    )
    n_resp, n_pairs = len(studio.pool.candidates), len(studio.pool.pairs)
    what = f"{n_resp:,} responses to {studio.pool.candidates.n_prompts:,} prompts, {n_pairs:,} candidate pairs"
    if no_serve:
        studio.start()
        studio.wait_idle(timeout=3600)
        state = studio.state()
        studio.stop()
        studio.store.close()
        p = state["progress"]
        typer.echo(
            f"{db}: batch {p['batch']} has {p['left_in_batch']} of {p['batch_size']} pairs left to label "
            f"({p['labels']} labels so far; {what})"
            + (f"; {state['finished']}" if state["finished"] else "")
        )
        return
    if simulate is not None:
        _simulate(
            studio,
            simulate,
            host=host,
            token=token,
            beta=simulate_beta,
            transform=simulate_transform,
            annotators=annotators,
            seed=seed,
            report=report,
            what=what,
            log_level=log_level,
        )
        return
    app_ = create_studio_app(studio, host=host, token=token)

    def ready(url: str) -> None:
        typer.echo(f"labeling studio for {pool} ({what}); labels go to {db}", err=True)
        typer.echo(
            f"open {url}/"
            + (f"?token={token}" if token else "")
            + "   (Ctrl-C stops; labels are saved as they are made)",
            err=True,
        )

    try:
        run_studio_server(app_, host=host, port=port, log_level=log_level, on_ready=ready)
    finally:
        studio.stop()
        studio.store.close()


def _simulate(
    studio,
    column: str,
    *,
    host: str,
    token,
    beta: float,
    transform: str,
    annotators: int,
    seed: int,
    report,
    what: str,
    log_level: str,
) -> None:
    from ..select.candidates import write_jsonl
    from ..studio import StudioServer, create_studio_app, loop_report, simulate_annotators

    scores = dict(zip(studio.pool.candidates.ids, studio.pool.candidates.scores.tolist()))
    app_ = create_studio_app(studio, host=host, token=token)
    typer.echo(f"simulating {annotators} annotator(s) on {column!r} over HTTP ({what})", err=True)
    with StudioServer(app_, host=host, port=0, log_level=log_level) as server:
        result = simulate_annotators(
            server.url,
            scores,
            annotators=annotators,
            beta=beta,
            transform=None if transform == "none" else transform,
            random_state=seed,
            token=token,
        )
    studio.stop()
    rows = loop_report(studio.store)
    state = studio.state()
    studio.store.close()
    typer.echo(
        "batch  pairs  strategy      select_s  labels  model  fit_s   cv_s    cv_accuracy [95% interval]"
    )
    for r in rows:
        acc = (
            "-"
            if r["cv_accuracy"] is None
            else f"{r['cv_accuracy']:.3f} [{r['cv_low']:.3f}, {r['cv_high']:.3f}]"
        )
        typer.echo(
            f"{r['batch']:>5}  {r['size']:>5}  {r['strategy']:<12} {_num(r['select_seconds']):>9}  "
            f"{r['labels']:>6}  {_ver(r['model_version']):>5}  {_num(r['fit_seconds']):>6}  "
            f"{_num(r['cv_seconds']):>6}  {acc}"
        )
    sel = [
        r["select_seconds"]
        for r in rows
        if r["select_seconds"] is not None and r["chosen_by"] is not None
    ]
    fit = [
        r["fit_seconds"] + (r["cv_seconds"] or 0.0) for r in rows if r["fit_seconds"] is not None
    ]
    typer.echo(
        f"{result['labels']} labels in {result['seconds']:.1f} s: the server sustained "
        f"{result['labels_per_minute']:,.0f} labels/min ({annotators} annotator(s)); "
        f"waiting for refits {result['wait_seconds']:.1f} s; median selection {_num(_median(sel))} s, "
        f"median refit + cross-validation {_num(_median(fit))} s"
        + (f"; agreement {state['agreement']}" if state["agreement"]["pairs"] else "")
    )
    if report is not None:
        write_jsonl(report, [{**r, "labels_per_minute": result["labels_per_minute"]} for r in rows])
        typer.echo(f"wrote {len(rows)} batch records to {report}")


def _median(xs):
    return statistics.median(xs) if xs else None


def _num(x) -> str:
    return "-" if x is None else f"{x:.3f}"


def _ver(v) -> str:
    return "-" if v is None else f"v{v}"


@label_app.command(
    "export",
    epilog=examples(
        "prefspace label export labels.sqlite --out pairs.jsonl",
        "prefspace label export labels.sqlite --format label-studio --out tasks.json",
    ),
)
def export(
    db: Annotated[
        Path,
        typer.Argument(help="A label database written by `prefspace label`.", show_default=False),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", help="Where to write (JSON lines for trl, JSON for label-studio)."
        ),
    ] = Path("pairs.jsonl"),
    format: Annotated[
        str, typer.Option("--format", "-f", help="trl (preference pairs) or label-studio (tasks).")
    ] = "trl",
    tie_rows: Annotated[
        str,
        typer.Option(
            "--tie-rows",
            help="trl: drop tie judgments, write them both ways, or flag them (tie: true). (Not train's --ties, which reads ties in a data file.)",
        ),
    ] = "drop",
    combine: Annotated[
        str,
        typer.Option(
            "--combine",
            help="trl: one row per pair by majority of its judgments, or all (one per judgment). (Not train's --aggregate, an ensemble's reward.)",
        ),
    ] = "majority",
    pending: Annotated[
        bool, typer.Option("--pending", help="label-studio: only pairs nobody has judged yet.")
    ] = False,
    config_out: Annotated[
        Path | None,
        typer.Option(
            "--config-out",
            help="label-studio: also write the labeling interface XML here.",
            show_default=False,
        ),
    ] = None,
    ties: deprecated_option("--ties", "--tie-rows", str) = None,
    aggregate: deprecated_option("--aggregate", "--combine", str) = None,
) -> None:
    """Write the labels of DB as TRL preference pairs, or the pairs as Label Studio tasks."""
    from ..studio import export_label_studio, export_trl

    ties = renamed("--ties", "--tie-rows", ties, tie_rows)
    aggregate = renamed("--aggregate", "--combine", aggregate, combine)
    if format == "trl":
        stats = export_trl(db, out, ties=ties, aggregate=aggregate)
        tie_note = {
            "drop": f"{stats['skipped_ties']} tie(s) dropped",
            "both": f"{stats['ties']} tie(s) written both ways",
            "flag": f"{stats['ties']} tie(s) flagged",
        }[ties]
        typer.echo(
            f"wrote {stats['rows']} preference pairs to {out} (from {stats['judgments']} judgments; {tie_note})"
        )
    elif format == "label-studio":
        stats = export_label_studio(db, out, pending=pending, config_out=config_out)
        typer.echo(
            f"wrote {stats['tasks']} Label Studio tasks ({stats['annotations']} annotations) to {out}"
            + (f"; interface in {config_out}" if config_out else "")
        )
    else:
        raise typer.BadParameter("must be 'trl' or 'label-studio'.", param_hint="--format")


@label_app.command("import", epilog=examples("prefspace label import labels.sqlite ls-export.json"))
def import_(
    db: Annotated[
        Path,
        typer.Argument(help="The label database the tasks were exported from.", show_default=False),
    ],
    source: Annotated[
        Path, typer.Argument(help="A Label Studio JSON export of those tasks.", show_default=False)
    ],
    on_unknown: Annotated[
        str, typer.Option("--on-unknown", help="A task whose pair is not in DB: error or skip.")
    ] = "error",
) -> None:
    """Add the annotations of a Label Studio JSON export to DB (stop the studio first)."""
    from ..studio import import_label_studio

    stats = import_label_studio(db, source, on_unknown=on_unknown)
    typer.echo(
        f"{source}: {stats['added']} judgments added, {stats['already']} already in {db}, "
        f"{stats['empty']} empty annotations, {stats['unknown']} unknown tasks (of {stats['tasks']} tasks)"
    )

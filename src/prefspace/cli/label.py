"""``prefspace label``: the labeling studio (a local web page, or headless with a simulated
annotator), and ``prefspace label export`` / ``import`` for its database."""

from __future__ import annotations

import dataclasses
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer
from typer.core import TyperGroup

from . import app
from ._choices import RegistryChoice, RegistryHelpCommand
from ._groups import argument, option, option_group
from ._options import (
    CacheOpt,
    CandidatePairs,
    PoolColumns,
    RenamedFlag,
    ServerOptions,
    Strategy,
    ThroughCache,
    candidate_pairs,
    examples,
    out_option,
    pool_columns,
    server_options,
)

if TYPE_CHECKING:
    from ..studio import BatchRecord, Studio, StudioState, Throughput


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

_HEAD_HELP = (
    "Head refitted on the labels: {heads} (default bt-linear; with --model, the model's own)."
)
PoolArg = argument(
    str,
    "Candidate responses, as `prefspace select` reads them (prompt + response rows, or prompt + responses lists).",
)
Db = option(
    Path,
    "--db",
    help="The label database (SQLite; created if missing, resumed if not).",
    show_default=False,
)
Model = option(
    Path | None,
    "--model",
    help="A saved model: it chooses the first batch and its encoder embeds the pool. Without it the first batch is random.",
)
Batch = option(
    int, "--batch", "-b", help="Pairs per batch; the head is refitted after each.", min=1
)
Explore = option(
    float, "--explore", help="Share of each batch chosen at random (exploration).", min=0.0, max=1.0
)
Overlap = option(int, "--overlap", help="Annotators per pair (>= 2 measures agreement).", min=1)
Rounds = option(
    int | None, "--rounds", help="Stop after this many batches (required with --simulate).", min=1
)
Head = option(str | None, "--head", help=_HEAD_HELP, parser=RegistryChoice("heads"))
Token = option(
    str | None,
    "--token",
    help="Access token (16+ characters); annotators open /?token=TOKEN once.",
    envvar="PREFSPACE_LABEL_TOKEN",
)
PoolEncoder = option(
    str | None, "--encoder", help="Encoder for the pool without --model (default all-MiniLM-L6-v2)."
)
Features = option(
    Path | None,
    "--features",
    help="Precomputed feature rows (.npy/.safetensors), one per response in POOL order, instead of embedding.",
)
PromptFeatures = option(
    Path | None,
    "--prompt-features",
    help="With --features: one row per prompt (prompts-file order); rows become [prompt, response].",
)
Lam = option(
    float | None,
    "--lam",
    help="Ridge lambda of the D-optimal information matrix (default: the head's own penalty).",
)
Seed = option(int, "--seed", help="Seed: first batch, exploration, A/B sides, the head.")
LeaseMinutes = option(
    float,
    "--lease-minutes",
    help="How long a shown pair stays reserved for its annotator.",
    min=0.05,
)
SaveModel = option(
    Path | None,
    "--save-model",
    help="Save the latest refit here after each batch (save_model format).",
)
NoServe = option(
    bool,
    "--no-serve",
    help="Refit and choose the next batch if one is due, then exit (for labelling in Label Studio).",
)
Simulate = option(
    str | None,
    "--simulate",
    help="Headless: a simulated annotator answers from this score column (e.g. gold), through the HTTP API.",
)
SimulateBeta = option(
    float,
    "--simulate-beta",
    help="Bradley-Terry inverse temperature of the simulated annotator.",
    min=0.0,
)
SimulateTransform = option(
    Literal["none", "logit"],
    "--simulate-transform",
    help="Score transform before the Bradley-Terry draw: none or logit (for scores in [0, 1]).",
)
Annotators = option(int, "--annotators", help="Simulated annotators labelling at once.", min=1)
Report = option(
    Path | None,
    "--report",
    help="With --simulate: write one JSON line per batch (latencies, accuracy) here.",
)
DbArg = argument(Path, "A label database written by `prefspace label`.")
ExportOut = out_option("Where to write (JSON lines for trl, JSON for label-studio).")
ExportFormat = option(str, "--format", "-f", help="trl (preference pairs) or label-studio (tasks).")
TieRows = option(
    str,
    "--tie-rows",
    help="trl: drop tie judgments, write them both ways, or flag them (tie: true). (Not train's --ties, which reads ties in a data file.)",
)
Combine = option(
    str,
    "--combine",
    help="trl: one row per pair by majority of its judgments, or all (one per judgment). (Not train's --aggregate, an ensemble's reward.)",
)
Pending = option(bool, "--pending", help="label-studio: only pairs nobody has judged yet.")
ConfigOut = option(
    Path | None, "--config-out", help="label-studio: also write the labeling interface XML here."
)
ImportDb = argument(Path, "The label database the tasks were exported from.")
ImportSource = argument(Path, "A Label Studio JSON export of those tasks.")
TiesRenamed = RenamedFlag("--ties", "--tie-rows", str)
AggregateRenamed = RenamedFlag("--aggregate", "--combine", str)
OnUnknown = option(str, "--on-unknown", help="A task whose pair is not in DB: error or skip.")

# the studio's wording of the candidate pairs
_PAIRS_HELPS = {
    "cross_prompt": "Pair responses to different prompts.",
    "max_candidates": "Choose from a random sample of this many candidate pairs.",
}

# the studio's server: anything but loopback needs a token; port 0 picks a free one
_SERVER_HELPS = {
    "host": "Address to bind; anything but loopback needs --token.",
    "port": "TCP port (0: any free port).",
}


@dataclass(frozen=True)
class LoopSettings:
    """How the studio chooses and refits: the fields of :class:`prefspace.studio.StudioConfig`
    (the lease in minutes)."""

    strategy: Strategy = "random"
    batch_size: Batch = 20
    explore: Explore = 0.2
    overlap: Overlap = 1
    rounds: Rounds = None
    lam: Lam = None
    seed: Seed = 0
    lease_minutes: LeaseMinutes = 10.0

    def config(self) -> Any:
        """The :class:`prefspace.studio.StudioConfig` these settings make."""
        from ..studio import StudioConfig

        fields = dataclasses.asdict(self)
        lease_seconds = 60.0 * fields.pop("lease_minutes")
        return StudioConfig(**fields, lease_seconds=lease_seconds)


@dataclass(frozen=True)
class Simulation:
    """``--simulate`` and its options: who answers, how noisily, and where the report goes."""

    column: Simulate = None
    beta: SimulateBeta = 1.0
    transform: SimulateTransform = "none"
    annotators: Annotators = 1
    report: Report = None

    def check(self, rounds: int | None) -> None:
        """Refuse a simulation without a number of rounds, and a report without a simulation."""
        if self.column is not None and rounds is None:
            raise typer.BadParameter(
                "--simulate needs --rounds N (how many batches to label).", param_hint="--rounds"
            )
        if self.column is None and self.report is not None:
            raise typer.BadParameter("--report goes with --simulate.", param_hint="--report")


@dataclass(frozen=True)
class PoolVectors(ThroughCache):
    """Where the pool's feature rows come from: embedded (with --model's encoder, else
    --encoder) through --cache, or read from --features (and --prompt-features)."""

    encoder: PoolEncoder = None
    features: Features = None
    prompt_features: PromptFeatures = None
    cache: CacheOpt = None

    @property
    def files(self) -> list[Path | None]:
        """The feature files it reads (None where not given)."""
        return [self.features, self.prompt_features]

    def kwargs(self) -> dict[str, Any]:
        """The fields as :func:`prefspace.studio.build_studio` takes them; the pool is embedded
        through :meth:`cache_dir`; rows read from --features go through --cache only when given."""
        cache = self.cache if self.features is not None else self.cache_dir()
        return {**dataclasses.asdict(self), "cache": cache}


loop_settings = option_group(LoopSettings, "loop")
simulation_options = option_group(Simulation, "simulation")
pool_vectors = option_group(PoolVectors, "vectors")


@label_app.command(
    "serve",
    cls=RegistryHelpCommand,
    epilog=examples(
        "prefspace label serve candidates.jsonl --db labels.sqlite --model runs/bt   (or: prefspace label candidates.jsonl ...)"
    ),
)
@server_options(helps=_SERVER_HELPS, defaults={"port": 8765, "log_level": "warning"})
@pool_columns()
@loop_settings()
@pool_vectors()
@candidate_pairs(helps=_PAIRS_HELPS)
@simulation_options()
def serve(
    pool: PoolArg,
    db: Db,
    *,
    model: Model = None,
    loop: LoopSettings,
    head: Head = None,
    server: ServerOptions,
    token: Token = None,
    keys: PoolColumns,
    vectors: PoolVectors,
    pairs: CandidatePairs,
    save_model: SaveModel = None,
    no_serve: NoServe = False,
    simulation: Simulation,
) -> None:
    """Serve the labeling page for POOL: compare two responses, A / B / tie / skip.

    After each batch the head is refitted in the background on every label and the next batch
    is chosen with STRATEGY. Labels go to DB as they are made (kill -9 loses none).
    """
    from ..embed.pipeline import EmbedStats, describe_cache_use
    from ..studio import build_studio

    simulation.check(loop.rounds)
    source = vectors.kwargs()
    if simulation.report is not None:
        from .._paths import check_output

        read = [pool, keys.prompts, model, *vectors.files, db, save_model]
        check_output(simulation.report, caches=[source["cache"]], what="--report", inputs=read)
    studio = build_studio(
        pool,
        db,
        model=model,
        head=head,
        score_key=simulation.column,
        **pairs.kwargs(),
        save_model_to=save_model,
        config=loop.config(),
        embed_stats=(stats := EmbedStats()),
        **source,
        **keys.kwargs(),
    )
    if stats.total:  # the pool was embedded (not read from --features)
        typer.echo(describe_cache_use(stats.cache_use(source["cache"])))
    if no_serve:
        return _refit_once(studio, db)
    if simulation.column is not None:
        return _simulate(studio, simulation, server=server, token=token, seed=loop.seed)
    _serve_page(studio, pool, db, server=server, token=token)


def _pool_text(studio: Studio) -> str:
    """``N responses to P prompts, C candidate pairs``."""
    pool = studio.pool
    return (
        f"{len(pool.candidates):,} responses to {pool.candidates.n_prompts:,} prompts, "
        f"{len(pool.pairs):,} candidate pairs"
    )


def _refit_once(studio: Studio, db: Path) -> None:
    """``--no-serve``: refit and choose the next batch if one is due, say what is left, exit."""
    studio.start()
    studio.wait_idle(timeout=3600)
    state = studio.state()
    studio.stop()
    studio.store.close()
    p = state.progress
    typer.echo(
        f"{db}: batch {p.batch} has {p.left_in_batch} of {p.batch_size} pairs left to label "
        f"({p.labels} labels so far; {_pool_text(studio)})"
        + (f"; {state.finished}" if state.finished else "")
    )


def _serve_page(studio: Studio, pool: str, db: Path, *, server: ServerOptions, token) -> None:
    """Serve the labeling page until Ctrl-C; the studio stops and its database closes after."""
    from .._http import run_foreground
    from ..studio import create_studio_app

    app_ = create_studio_app(studio, host=server.host, token=token)

    def ready(url: str) -> None:
        typer.echo(
            f"labeling studio for {pool} ({_pool_text(studio)}); labels go to {db}", err=True
        )
        typer.echo(
            f"open {url}/"
            + (f"?token={token}" if token else "")
            + "   (Ctrl-C stops; labels are saved as they are made)",
            err=True,
        )

    try:
        run_foreground(app_, server.host, server.port, log_level=server.log_level, on_ready=ready)
    finally:
        studio.stop()
        studio.store.close()


def _simulate(studio: Studio, sim: Simulation, *, server: ServerOptions, token, seed: int) -> None:
    """``--simulate``: simulated annotators label through the HTTP API; print the loop's table."""
    from ..select.candidates import write_jsonl
    from ..studio import StudioServer, create_studio_app, loop_report, simulate_annotators

    scores = dict(zip(studio.pool.candidates.ids, studio.pool.candidates.scores.tolist()))
    app_ = create_studio_app(studio, host=server.host, token=token)
    typer.echo(
        f"simulating {sim.annotators} annotator(s) on {sim.column!r} over HTTP ({_pool_text(studio)})",
        err=True,
    )
    with StudioServer(app_, host=server.host, port=0, log_level=server.log_level) as running:
        result = simulate_annotators(
            running.url,
            scores,
            annotators=sim.annotators,
            beta=sim.beta,
            transform=None if sim.transform == "none" else sim.transform,
            random_state=seed,
            token=token,
        )
    studio.stop()
    rows = loop_report(studio.store)
    state = studio.state()
    studio.store.close()
    for line in loop_lines(rows, result, state, sim.annotators):
        typer.echo(line)
    if sim.report is not None:
        records = [{**r.to_json(), "labels_per_minute": result.labels_per_minute} for r in rows]
        write_jsonl(sim.report, records)
        typer.echo(f"wrote {len(rows)} batch records to {sim.report}")


def loop_lines(
    rows: list[BatchRecord], result: Throughput, state: StudioState, annotators: int
) -> list[str]:
    """The simulated label loop as lines to print: one per batch, then the totals."""
    lines = [
        "batch  pairs  strategy      select_s  labels  model  fit_s   cv_s    cv_accuracy [95% interval]"
    ]
    for r in rows:
        acc = (
            "-"
            if r.cv_accuracy is None
            else f"{r.cv_accuracy:.3f} [{r.cv_low:.3f}, {r.cv_high:.3f}]"
        )
        lines.append(
            f"{r.batch:>5}  {r.size:>5}  {r.strategy:<12} {_num(r.select_seconds):>9}  "
            f"{r.labels:>6}  {_ver(r.model_version):>5}  {_num(r.fit_seconds):>6}  "
            f"{_num(r.cv_seconds):>6}  {acc}"
        )
    sel = [
        r.select_seconds for r in rows if r.select_seconds is not None and r.chosen_by is not None
    ]
    fit = [r.fit_seconds + (r.cv_seconds or 0.0) for r in rows if r.fit_seconds is not None]
    lines.append(
        f"{result.labels} labels in {result.seconds:.1f} s: the server sustained "
        f"{result.labels_per_minute:,.0f} labels/min ({annotators} annotator(s)); "
        f"waiting for refits {result.wait_seconds:.1f} s; median selection {_num(_median(sel))} s, "
        f"median refit + cross-validation {_num(_median(fit))} s"
        # the agreement's fields printed as a Python dict, as this line always showed them
        + (f"; agreement {dataclasses.asdict(state.agreement)}" if state.agreement.pairs else "")
    )
    return lines


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
    db: DbArg,
    out: ExportOut = Path("pairs.jsonl"),
    format: ExportFormat = "trl",
    tie_rows: TieRows = "drop",
    combine: Combine = "majority",
    pending: Pending = False,
    config_out: ConfigOut = None,
    ties: TiesRenamed.option = None,
    aggregate: AggregateRenamed.option = None,
) -> None:
    """Write the labels of DB as TRL preference pairs, or the pairs as Label Studio tasks."""
    from ..studio import export_label_studio, export_trl

    ties = TiesRenamed.value(ties, tie_rows)
    aggregate = AggregateRenamed.value(aggregate, combine)
    if format == "trl":
        trl = export_trl(db, out, ties=ties, aggregate=aggregate)
        tie_note = {
            "drop": f"{trl.skipped_ties} tie(s) dropped",
            "both": f"{trl.ties} tie(s) written both ways",
            "flag": f"{trl.ties} tie(s) flagged",
        }[ties]
        typer.echo(
            f"wrote {trl.rows} preference pairs to {out} (from {trl.judgments} judgments; {tie_note})"
        )
    elif format == "label-studio":
        tasks = export_label_studio(db, out, pending=pending, config_out=config_out)
        typer.echo(
            f"wrote {tasks.tasks} Label Studio tasks ({tasks.annotations} annotations) to {out}"
            + (f"; interface in {config_out}" if config_out else "")
        )
    else:
        raise typer.BadParameter("must be 'trl' or 'label-studio'.", param_hint="--format")


@label_app.command("import", epilog=examples("prefspace label import labels.sqlite ls-export.json"))
def import_(db: ImportDb, source: ImportSource, on_unknown: OnUnknown = "error") -> None:
    """Add the annotations of a Label Studio JSON export to DB (stop the studio first)."""
    from ..studio import import_label_studio

    got = import_label_studio(db, source, on_unknown=on_unknown)
    typer.echo(
        f"{source}: {got.added} judgments added, {got.already} already in {db}, "
        f"{got.empty} empty annotations, {got.unknown} unknown tasks (of {got.tasks} tasks)"
    )

"""``prefspace serve`` (HTTP reward server) and ``prefspace rerank`` (best-of-N selection)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import app
from ._options import (
    Device,
    LengthControlled,
    MaxTextChars,
    ModelBackend,
    ModelEncoder,
    ModelLayout,
    default_cache_dir,
    examples,
)
from ._progress import show_progress

_ModelArg = Annotated[
    Path,
    typer.Argument(
        help="A model directory written by `prefspace train` / save_model.", show_default=False
    ),
]
_CacheOpt = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="An embedding cache directory to read and fill (default: the one every command "
        "shares, $PREFSPACE_CACHE, else $PREFSPACE_HOME/embeddings, else ~/.cache/prefspace/embeddings).",
        show_default=False,
    ),
]


def _encoder(
    model: Path,
    name: str | None,
    layout: str | None,
    device: str | None,
    encoder_backend: str | None = None,
):
    """The encoder to serve with: the recorded one unless overridden (RewardScorer checks the fingerprint)."""
    from ..workflows.scoring import model_encoder

    return model_encoder(model, name, layout=layout, device=device, backend=encoder_backend)


@app.command(
    "serve",
    epilog=examples(
        "prefspace serve runs/bt --port 8000 --tokenizer smollm2-135m",
        "prefspace serve runs/bt --host 0.0.0.0 --device cuda --strip '</s>'",
    ),
)
def serve(
    model: _ModelArg,
    host: Annotated[
        str, typer.Option("--host", help="Address to bind; 127.0.0.1 serves this machine only.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.", min=0, max=65535)] = 8000,
    encoder: ModelEncoder = None,
    encoder_backend: ModelBackend = None,
    layout: ModelLayout = None,
    device: Device = None,
    cache: _CacheOpt = None,
    max_batch: Annotated[
        int, typer.Option("--max-batch", min=1, help="Most texts per encoder call (micro-batch).")
    ] = 256,
    max_wait_ms: Annotated[
        float,
        typer.Option(
            "--max-wait-ms",
            min=0,
            help="How long a request waits for others to share an encoder call.",
        ),
    ] = 5.0,
    max_items: Annotated[
        int, typer.Option("--max-items", min=1, help="Most texts per request (422 beyond).")
    ] = 512,
    max_text_chars: Annotated[
        int,
        typer.Option(
            "--max-text-chars",
            min=1,
            help="Longest prompt/response/query in characters (422 beyond).",
        ),
    ] = 32_000,
    max_body_bytes: Annotated[
        int,
        typer.Option("--max-body-bytes", min=1, help="Largest request body in bytes (413 beyond)."),
    ] = 4 * 1024 * 1024,
    lru_size: Annotated[
        int, typer.Option("--lru-size", min=0, help="Feature rows kept in memory.")
    ] = 20_000,
    strip: Annotated[
        list[str] | None,
        typer.Option(
            "--strip",
            help="A string removed from /get_reward prompts and responses, e.g. '</s>' or '<|im_end|>' "
            "(repeat for several).",
            show_default=False,
        ),
    ] = None,
    tokenizer: Annotated[
        str | None,
        typer.Option(
            "--tokenizer",
            help="The policy's tokenizer (folder, cached hub name, .gguf file, smollm2-135m): "
            "its special tokens are removed and its chat template splits /get_reward queries.",
            show_default=False,
        ),
    ] = None,
    chat_template: Annotated[
        Path | None,
        typer.Option(
            "--chat-template",
            help="A file holding the policy's chat template (Jinja), instead of --tokenizer; "
            "name its special tokens with --strip.",
            show_default=False,
        ),
    ] = None,
    normalize: Annotated[
        str,
        typer.Option(
            "--normalize",
            help="/get_reward rewards: none, fixed ((r - mean) / std with --reward-mean and "
            "--reward-std) or running (mean and std of every reward served so far).",
        ),
    ] = "none",
    reward_mean: Annotated[
        float | None,
        typer.Option("--reward-mean", help="Mean for --normalize fixed.", show_default=False),
    ] = None,
    reward_std: Annotated[
        float | None,
        typer.Option("--reward-std", help="Std for --normalize fixed.", show_default=False),
    ] = None,
    scores: Annotated[
        str,
        typer.Option(
            "--scores",
            help="What /get_reward returns as scores: reward, or sigmoid (in (0, 1), for "
            "OpenRLHF's dynamic filtering).",
        ),
    ] = "reward",
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "info",
    length_controlled: LengthControlled = False,
) -> None:
    """Serve a reward model over HTTP: /get_reward (OpenRLHF), /score, /health, /info."""
    from ..serve import OpenRLHFOptions, RewardScorer, ServeConfig, create_app, run_server

    config = ServeConfig(
        max_body_bytes=max_body_bytes,
        max_items=max_items,
        max_text_chars=max_text_chars,
        max_batch=max_batch,
        max_wait_ms=max_wait_ms,
        lru_size=lru_size,
        strip=tuple(strip or ()),
    )
    openrlhf = OpenRLHFOptions(
        tokenizer=tokenizer,
        chat_template=None if chat_template is None else str(chat_template),
        normalize=normalize,
        mean=reward_mean,
        std=reward_std,
        scores=scores,
    )
    # load first: a model/encoder mismatch stops here (exit code 2) before the port is bound
    scorer = RewardScorer(
        model,
        encoder=_encoder(model, encoder, layout, device, encoder_backend),
        cache=cache or default_cache_dir(),
        lru_size=lru_size,
        length_controlled=length_controlled,
    )
    scorer.encoder.load()  # an encoder that cannot load (missing files, remote code) stops here too
    openrlhf.load_template(
        config.strip
    )  # a tokenizer or template that cannot be read stops here too
    info = scorer.info()
    typer.echo(
        f"serving {model} ({info['model']['class']}, encoder {info['encoder']['fingerprint'][:12]}, "
        f"feature_dim {info['feature_dim']}{', length-controlled' if length_controlled else ''}) on "
        f"http://{host}:{port}  (Ctrl-C stops)",
        err=True,
    )
    typer.echo(f"OpenRLHF: --reward.remote_url http://{host}:{port}/get_reward", err=True)
    typer.echo(
        f"cache {scorer.cache.directory}: texts embedded while serving are kept there", err=True
    )
    served = create_app(scorer, config, openrlhf=openrlhf)
    typer.echo(served.state.serve_context.splitter.describe(), err=True)
    run_server(served, host=host, port=port, log_level=log_level)


@app.command(
    "rerank", epilog=examples("prefspace rerank runs/bt samples.jsonl --n 16 --out best.jsonl")
)
def rerank(
    model: _ModelArg,
    candidates: Annotated[
        Path,
        typer.Argument(
            help="JSONL (.gz ok) of candidate rows: a prompt and a response each, several rows per prompt.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Where to write the best response per prompt (JSONL)."),
    ],
    n: Annotated[
        int | None,
        typer.Option(
            "--n",
            min=1,
            help="Best of the first N candidates of each prompt (default: all).",
            show_default=False,
        ),
    ] = None,
    prompts: Annotated[
        Path | None,
        typer.Option(
            "--prompts",
            help="A JSONL of prompts joined to the candidates on --join-key.",
            show_default=False,
        ),
    ] = None,
    prompt_key: Annotated[
        str, typer.Option("--prompt-key", help="Column holding the prompt.")
    ] = "prompt",
    response_key: Annotated[
        str, typer.Option("--response-key", help="Column holding the response.")
    ] = "response",
    group_key: Annotated[
        str | None,
        typer.Option(
            "--group-key",
            help="Column grouping candidates (default: --join-key if present, else the prompt).",
            show_default=False,
        ),
    ] = None,
    join_key: Annotated[
        str, typer.Option("--join-key", help="Column joining candidates to --prompts.")
    ] = "prompt_id",
    encoder: ModelEncoder = None,
    encoder_backend: ModelBackend = None,
    layout: ModelLayout = None,
    device: Device = None,
    cache: _CacheOpt = None,
    max_text_chars: MaxTextChars = None,
    length_controlled: LengthControlled = False,
) -> None:
    """Best-of-N: score every candidate, write each prompt's best response with its reward."""
    from .._jsonsafe import write_jsonl
    from .._paths import check_output
    from ..embed.pipeline import describe_cache_use
    from ..serve import RewardScorer
    from ..serve.rerank import best_records, read_candidates
    from ..serve.rerank import rerank as rerank_candidates

    check_output(out, inputs=[model, candidates, prompts], caches=[cache], what="--out")
    cands = read_candidates(
        candidates,
        prompts_path=prompts,
        prompt_key_name=prompt_key,
        response_key=response_key,
        group_key=group_key,
        join_key=join_key,
        **({} if max_text_chars is None else {"max_text_chars": max_text_chars}),
    )
    scorer = RewardScorer(
        model,
        encoder=_encoder(model, encoder, layout, device, encoder_backend),
        cache=cache or default_cache_dir(),
        length_controlled=length_controlled,
    )
    with show_progress():
        res = rerank_candidates(scorer, cands.prompts, cands.responses, groups=cands.groups, n=n)

    write_jsonl(out, best_records(cands, res))
    typer.echo(describe_cache_use(scorer.cache_use()))
    typer.echo(
        f"picked the best of {int(res.n_candidates.max())} candidates for {len(res.best)} prompts "
        f"({int(res.n_candidates.sum())} scored) -> {out}"
    )

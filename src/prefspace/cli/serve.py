"""``prefspace serve`` (HTTP reward server) and ``prefspace rerank`` (best-of-N selection)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from . import app
from ._encoder_options import ModelEncoderOptions, model_encoder_options
from ._groups import argument, option, option_group
from ._options import (
    MaxTextChars,
    PoolColumns,
    RenamedFlag,
    ServerOptions,
    examples,
    out_option,
    server_options,
)
from ._progress import show_progress

if TYPE_CHECKING:
    from ..models.scorer import RewardScorer

ModelArg = argument(Path, "A model directory written by `prefspace train` / save_model.")
# serve's and rerank's wording of --cache (the group's option)
_CACHE_HELPS = {
    "cache": "An embedding cache directory to read and fill (default: the one every command "
    "shares, $PREFSPACE_CACHE, else $PREFSPACE_HOME/embeddings, else ~/.cache/prefspace/embeddings)."
}
MaxBatch = option(int, "--max-batch", help="Most texts per encoder call (micro-batch).", min=1)
MaxWaitMs = option(
    float,
    "--max-wait-ms",
    help="How long a request waits for others to share an encoder call.",
    min=0,
)
MaxItems = option(int, "--max-items", help="Most texts per request (422 beyond).", min=1)
ServeMaxTextChars = option(
    int, "--max-text-chars", help="Longest prompt/response/query in characters (422 beyond).", min=1
)
MaxBodyBytes = option(
    int, "--max-body-bytes", help="Largest request body in bytes (413 beyond).", min=1
)
LruSize = option(int, "--lru-size", help="Feature rows kept in memory.", min=0)
Strip = option(
    list[str] | None,
    "--strip",
    help="A string removed from /get_reward prompts and responses, e.g. '</s>' or '<|im_end|>' "
    "(repeat for several).",
)
Tokenizer = option(
    str | None,
    "--tokenizer",
    help="The policy's tokenizer (folder, cached hub name, .gguf file, smollm2-135m): "
    "its special tokens are removed and its chat template splits /get_reward queries.",
)
ChatTemplate = option(
    Path | None,
    "--chat-template",
    help="A file holding the policy's chat template (Jinja), instead of --tokenizer; "
    "name its special tokens with --strip.",
)
Normalize = option(
    str,
    "--normalize",
    help="/get_reward rewards: none, fixed ((r - mean) / std with --reward-mean and "
    "--reward-std) or running (mean and std of every reward served so far).",
)
RewardMean = option(float | None, "--reward-mean", help="Mean for --normalize fixed.")
RewardStd = option(float | None, "--reward-std", help="Std for --normalize fixed.")
Scores = option(
    str,
    "--scores",
    help="What /get_reward returns as scores: reward, or sigmoid (in (0, 1), for "
    "OpenRLHF's dynamic filtering).",
)


@dataclasses.dataclass(frozen=True)
class RequestLimits:
    """What a request may carry and how requests share the encoder: the fields of
    :class:`prefspace.serve.ServeConfig`."""

    max_batch: MaxBatch = 256
    max_wait_ms: MaxWaitMs = 5.0
    max_items: MaxItems = 512
    max_text_chars: ServeMaxTextChars = 32_000
    max_body_bytes: MaxBodyBytes = 4 * 1024 * 1024
    lru_size: LruSize = 20_000
    strip: Strip = None

    def config(self) -> Any:
        """The :class:`prefspace.serve.ServeConfig` these limits make."""
        from ..serve import ServeConfig

        return ServeConfig(**{**dataclasses.asdict(self), "strip": tuple(self.strip or ())})


@dataclasses.dataclass(frozen=True)
class OpenRLHFFlags:
    """How /get_reward reads OpenRLHF's queries and returns their rewards: the fields of
    :class:`prefspace.serve.OpenRLHFOptions`."""

    tokenizer: Tokenizer = None
    chat_template: ChatTemplate = None
    normalize: Normalize = "none"
    mean: RewardMean = None
    std: RewardStd = None
    scores: Scores = "reward"

    def options(self) -> Any:
        """The :class:`prefspace.serve.OpenRLHFOptions` these flags make."""
        from ..serve import OpenRLHFOptions

        template = None if self.chat_template is None else str(self.chat_template)
        return OpenRLHFOptions(**{**dataclasses.asdict(self), "chat_template": template})


request_limits = option_group(RequestLimits, "limits")
openrlhf_flags = option_group(OpenRLHFFlags, "openrlhf")


Candidates = argument(
    Path, "JSONL (.gz ok) of candidate rows: a prompt and a response each, several rows per prompt."
)
BestOut = out_option("Where to write the best response per prompt (JSONL).")
BestOf = option(
    int | None,
    "--best-of",
    help="Best of the first N candidates of each prompt (default: all).",
    min=1,
)
NRenamed = RenamedFlag("--n", "--best-of", int)
GroupKey = option(
    str | None,
    "--group-key",
    help="Column grouping candidates (default: --join-key if present, else the prompt).",
)


@dataclasses.dataclass(frozen=True)
class CandidateColumns(PoolColumns):
    """The columns of rerank's candidates: a pool's, and the column that groups them."""

    group_key: GroupKey = None

    def read(self, candidates: Path, max_text_chars: int | None) -> Any:
        """The candidates, as :func:`prefspace.serve.rerank.read_candidates` reads them."""
        from ..serve.rerank import read_candidates

        return read_candidates(
            candidates,
            prompts=self.prompts,
            prompt_key=self.prompt_key,
            response_key=self.response_key,
            group_key=self.group_key,
            join_key=self.join_key,
            **({} if max_text_chars is None else {"max_text_chars": max_text_chars}),
        )


candidate_columns = option_group(CandidateColumns, "keys")

# rerank's candidates: one response per row, no list column, no response ids
_RERANK_HELPS = {
    "prompts": "A JSONL of prompts joined to the candidates on --join-key.",
    "response_key": "Column holding the response.",
    "join_key": "Column joining candidates to --prompts.",
}


@app.command(
    "serve",
    epilog=examples(
        "prefspace serve runs/bt --port 8000 --tokenizer smollm2-135m",
        "prefspace serve runs/bt --host 0.0.0.0 --device cuda --strip '</s>'",
    ),
)
@server_options()
@model_encoder_options(helps=_CACHE_HELPS)
@request_limits()
@openrlhf_flags()
def serve(
    model: ModelArg,
    server: ServerOptions,
    model_encoder: ModelEncoderOptions,
    limits: RequestLimits,
    openrlhf: OpenRLHFFlags,
) -> None:
    """Serve a reward model over HTTP: /get_reward (OpenRLHF), /score, /health, /info."""
    from ..serve import create_app, run_server

    config, options = limits.config(), openrlhf.options()
    # load first: a model/encoder mismatch stops here (exit code 2) before the port is bound
    scorer = model_encoder.scorer(model, lru_size=limits.lru_size)
    scorer.encoder.load()  # an encoder that cannot load (missing files, remote code) stops here too
    options.load_template(config.strip)  # a tokenizer or template that cannot be read stops here
    for line in _serving_lines(model, scorer, server, model_encoder.length_controlled):
        typer.echo(line, err=True)
    served = create_app(scorer, config, openrlhf=options)
    typer.echo(served.state.serve_context.splitter.describe(), err=True)
    run_server(served, host=server.host, port=server.port, log_level=server.log_level)


def _serving_lines(
    model: Path, scorer: RewardScorer, server: ServerOptions, length_controlled: bool
) -> list[str]:
    """What ``serve`` says on stderr before it listens: the model, the address, the cache."""
    info = scorer.info()
    return [
        f"serving {model} ({info.model.class_name}, encoder {info.encoder.fingerprint[:12]}, "
        f"feature_dim {info.feature_dim}{', length-controlled' if length_controlled else ''}) on "
        f"{server.url}  (Ctrl-C stops)",
        f"OpenRLHF: --reward.remote_url {server.url}/get_reward",
        f"cache {scorer.cache.directory}: texts embedded while serving are kept there",
    ]


@app.command(
    "rerank",
    epilog=examples("prefspace rerank runs/bt samples.jsonl --best-of 16 --out best.jsonl"),
)
@candidate_columns(exclude=("id_key",), helps=_RERANK_HELPS)
@model_encoder_options(helps=_CACHE_HELPS)
def rerank(
    model: ModelArg,
    candidates: Candidates,
    out: BestOut,
    *,
    best_of: BestOf = None,
    keys: CandidateColumns,
    model_encoder: ModelEncoderOptions,
    max_text_chars: MaxTextChars = None,
    n: NRenamed.option = None,
) -> None:
    """Best-of-N: score every candidate, write each prompt's best response with its reward."""
    from .._jsonsafe import write_jsonl
    from .._paths import check_output
    from ..embed.pipeline import describe_cache_use
    from ..serve.rerank import best_records
    from ..serve.rerank import rerank as rerank_candidates

    best_of = NRenamed.value(n, best_of)
    inputs = [model, candidates, keys.prompts]
    check_output(out, inputs=inputs, caches=[model_encoder.cache], what="--out")
    cands = keys.read(candidates, max_text_chars)
    scorer = model_encoder.scorer(model)
    with show_progress():
        res = rerank_candidates(
            scorer, cands.prompts, cands.responses, groups=cands.groups, n=best_of
        )
    write_jsonl(out, best_records(cands, res))
    typer.echo(describe_cache_use(scorer.cache_use()))
    typer.echo(
        f"picked the best of {int(res.n_candidates.max())} candidates for {len(res.best)} prompts "
        f"({int(res.n_candidates.sum())} scored) -> {out}"
    )

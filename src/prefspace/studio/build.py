"""Assembling a studio from what ``prefspace label`` is given: a pool, a database, optionally a
model, an encoder or precomputed features."""

from __future__ import annotations

import logging
import os

from .._paths import check_output
from .._surface import option
from ..data import read_responses
from ..embed import EmbedStats, Encoder, get_encoder
from ..exceptions import ConfigError, ShapeError
from ..models import BradleyTerryLinear, get_head, load_model, load_model_encoder
from ..models._base import RewardHead
from .loop import RefitCallback, Studio, StudioConfig
from .pool import FeatureSource, load_label_pool, pool_features
from .storage import LabelStore

logger = logging.getLogger(__name__)

__all__ = ["build_studio"]


def build_studio(
    pool: str | os.PathLike,
    db: str | os.PathLike,
    *,
    model: str | os.PathLike | None = None,
    head: str | None = None,
    encoder: str | None = None,
    features: FeatureSource | None = None,
    prompt_features: FeatureSource | None = None,
    cache: str | os.PathLike | None = None,
    prompts: str | os.PathLike | None = None,
    prompt_key: str = "prompt",
    response_key: str = "response",
    id_key: str | None = None,
    join_key: str = "prompt_id",
    score_key: str | None = None,
    cross_prompt: bool = False,
    max_candidates: int | None = 1_000_000,
    save_model_to: str | os.PathLike | None = None,
    config: StudioConfig | None = None,
    on_refit: RefitCallback | None = None,
    embed_stats: EmbedStats | None = None,
) -> Studio:
    """Read the pool, get its features, open the database and return the (not yet started) Studio.

    Features come from ``features`` (and ``prompt_features``) when given; otherwise the pool is
    embedded, through the embedding cache ``cache`` (None: no cache), with ``model``'s own
    encoder, or ``encoder`` (a ``get_encoder`` name; default all-MiniLM-L6-v2) with the text-feature
    block (docs/models.md). ``head`` names the head refitted on the
    labels (default ``bt-linear``; with ``model``, the model's own class and settings).
    ``score_key`` names the simulated annotator's column (every response must have it).
    ``embed_stats`` (an :class:`~prefspace.embed.EmbedStats`) receives the pool's cache counts.
    """
    config = (config or StudioConfig()).check()
    # the database and the saved model are written: neither may be (or hold) what is read
    paths = [p for p in (features, prompt_features) if isinstance(p, (str, os.PathLike))]
    inputs = [pool, prompts, model, *paths]
    check_output(db, inputs=inputs, caches=[cache], what=option("db"))
    if save_model_to is not None:
        check_output(
            save_model_to,
            inputs=[*inputs, db],
            caches=[cache],
            kind="model",
            what=option("save_model_to", flag="--save-model"),
        )
    # with score_key (the simulated annotator's column), every response must carry its score
    candidates = read_responses(
        pool,
        prompts=prompts,
        prompt_key=prompt_key,
        response_key=response_key,
        id_key=id_key,
        join_key=join_key,
        score_key=score_key,
        require_scores=score_key is not None,
    )
    enc, fitted = _encoder_and_model(model, encoder, features)
    E = pool_features(
        candidates,
        features=features,
        prompt_features=prompt_features,
        encoder=enc,
        cache=cache,
        stats=embed_stats,
    )
    if fitted is not None and E.shape[1] != fitted.n_features_in_:
        raise ShapeError(
            f"the pool's feature rows have dimension {E.shape[1]} but the model {model} was trained on dimension "
            f"{fitted.n_features_in_}; use the features (or the encoder) the model was trained with."
        )
    label_pool = load_label_pool(
        candidates,
        E,
        kind="cross" if cross_prompt else "within",
        max_candidates=max_candidates,
        random_state=config.seed,
    )
    head_est = get_head(head, random_state=config.seed) if head is not None else None
    if (
        model is None and enc is not None and enc.n_text_features
    ):  # the head weighs the block on its own
        head_est = head_est if head_est is not None else BradleyTerryLinear()
        if "n_text_features" in head_est.get_params(deep=False):
            head_est.set_params(n_text_features=enc.n_text_features)
    store = LabelStore(db)
    return Studio(
        store,
        label_pool,
        head=head_est,
        model=fitted,
        config=config,
        encoder=enc,
        save_to=save_model_to,
        model_source=None if model is None else str(model),
        on_refit=on_refit,
    )


def _encoder_and_model(
    model: str | os.PathLike | None, encoder: str | None, features: FeatureSource | None
) -> tuple[Encoder | None, RewardHead | None]:
    """``(encoder or None, fitted model or None)``: the model's own encoder (no other may be
    named), or the named one with the text-feature block; no encoder when features are given."""
    if model is None:
        if features is not None:
            return None, None
        # the text-feature block beside the embedding, as `prefspace train` builds rows by default
        return get_encoder(encoder or "all-MiniLM-L6-v2", text_features=True), None
    if encoder is not None:
        raise ConfigError(
            f"{option('encoder')} and {option('model')} cannot be combined: the pool is embedded "
            "with the model's own encoder."
        )
    if features is not None:
        return None, load_model(model)
    enc = load_model_encoder(model)
    return enc, load_model(model, enc)

"""Prompt-aware features: put the prompt's embedding beside each response's.

A reward head only sees rows. With the ``"separate"`` encoder layout each row already is
``[prompt_embedding, response_embedding]`` (``embed_responses`` builds it), so nothing more
is needed. For embeddings made elsewhere (e.g. the precomputed AlpacaEval ones) this
function builds the same ``[prompt, response]`` rows, which lets one model compare
responses across prompts.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import ShapeError


def with_prompt_features(rows, prompt_embeddings) -> np.ndarray:
    """Concatenate ``[prompt, response]`` per row.

    Parameters
    ----------
    rows : array of shape (n, d) (single responses) or (n, 2, d) (pairs)
    prompt_embeddings : array of shape (n, p), the prompt of each row or pair

    Returns
    -------
    float32 array of shape (n, p + d) or (n, 2, p + d)

    Example
    -------
    >>> import numpy as np
    >>> with_prompt_features(np.zeros((4, 2, 3)), np.ones((4, 5))).shape
    (4, 2, 8)
    """
    R = np.asarray(rows, dtype=np.float32)
    P = np.asarray(prompt_embeddings, dtype=np.float32)
    if P.ndim != 2 or R.ndim not in (2, 3) or len(P) != len(R):
        raise ShapeError(
            f"with_prompt_features needs rows (n, d) or pairs (n, 2, d) and prompt embeddings (n, p) with the same n; "
            f"got rows {R.shape} and prompt_embeddings {P.shape}."
        )
    if R.ndim == 2:
        return np.concatenate([P, R], axis=1)
    return np.concatenate([np.repeat(P[:, None, :], 2, axis=1), R], axis=2)

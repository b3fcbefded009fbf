"""The synthesizers by name, and the pieces shared by ``augment`` and ``auto``.

``SYNTHESIZERS`` maps each augmentation method to its estimator class (``"repeat"``, copies of
the real pairs, is the control every synthesis is compared with); ``METHODS`` adds the two
methods that are not synthesizers (``"none"`` and the guarded ``"auto"``). The CLI and the
experiment config take their choices from here.
"""

from __future__ import annotations

from .._validation import check_params
from ..exceptions import ConfigError
from .baselines import (
    GaussianSynthesizer,
    MixupSynthesizer,
    PerturbationSynthesizer,
    RepeatSynthesizer,
)
from .lens import LatentSynthesizer, PCASynthesizer

__all__ = ["SYNTHESIZERS", "METHODS", "DEFAULT_AUTO_GRID", "get_synthesizer"]

SYNTHESIZERS = {
    "lens": LatentSynthesizer,
    "pca": PCASynthesizer,
    "perturb": PerturbationSynthesizer,
    "gaussian": GaussianSynthesizer,
    "mixup": MixupSynthesizer,
    "repeat": RepeatSynthesizer,  # the control: copies of the real pairs
}
METHODS = ("none", *SYNTHESIZERS, "auto")

# The candidates "auto" cross-validates: (method, factor, synthetic_weight, synthesizer params);
# a weight of None is 1 / factor (the synthetic pairs of a parent together weigh as much as it).
# Small on purpose: every entry costs one head fit per fold (a synthesizer is fitted once per
# fold and method and reused across factors and weights), plus one fit of the "repeat" control
# per distinct (factor, weight).
DEFAULT_AUTO_GRID: tuple = (
    ("lens", 4, None, {}),
    ("lens", 4, 1.0, {}),
    ("pca", 4, None, {}),
    ("perturb", 4, None, {}),
)


def get_synthesizer(method: str, *, random_state=0, **params):
    """An unfitted synthesizer for ``method`` (one of ``SYNTHESIZERS``) with ``params``.

    Unknown methods and parameters are refused with a ConfigError that lists the accepted ones.
    ``random_state``: None, an int or a numpy Generator, as for every estimator.

    >>> get_synthesizer("lens", sigma2=0.02).sigma2
    0.02
    >>> get_synthesizer("pca", sigma=0.02)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    prefspace.exceptions.ConfigError: PCASynthesizer (method 'pca') has no parameter 'sigma'; ...
    """
    if method not in SYNTHESIZERS:
        raise ConfigError(
            f"method must be one of {', '.join(map(repr, SYNTHESIZERS))} to make a synthesizer; got {method!r}."
        )
    cls = SYNTHESIZERS[method]
    check_params(cls, {**params, "random_state": random_state}, what=f"method {method!r}")
    return cls(random_state=random_state, **params)

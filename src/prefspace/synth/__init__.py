"""Latent-space synthesis of preference pairs (LENS) and the augmentation baselines.

Synthesizers are scikit-learn-style estimators: ``fit(X)`` on real pairs ``(n, 2, dim)``,
``sample(factor)`` -> :class:`SyntheticPairs` (``X`` ``(n * factor, 2, dim)``, ``parent``,
``synthetic_side``, ``source == "synthetic"``), kept apart from the real pairs.
:func:`augment_pairs` is the one-call form every trainer uses::

    from prefspace.synth import augment_pairs
    aug = augment_pairs(X, method="lens", factor=4, estimator=head)
    head.fit(aug.X, sample_weight=aug.sample_weight, **aug.fit_params)

    LatentSynthesizer        LENS (Tao, Du & Li 2025): VAE latent perturbation
    PCASynthesizer           the same pipeline with PCA instead of the VAE
    PerturbationSynthesizer  noise on raw embeddings
    GaussianSynthesizer      one Gaussian per side
    MixupSynthesizer         convex combinations of pairs
    RepeatSynthesizer        copies of the real pairs: the control
    augment_pairs            real + synthetic pairs and weights; method="auto" is guarded
    wasserstein2_diag        closed-form W2 between diagonal Gaussians

Nothing here imports torch: the VAE is written in numpy (see ``vae.py``).
"""

from .augment import (
    Augmentation,
    AugmentReport,
    CrossFittedReference,
    augment_pairs,
    filter_consistent,
    label_agreement,
    prompt_groups,
    synthesize,
)
from .auto import AugmentScore, AugmentSelection, choose_augmentation
from .baselines import (
    GaussianSynthesizer,
    MixupSynthesizer,
    PerturbationSynthesizer,
    RepeatSynthesizer,
)
from .lens import LatentSynthesizer, PCASynthesizer
from .pairs import SyntheticPairs, combine_within_pairs, responses_per_side
from .registry import DEFAULT_AUTO_GRID, METHODS, SYNTHESIZERS, get_synthesizer
from .vae import wasserstein2_diag

__all__ = [
    "LatentSynthesizer",
    "PCASynthesizer",
    "PerturbationSynthesizer",
    "GaussianSynthesizer",
    "MixupSynthesizer",
    "RepeatSynthesizer",
    "SyntheticPairs",
    "augment_pairs",
    "Augmentation",
    "AugmentReport",
    "synthesize",
    "choose_augmentation",
    "AugmentSelection",
    "AugmentScore",
    "prompt_groups",
    "get_synthesizer",
    "label_agreement",
    "filter_consistent",
    "CrossFittedReference",
    "combine_within_pairs",
    "responses_per_side",
    "wasserstein2_diag",
    "SYNTHESIZERS",
    "METHODS",
    "DEFAULT_AUTO_GRID",
]

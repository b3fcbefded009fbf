"""The divergence term: closed form, sign, bound, and its effect on a trained VAE."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from prefspace.synth import LatentSynthesizer, wasserstein2_diag
from prefspace.synth.vae import separation_loss


def _w2_monte_carlo(mu1, s1, mu2, s2, n=400_000, seed=0):
    # For product measures the optimal coupling matches quantiles coordinate by coordinate,
    # so sorting independent samples per coordinate estimates W2 without any closed form.
    g = np.random.default_rng(seed)
    a = np.sort(mu1 + s1 * g.standard_normal((n, mu1.size)), axis=0)
    b = np.sort(mu2 + s2 * g.standard_normal((n, mu2.size)), axis=0)
    return float(np.sqrt(np.mean(np.sum((a - b) ** 2, axis=1))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_w2_closed_form_matches_monte_carlo(seed):
    g = np.random.default_rng(seed)
    mu1, mu2 = g.normal(size=4), g.normal(size=4)
    s1, s2 = g.uniform(0.2, 2.0, 4), g.uniform(0.2, 2.0, 4)
    exact = float(wasserstein2_diag(mu1, s1, mu2, s2))
    assert exact == pytest.approx(_w2_monte_carlo(mu1, s1, mu2, s2), rel=0.02)


def test_w2_torch_and_numpy_agree_and_batch():
    g = np.random.default_rng(3)
    mu1, mu2 = g.normal(size=(5, 3)), g.normal(size=(5, 3))
    s1, s2 = g.uniform(0.1, 1, (5, 3)), g.uniform(0.1, 1, (5, 3))
    np_w2 = wasserstein2_diag(mu1, s1, mu2, s2)
    t_w2 = wasserstein2_diag(*(torch.tensor(a) for a in (mu1, s1, mu2, s2))).numpy()
    assert np_w2.shape == (5,)
    np.testing.assert_allclose(np_w2, t_w2, rtol=1e-6)
    assert wasserstein2_diag(mu1[0], s1[0], mu1[0], s1[0]) == 0.0


def test_separation_term_rewards_distance_below_margin_and_is_flat_above():
    w2 = torch.tensor([0.5, 2.0, 6.0], requires_grad=True)
    loss = separation_loss(w2, 0.1, 4.0)
    loss.sum().backward()
    assert (loss <= 0).all() and float(loss[2].detach()) == pytest.approx(-0.1)
    # negative gradient: increasing W2 lowers the loss (pushes chosen and rejected apart) ...
    assert w2.grad[0] < 0 and w2.grad[1] < 0
    # ... until the margin, beyond which it no longer pulls
    assert w2.grad[2] == 0


def test_positive_gamma_separates_pair_posteriors(alpaca_pairs):
    X = alpaca_pairs[:200]
    kw = dict(latent_dim=8, hidden_dim=64, max_steps=200, random_state=0)
    plain = LatentSynthesizer(gamma=0.0, **kw).fit(X)
    pushed = LatentSynthesizer(gamma=1.0, margin=50.0, **kw).fit(X)

    def mean_w2(s):
        mu, sd = s._encode(s.Fz_, None)
        return float(np.mean(wasserstein2_diag(mu[:, 0], sd[:, 0], mu[:, 1], sd[:, 1])))

    assert mean_w2(pushed) > 1.2 * mean_w2(plain)


def test_early_stopping_on_heldout_reconstruction_stops_memorising(alpaca_pairs, alpaca_dir):
    # 100 pairs: trained to the end the VAE keeps nearly all the variance of its own responses
    # and little of new ones; early stopping on held-out reconstruction trades the first for
    # the second, and an unlabelled pool of responses raises the second further.
    X, X_new = alpaca_pairs[:100], alpaca_pairs[100:300]
    kw = dict(latent_dim=8, hidden_dim=64, max_steps=300, random_state=0)
    full = LatentSynthesizer(early_stopping=False, **kw).fit(X)
    stopped = LatentSynthesizer(**kw).fit(X)
    assert full.train_terms_["steps"] == 300 and "heldout_recon" not in full.train_terms_
    # it stopped before the limit, and kept the weights of its best held-out step
    terms = stopped.train_terms_
    assert terms["best_step"] < terms["steps"] < 300 and 0 < terms["heldout_recon"] < 1.5
    kept = {
        name: (
            s.reconstruction_report()["variance_kept"],
            s.reconstruction_report(X_new)["variance_kept"],
        )
        for name, s in (("full", full), ("stopped", stopped))
    }
    assert kept["full"][0] > kept["stopped"][0]  # memorises less ...
    assert kept["stopped"][1] > kept["full"][1]  # ... and generalises better
    E = np.load(alpaca_dir / "response_emb_minilm.npy")[40000:44000].astype(
        np.float32
    )  # responses without labels
    used = {row.tobytes() for row in alpaca_pairs.reshape(-1, alpaca_pairs.shape[2])}
    E = E[[row.tobytes() not in used for row in E]]  # none of the evaluated responses
    pooled = LatentSynthesizer(**kw).fit(X, unlabelled=E)
    assert pooled.reconstruction_report(X_new)["variance_kept"] > kept["stopped"][1]


def test_the_vae_adam_updates_exactly_like_torch_adam():
    # the VAE's optimiser is written out (torch's imports torch._dynamo on its first step):
    # it must give torch.optim.Adam's weights, step for step, bit for bit
    from prefspace.synth.vae import _Adam

    def run(make_opt):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.GELU(), torch.nn.Linear(16, 3))
        opt = make_opt(net.parameters())
        x = torch.randn(64, 12, generator=torch.Generator().manual_seed(1))
        for _ in range(30):
            loss = ((net(x) - 1.0) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return [p.detach().clone() for p in net.parameters()]

    ours = run(lambda ps: _Adam(ps, lr=1e-2))
    theirs = run(lambda ps: torch.optim.Adam(ps, lr=1e-2))
    assert all(torch.equal(a, b) for a, b in zip(ours, theirs))
    assert not torch.equal(ours[0], run(lambda ps: _Adam(ps, lr=1e-3))[0])  # the rate matters


def test_heldout_pairs_are_the_ones_the_vae_never_trained_on(alpaca_pairs):
    X = alpaca_pairs[:60]
    syn = LatentSynthesizer(latent_dim=4, hidden_dim=32, max_steps=30, random_state=3).fit(X)
    held = syn.heldout_pairs_
    assert len(held) == 6 and len(set(held.tolist())) == 6 and held.max() < 60
    # the same seed holds out the same pairs; another seed others
    assert np.array_equal(
        LatentSynthesizer(latent_dim=4, hidden_dim=32, max_steps=30, random_state=3)
        .fit(X)
        .heldout_pairs_,
        held,
    )
    assert not np.array_equal(
        LatentSynthesizer(latent_dim=4, hidden_dim=32, max_steps=30, random_state=4)
        .fit(X)
        .heldout_pairs_,
        held,
    )
    assert (
        len(
            LatentSynthesizer(latent_dim=4, hidden_dim=32, max_steps=30, early_stopping=False)
            .fit(X)
            .heldout_pairs_
        )
        == 0
    )

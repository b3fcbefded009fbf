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
    loss = separation_loss(np.array([0.5, 2.0, 6.0]), 0.1, 4.0)
    np.testing.assert_allclose(loss, [-0.0125, -0.05, -0.1])
    # the gradient (negative below the margin: it pushes chosen and rejected apart, zero
    # beyond it) is checked with the whole loss's in test_hand_written_gradients_match_autograd


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
    kw = dict(latent_dim=8, hidden_dim=64, max_steps=400, random_state=0)
    full = LatentSynthesizer(early_stopping=False, **kw).fit(X)
    stopped = LatentSynthesizer(**kw).fit(X)
    assert full.train_terms_["steps"] == 400 and "heldout_recon" not in full.train_terms_
    # it stopped before the limit, and kept the weights of its best held-out step
    terms = stopped.train_terms_
    assert terms["best_step"] < terms["steps"] < 400 and 0 < terms["heldout_recon"] < 1.5
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


def test_the_vae_adam_updates_like_torch_adam():
    # the VAE's optimiser is written out in numpy: it must give torch.optim.Adam's weights,
    # step for step, to float32 rounding
    from prefspace.synth.vae import _Adam

    g = np.random.default_rng(0)
    start = {
        "w": g.normal(size=(16, 12)).astype(np.float32),
        "b": g.normal(size=16).astype(np.float32),
    }
    grads = [
        {k: g.normal(size=v.shape).astype(np.float32) for k, v in start.items()} for _ in range(30)
    ]
    ours = {k: v.copy() for k, v in start.items()}
    opt = _Adam(ours, lr=1e-2)
    theirs = {k: torch.tensor(v, requires_grad=True) for k, v in start.items()}
    topt = torch.optim.Adam(list(theirs.values()), lr=1e-2)
    for step in grads:
        opt.step(step)
        for k, p in theirs.items():
            p.grad = torch.from_numpy(step[k])
        topt.step()
    for k in start:
        np.testing.assert_allclose(ours[k], theirs[k].detach().numpy(), rtol=1e-5, atol=1e-6)
        assert not np.allclose(ours[k], start[k])  # it moved


def _autograd_loss(params, batch, cfg):
    """The VAE's loss written the way torch.nn would compute it (pairs and pool rows in two
    passes, as the module docstring states it), differentiated by autograd."""
    import torch.nn.functional as F

    P = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    k, b, dim = cfg.latent_dim, batch.n_pairs, cfg.dim

    def encode(x):
        out = F.gelu(x @ P["encoder.0.weight"].T + P["encoder.0.bias"])
        out = out @ P["encoder.2.weight"].T + P["encoder.2.bias"]
        mu, log_var = out[:, :k], out[:, k:].clamp(-12.0, 6.0)
        return mu, (0.5 * log_var).exp()

    def decode(z):
        out = F.gelu(z @ P["decoder.0.weight"].T + P["decoder.0.bias"])
        return out @ P["decoder.2.weight"].T + P["decoder.2.bias"]

    def terms(rows):
        x, e, eps = (torch.tensor(a[rows]) for a in (batch.x, batch.e, batch.eps))
        mu, std = encode(x)
        z = mu + std * eps
        if batch.cond is not None:
            z = torch.cat([z, torch.tensor(batch.cond[rows])], -1)
        recon = ((decode(z) - e) ** 2).mean(-1)
        kl = 0.5 * (mu**2 + std**2 - 1.0 - 2.0 * std.log()).sum(-1) / dim
        return mu, std, recon, kl

    mu, std, recon, kl = terms(slice(0, 2 * b))
    w2 = (((mu[0::2] - mu[1::2]) ** 2 + (std[0::2] - std[1::2]) ** 2).sum(-1) + 1e-12).sqrt()
    sep = -cfg.gamma * w2.clamp(max=cfg.margin) / cfg.margin
    pair_recon = recon.reshape(b, 2).sum(-1)
    loss = (pair_recon + cfg.beta * kl.reshape(b, 2).sum(-1) + sep).mean()
    if len(batch.x) > 2 * b:
        _, _, precon, pkl = terms(slice(2 * b, None))
        loss = loss + 2.0 * (precon + cfg.beta * pkl).mean()
    loss.backward()
    return float(loss.detach()), {key: p.grad.numpy() for key, p in P.items()}, w2.detach().numpy()


@pytest.mark.parametrize("cond_dim, n_pool", [(0, 0), (3, 5)])
def test_hand_written_gradients_match_autograd(cond_dim, n_pool):
    from prefspace.synth import vae as V

    g = np.random.default_rng(cond_dim)
    dim, k, b = 7, 3, 6
    cfg = V._Config(dim, cond_dim, k, 9, beta=0.7, gamma=0.3, margin=0.4, max_steps=1,
                    batch_size=b, learning_rate=1e-3, seed=0, eval_every=1, n_iter_no_change=1)  # fmt: skip
    params = V._init_weights(V._layer_shapes(dim, cond_dim, k, 9), g, dtype=np.float64)
    params["encoder.2.bias"][k:] = [8.0, 0.0, -14.0]  # one log-variance above, one below the clamp
    n = 2 * b + n_pool
    e = g.normal(size=(n, dim))
    cond = g.normal(size=(n, cond_dim)) if cond_dim else None
    weight = np.r_[np.full(2 * b, 1 / b), np.full(n_pool, 2 / max(n_pool, 1))]
    batch = V._Batch(V._join(e, cond), e, cond, g.normal(size=(n, k)), weight, b, 1 / b)
    terms, grads = V._loss_and_grads(V.VAE(params, k), batch, cfg)
    loss, expected, w2 = _autograd_loss(params, batch, cfg)
    assert (w2 > cfg.margin).any() and (w2 < cfg.margin).any()  # both sides of the margin
    assert terms["loss"] == pytest.approx(loss, rel=1e-6)
    assert set(grads) == set(expected)
    for key in expected:  # the erf approximation (1.5e-7) bounds the agreement
        np.testing.assert_allclose(grads[key], expected[key], rtol=1e-4, atol=1e-6, err_msg=key)


def test_the_numpy_vae_encodes_like_the_same_torch_modules():
    from prefspace.synth import vae as V

    dim, cond_dim, k, hidden = 6, 2, 3, 8
    torch.manual_seed(0)
    enc = torch.nn.Sequential(torch.nn.Linear(dim + cond_dim, hidden), torch.nn.GELU(),
                              torch.nn.Linear(hidden, 2 * k))  # fmt: skip
    dec = torch.nn.Sequential(torch.nn.Linear(k + cond_dim, hidden), torch.nn.GELU(),
                              torch.nn.Linear(hidden, dim))  # fmt: skip
    params = {f"encoder.{n}": v.detach().numpy() for n, v in enc.state_dict().items()}
    params |= {f"decoder.{n}": v.detach().numpy() for n, v in dec.state_dict().items()}
    assert {n: v.shape for n, v in params.items() if n.endswith("weight")} == {
        f"{n}.weight": s for n, s in V._layer_shapes(dim, cond_dim, k, hidden).items()
    }
    vae = V.VAE(params, k)
    e, c = np.random.default_rng(1).normal(size=(2, 5, 4, dim)).astype(np.float32)[0], None
    c = np.random.default_rng(2).normal(size=(5, 4, cond_dim)).astype(np.float32)
    mu, std = vae.encode(e, c)
    out = enc(torch.cat([torch.from_numpy(e), torch.from_numpy(c)], -1)).detach().numpy()
    np.testing.assert_allclose(mu, out[..., :k], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        std, np.exp(0.5 * np.clip(out[..., k:], -12, 6)), rtol=1e-4, atol=1e-5
    )
    back = dec(torch.cat([torch.from_numpy(mu), torch.from_numpy(c)], -1)).detach().numpy()
    np.testing.assert_allclose(vae.decode(mu, c), back, rtol=1e-4, atol=1e-5)


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


def test_fitting_and_sampling_lens_does_not_import_torch():
    # importing torch cost about a third of the fit's time on 1,000 pairs; the VAE is numpy only
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from prefspace.synth import LatentSynthesizer\n"
        "X = np.random.default_rng(0).normal(size=(40, 2, 12)).astype(np.float32)\n"
        "s = LatentSynthesizer(latent_dim=2, hidden_dim=8, max_steps=20).fit(X)\n"
        "assert s.sample(2).X.shape == (80, 2, 12)\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_halves_give_the_whole_batch_and_threads_do_not_change_the_fit(alpaca_pairs):
    from prefspace.synth import vae as V

    # a batch's two halves add up to the whole batch's loss and gradients ...
    g = np.random.default_rng(5)
    dim, k, b = 6, 2, 70
    cfg = V._Config(dim, 0, k, 8, beta=1.0, gamma=0.5, margin=0.8, max_steps=1,
                    batch_size=b, learning_rate=1e-3, seed=0, eval_every=1, n_iter_no_change=1)  # fmt: skip
    vae = V.VAE(V._init_weights(V._layer_shapes(dim, 0, k, 8), g, dtype=np.float64), k)
    n = 2 * b + 9
    e = g.normal(size=(n, dim))
    weight = np.r_[np.full(2 * b, 1 / b), np.full(9, 2 / 9)]
    batch = V._Batch(e, e, None, g.normal(size=(n, k)), weight, b, 1 / b)
    assert [h.n_pairs for h in batch.halves()] == [35, 35]
    whole_terms, whole = V._loss_and_grads(vae, batch, cfg)
    terms, grads = V._whole_step(vae, batch, cfg, None)
    assert terms["loss"] == pytest.approx(whole_terms["loss"], rel=1e-12)
    for key in whole:
        np.testing.assert_allclose(grads[key], whole[key], rtol=1e-10, atol=1e-12)
    # ... and two threads compute the same fit as one, bit for bit
    kw = dict(latent_dim=4, hidden_dim=32, max_steps=40, batch_size=128, random_state=2)
    one = LatentSynthesizer(n_jobs=1, **kw).fit(alpaca_pairs)
    two = LatentSynthesizer(n_jobs=2, **kw).fit(alpaca_pairs)
    for key, w in one.vae_.params.items():
        assert np.array_equal(w, two.vae_.params[key]), key
    assert np.array_equal(one.sample(2).X, two.sample(2).X)

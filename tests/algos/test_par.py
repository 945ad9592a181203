"""PAR (daftrl.algos.par): representation-deviation penalty, encoder schedule and learning, critic, loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cotrain_helpers import assert_resume_equals_no_stop, tiny
from daftrl.algos import method_spec
from daftrl.algos.mix import SACMix
from daftrl.algos.par import PAR, RECOMMENDED_BETA, PARConfig, avg_l1_norm
from daftrl.replay import Batch
from daftrl.rundir import RunDir

KEY = jax.random.PRNGKey(5)
SMALL = dict(encoder_hidden=(16, 16), latent_dim=8)
"""Encoder sizes for tests (the default 256-256-256 is needlessly slow here)."""


def batch(rng: np.random.Generator, n: int, A=None, B=None) -> Batch:
    """Transitions in a 3-d state, 1-d action space; with A, B the linear dynamics s' = A s + B a."""
    obs, act = rng.normal(size=(n, 3)), rng.uniform(-1, 1, (n, 1))
    next_obs = rng.normal(size=(n, 3)) if A is None else obs @ A.T + act @ B.T
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        obs, act, rng.normal(size=n), next_obs, (rng.random(n) < 0.2).astype(float))))


def np_mlp(params, x):
    """ELU MLP forward pass in float64 numpy from flax parameters {"params": {"Dense_i": ...}}."""
    layers = params["params"]
    for i in range(len(layers)):
        x = x @ np.asarray(layers[f"Dense_{i}"]["kernel"], np.float64) + np.asarray(layers[f"Dense_{i}"]["bias"])
        if i < len(layers) - 1:
            x = np.where(x > 0, x, np.expm1(x))
    return x


def np_deviation(encoder, b: Batch) -> np.ndarray:
    """d = mean_i (g([f(s), a]) - f(s'))_i^2 with f = AvgL1Norm(MLP), by hand."""
    f = lambda s: (z := np_mlp(encoder["f"], np.asarray(s, np.float64))) / np.maximum(  # noqa: E731
        np.abs(z).mean(-1, keepdims=True), 1e-8)
    pred = np_mlp(encoder["g"], np.concatenate([f(b.obs), np.asarray(b.act, np.float64)], axis=-1))
    return ((pred - f(b.next_obs)) ** 2).mean(-1)


def host_copy(tree):
    return jax.tree.map(np.array, tree)  # before a donating update


def changed(before, after) -> bool:
    return not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(before), jax.tree.leaves(after), strict=True))


# ---------------------------------------------------------------------- penalty


def test_avg_l1_norm_hand_computed():
    x = jnp.asarray([[1.0, -2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(avg_l1_norm(x), [[0.5, -1.0, 1.5], [0.0, 0.0, 0.0]])  # mean |x| = 2; 0/eps = 0


def test_penalty_hand_computed_with_the_target_encoder():
    """r~ = r - beta d with d from the *target* encoder: the online encoder is overwritten to show it is unused."""
    m = PAR(tiny(PARConfig(), beta=0.7, **SMALL), 3, 1)
    state = m.init(0)
    target = jax.tree.map(lambda x: x + 0.3 * jnp.sin(jnp.arange(x.size).reshape(x.shape)), state.extra["encoder"])
    online = jax.tree.map(jnp.zeros_like, state.extra["encoder"])
    state = state.replace(extra={**state.extra, "encoder": online, "encoder_target": target})
    src = batch(np.random.default_rng(0), 6)
    d = np_deviation(target, src)
    assert d.min() > 1e-3
    penalised, got_d = m.penalised_source(state, src)
    np.testing.assert_allclose(got_d, d, rtol=1e-5)
    np.testing.assert_allclose(penalised.rew, np.asarray(src.rew) - 0.7 * d, rtol=1e-5, atol=1e-6)
    for a, b in zip(penalised[:2] + penalised[3:], src[:2] + src[3:], strict=True):
        np.testing.assert_array_equal(a, b)  # only the reward changes


def test_task_default_is_the_recommended_beta_of_the_robot():
    spec = method_spec("par")
    assert spec.default_config("halfcheetah-gravity-0.5").beta == RECOMMENDED_BETA["halfcheetah"] == 5.0
    assert spec.default_config("hopper-gravity-0.5").beta == RECOMMENDED_BETA["hopper"]
    assert spec.default_config("Walker2d-v5").beta == RECOMMENDED_BETA["walker"]  # a Gymnasium id
    assert spec.default_config("not-a-task").beta == spec.default_config().beta == PARConfig().beta == 0.5


# ---------------------------------------------------------------------- critic


def test_critic_loss_is_sac_mix_on_the_penalised_source_batch():
    """beta = 0: exactly SAC-mix's critic loss; beta > 0: SAC-mix's on a source batch penalised by hand."""
    rng = np.random.default_rng(1)
    src, tar = batch(rng, 16), batch(rng, 16)
    for beta in (0.0, 2.5):
        m = PAR(tiny(PARConfig(), beta=beta, **SMALL), 3, 1)
        mix = SACMix(m.method_config, 3, 1)
        state = m.init(0)
        d = np_deviation(state.extra["encoder_target"], src)
        loss, info = m.critic_loss(state.critic, state, tar, KEY, {"src": src})
        hand = src._replace(rew=src.rew - beta * jnp.asarray(d, jnp.float32))
        want = mix.critic_loss(state.critic, state, tar, KEY, {"src": hand})[0]
        np.testing.assert_allclose(loss, want, rtol=1e-5)
        np.testing.assert_allclose(info["par_distance"], d.mean(), rtol=1e-5)
        np.testing.assert_allclose(info["src_reward"], np.asarray(src.rew).mean() - beta * d.mean(), rtol=1e-4,
                                   atol=1e-6)
        plain = mix.critic_loss(state.critic, state, tar, KEY, {"src": src})[0]
        assert (loss == plain) == (beta == 0.0)
        np.testing.assert_allclose(m.actor_loss(state.actor, state, tar, KEY, {"src": src})[0],
                                   mix.actor_loss(state.actor, state, tar, KEY, {"src": src})[0], rtol=1e-6)


# ---------------------------------------------------------------------- encoder


def test_encoder_steps_only_every_k_and_target_encoder_every_update():
    """encoder_every 3: encoder steps on updates 0, 3, 6; the target encoder moves by Polyak on every update;
    one compilation."""
    rng = np.random.default_rng(2)
    m = PAR(tiny(PARConfig(), encoder_every=3, **SMALL), 3, 1)
    state = m.init(0)
    trained, losses = [], []
    for _ in range(8):
        enc, targ = host_copy(state.extra["encoder"]), host_copy(state.extra["encoder_target"])
        state, info = m.update(state, batch(rng, 16), {"src": batch(rng, 16)})
        trained.append(changed(enc, state.extra["encoder"]))
        want = jax.tree.map(lambda t, e: 0.995 * t + 0.005 * e, targ, host_copy(state.extra["encoder"]))
        for a, b in zip(jax.tree.leaves(state.extra["encoder_target"]), jax.tree.leaves(want), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
        assert changed(targ, state.extra["encoder_target"])
        losses.append(float(info["encoder_loss"]))
        assert {"par_distance", "src_reward", "encoder_loss", "critic_loss", "actor_loss"} <= set(info)
    assert [i for i, t in enumerate(trained) if t] == [0, 3, 6]
    assert losses[0] > 0 and losses[0] == losses[1] == losses[2] != losses[3]  # the last value is carried
    assert m.update._cache_size() == 1


def test_encoder_learns_target_dynamics_and_flags_source_transitions():
    """Linear target dynamics: the encoder loss falls, and source transitions (other dynamics) then deviate
    more than held-out target transitions."""
    rng = np.random.default_rng(3)
    A = np.array([[0.9, 0.2, 0.0], [-0.2, 0.9, 0.1], [0.0, 0.3, 0.8]])
    B = np.array([[0.5], [0.0], [-0.5]])
    data = batch(rng, 256, A, B)
    m = PAR(tiny(PARConfig(), encoder_every=1, encoder_lr=1e-3, **SMALL), 3, 1)
    state = m.init(0)
    before = float(m.encoder_loss(state.extra["encoder"], data))
    idx = rng.integers(0, 256, (1000, 16))
    stack = Batch(*(x[idx] for x in data))
    state, info = m.update_many(state, stack, {"src": stack})
    after = float(m.encoder_loss(state.extra["encoder"], data))
    assert after < 0.1 * before, (before, after)
    held_out_tar, src = batch(rng, 256, A, B), batch(rng, 256, A + 0.5 * np.eye(3), -B)
    d_tar = np.asarray(m.deviation(state.extra["encoder"], held_out_tar))
    d_src = np.asarray(m.deviation(state.extra["encoder"], src))
    assert d_src.mean() > 3 * d_tar.mean(), (d_src.mean(), d_tar.mean())


# ---------------------------------------------------------------------- loop


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_cotrain_logs_par_metrics_and_resume_equals_no_stop(tmp_path):
    cfg = tiny(PARConfig(), beta=1.0, encoder_every=5, **SMALL)
    assert_resume_equals_no_stop(tmp_path, "par", cfg)
    rows = [r for r in RunDir(tmp_path / "straight").rows("train") if "critic_loss" in r]  # once updates run
    assert rows and all(np.isfinite(r[k]) for r in rows for k in ("par_distance", "encoder_loss", "src_reward"))
    assert rows[-1]["encoder_loss"] > 0 and rows[-1]["par_distance"] > 0

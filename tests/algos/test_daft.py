"""DAFT: loss identities, frozen source critic, beta schedule, ensemble initialisation."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import random_expert
from daftrl.algos import DAFT, FT, DAFTConfig, FTConfig
from daftrl.algos.beta import BetaSchedule
from daftrl.replay import Batch


def target_batch(n=16, obs_dim=3, act_dim=1, seed=1):
    rng = np.random.default_rng(seed)
    return Batch(rng.normal(size=(n, obs_dim)).astype(np.float32), rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                 rng.normal(size=n).astype(np.float32), rng.normal(size=(n, obs_dim)).astype(np.float32),
                 np.zeros(n, np.float32))


def aux(beta, n_src=40, obs_dim=3, seed=2):
    rng = np.random.default_rng(seed)
    return {"beta": np.float32(beta), "src_obs": rng.normal(size=(n_src, obs_dim)).astype(np.float32),
            "src_w": np.ones(n_src, np.float32)}


@pytest.fixture
def expert():
    return random_expert()


def test_without_source_states_daft_actor_loss_is_sac(expert):
    daft = DAFT(DAFTConfig(omega=0.0), expert)  # no ensemble noise: the critics equal FT's
    ft = FT(FTConfig(), expert)
    s_daft, s_ft = daft.init_from_expert(expert, 0), ft.init_from_expert(expert, 0)
    key = jax.random.PRNGKey(4)
    batch = target_batch()
    empty = {"beta": np.float32(1.0), "src_obs": np.zeros((0, 3), np.float32), "src_w": np.zeros(0, np.float32)}
    loss_daft, _ = daft.actor_loss(s_daft.actor, s_daft, batch, key, empty)
    loss_ft, _ = ft.actor_loss(s_ft.actor, s_ft, batch, key)
    assert float(loss_daft) == pytest.approx(float(loss_ft), rel=1e-6)


def test_beta_zero_removes_the_source_term_and_its_gradient(expert):
    daft = DAFT(DAFTConfig(), expert)
    state = daft.init_from_expert(expert, 0)
    key, batch = jax.random.PRNGKey(4), target_batch()
    grad = jax.grad(lambda a, x: daft.actor_loss(a, state, batch, key, x)[0])
    loss0, info0 = daft.actor_loss(state.actor, state, batch, key, aux(0.0))
    assert float(loss0) == pytest.approx(float(info0["actor_loss_tar"]), rel=1e-6)
    other = aux(0.0, seed=9)  # different source states: no effect when beta = 0
    for g1, g2 in zip(jax.tree.leaves(grad(state.actor, aux(0.0))), jax.tree.leaves(grad(state.actor, other)),
                      strict=True):
        np.testing.assert_allclose(g1, g2, rtol=1e-5, atol=1e-7)
    # beta = 1: loss = target term + mean source term
    loss1, info1 = daft.actor_loss(state.actor, state, batch, key, aux(1.0))
    assert float(loss1) == pytest.approx(float(info1["actor_loss_tar"] + info1["actor_loss_src"]), rel=1e-5)


def test_source_critic_is_frozen_and_source_term_only_moves_the_actor(expert):
    daft = DAFT(DAFTConfig(num_members=3), expert)
    batch = target_batch()
    s1 = daft.init_from_expert(expert, 0)
    s2 = daft.init_from_expert(expert, 0)
    q_src_before = jax.tree.map(np.asarray, s1.extra["q_src"])
    s1, _ = daft.update(s1, batch, aux(1.0, seed=2))
    s2, _ = daft.update(s2, batch, aux(1.0, seed=7))  # other source states
    for a, b in zip(jax.tree.leaves(q_src_before), jax.tree.leaves(s1.extra["q_src"]), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(jax.tree.leaves(s1.critic), jax.tree.leaves(s2.critic), strict=True):
        np.testing.assert_array_equal(a, b)  # critics never see the source term
    assert any(not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(s1.actor), jax.tree.leaves(s2.actor),
                                                        strict=True))


def test_beta_schedule_values():
    counters = {"episodes": 100, "env_steps": 5500, "updates": 3}
    assert BetaSchedule().beta(counters) == pytest.approx(0.99**100)  # per episode (default)
    assert BetaSchedule(beta_decay_unit="env_steps", beta_decay_period=1000).beta(counters) == pytest.approx(0.99**5)
    assert BetaSchedule(beta_decay_unit="env_step").beta(counters) == pytest.approx(0.99**5500)
    assert BetaSchedule(beta0=2.0, kappa=0.5, beta_decay_unit="grad_step").beta(counters) == pytest.approx(0.25)
    assert BetaSchedule(beta_min=0.5).beta(counters) == 0.5
    assert BetaSchedule().beta({"episodes": 0, "env_steps": 0, "updates": 0}) == 1.0


@pytest.mark.parametrize("kind,omega,expected_std", [("variance", 1e-4, 1e-2), ("std", 1e-3, 1e-3)])
def test_ensemble_initial_spread_matches_omega(kind, omega, expected_std):
    expert = random_expert(hidden=(64, 64))  # ~5k parameters per member: the std estimate is within ~1%
    daft = DAFT(DAFTConfig(num_members=5, omega=omega, omega_kind=kind), expert)
    critic = daft.init_from_expert(expert, 0).critic
    for member, src in ((i, i % 2) for i in range(5)):
        noise = np.concatenate([np.ravel(np.asarray(m)[member] - np.asarray(s)[src])
                                for m, s in zip(jax.tree.leaves(critic), jax.tree.leaves(expert.critic), strict=True)])
        assert noise.std() == pytest.approx(expected_std, rel=0.04)
        assert abs(noise.mean()) < 5 * expected_std / np.sqrt(noise.size)


def test_output_noise_touches_only_the_output_bias(expert):
    """noise_on="output": every member differs from its source critic (member i copies expert member i % 2)
    in the output layer's bias and nowhere else (not the output kernel, not a hidden layer)."""
    daft = DAFT(DAFTConfig(num_members=4, noise_on="output", omega=1.0), expert)
    critic = daft.init_from_expert(expert, 0).critic
    leaves = list(zip(jax.tree_util.tree_flatten_with_path(critic)[0], jax.tree.leaves(expert.critic), strict=True))
    for member in range(4):
        changed = {jax.tree_util.keystr(p) for (p, m), s in leaves
                   if not np.array_equal(np.asarray(m)[member], np.asarray(s)[member % 2])}
        assert changed == {"['params']['VmapMLP_0']['Dense_2']['bias']"}, (member, changed)


def test_adaptive_beta_uses_ensemble_variance(expert):
    cfg = DAFTConfig(num_members=4, omega=1.0, omega_kind="std", beta_mode="adaptive", sigma2_src=1e9)
    daft = DAFT(cfg, expert)
    state = daft.init_from_expert(expert, 0)
    _, info = daft.actor_loss(state.actor, state, target_batch(), jax.random.PRNGKey(0), aux(1.0))
    assert 0.0 < float(info["beta"]) < 1e-3  # huge sigma2_src: trust the (noisy) target ensemble
    daft = DAFT(dataclasses.replace(cfg, sigma2_src=1e-9), expert)
    _, info = daft.actor_loss(state.actor, state, target_batch(), jax.random.PRNGKey(0), aux(1.0))
    assert float(info["beta"]) == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize("changes, message", [
    (dict(beta_mode="adaptive", num_members=1), "num_members >= 2"),
    (dict(beta_mode="schedule*adaptive", sigma2_src=0.0), "sigma2_src > 0"),
    (dict(horizon=0), "horizon must be >= 1"),
])
def test_settings_that_would_silently_break_the_source_term_are_refused(expert, changes, message):
    with pytest.raises(ValueError, match=message):
        DAFT(DAFTConfig(**changes), expert)
    DAFT(DAFTConfig(num_members=1), expert)  # one member is fine with the scheduled beta


def test_h_step_bootstrap_target_by_hand(expert):
    daft = DAFT(DAFTConfig(horizon=3, horizon_mode="bootstrap", gamma=0.5), expert)
    state = daft.init_from_expert(expert, 0)
    rng = np.random.default_rng(0)
    seg = Batch(rng.normal(size=(2, 3, 3)).astype(np.float32), rng.uniform(-1, 1, (2, 3, 1)).astype(np.float32),
                np.array([[1.0, 2.0, 4.0], [1.0, 2.0, 4.0]], np.float32), rng.normal(size=(2, 3, 3)).astype(np.float32),
                np.array([[0, 0, 0], [0, 1, 0]], np.float32))
    alive = np.array([[1, 1, 1], [1, 1, 0]], np.float32)  # segment 2 ends (terminated) at its second step
    key = jax.random.PRNGKey(0)
    y = np.asarray(daft.h_step_source_target(state, seg, alive, key))
    a, logp = daft.policy(state.actor, jnp.asarray(seg.next_obs[0, 2])[None], key)
    a2, logp2 = daft.policy(state.actor, jnp.asarray(np.stack([seg.next_obs[0, 2], seg.next_obs[1, 1]])), key)
    v = np.asarray(daft.q_src(state, np.stack([seg.next_obs[0, 2], seg.next_obs[1, 1]]), a2) - 0.2 * logp2)
    assert y[0] == pytest.approx(1 + 0.5 * 2 + 0.25 * 4 + 0.125 * v[0], rel=1e-5)
    assert y[1] == pytest.approx(1 + 0.5 * 2, rel=1e-6)  # terminated: no bootstrap
    del a, logp


@pytest.mark.parametrize("wrapped", [False, True])
def test_device_sampled_source_segments_are_consecutive_with_the_alive_mask(wrapped):
    """Source states are drawn inside the jitted update from a device copy of D_src: each segment is H
    consecutive transitions in insertion order (also across the ring buffer's wrap-around), weighted by
    the same alive mask as ReplayBuffer.sample_segments."""
    from daftrl.replay import ReplayBuffer

    H, cap = 4, 30
    buf = ReplayBuffer(1, 1, cap)
    n_add = 45 if wrapped else 30
    t = np.arange(n_add, dtype=np.float32)
    ends = (t % 7 == 6).astype(np.float32)  # an episode ends every 7 transitions
    buf.add_many(obs=t[:, None], act=np.zeros((n_add, 1)), rew=np.zeros(n_add), next_obs=t[:, None] + 1,
                 terminated=ends * (t % 2 == 0), truncated=ends * (t % 2 == 1))
    m = DAFT(DAFTConfig(horizon=H, src_batch_size=64), random_expert(obs_dim=1, act_dim=1))
    table = m.source_table(buf)
    assert table is m.source_table(buf)  # built once per buffer state
    obs, w = jax.jit(m.source_states)({"src_table": table}, jax.random.PRNGKey(3))
    obs, w = np.asarray(obs).reshape(64, H), np.asarray(w).reshape(64, H)
    first = n_add - cap
    for seg, alive in zip(obs, w, strict=True):
        assert first <= seg[0] <= n_add - H and np.array_equal(np.diff(seg), np.ones(H - 1))
        ended_before = np.cumsum(seg % 7 == 6) - (seg % 7 == 6)
        np.testing.assert_array_equal(alive, (ended_before == 0).astype(np.float32))
    assert len(set(obs[:, 0].tolist())) > 10  # starts are spread over the buffer

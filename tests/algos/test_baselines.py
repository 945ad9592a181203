"""SGFT shaping, the two ablations, FT initialisation: hand-computed cases."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_daft import target_batch

from conftest import random_expert
from daftrl.algos import (
    FT,
    SGFT,
    FTConfig,
    RewardShaping,
    RewardShapingConfig,
    SGFTConfig,
    SingleCritic,
    SingleCriticConfig,
)
from daftrl.algos.ablations import q_gap_penalty
from daftrl.algos.sgft import shaped_reward


@pytest.fixture
def expert():
    return random_expert()


def test_sgft_shaping_telescopes_over_an_episode():
    rng = np.random.default_rng(0)
    T, gamma = 50, 0.97
    r, v = rng.normal(size=T), rng.normal(size=T + 1)  # V at s_0..s_T
    for terminal in (False, True):
        d = np.zeros(T)
        d[-1] = float(terminal)
        shaped = shaped_reward(r, d, v[:-1], v[1:], gamma)
        disc = gamma ** np.arange(T)
        expected = np.sum(disc * r) - v[0] + (0.0 if terminal else gamma**T * v[T])
        assert np.sum(disc * shaped) == pytest.approx(expected, rel=1e-9)


def test_sgft_h1_target_is_reward_plus_source_value(expert):
    sgft = SGFT(SGFTConfig(horizon=1), expert)
    state = sgft.init_from_expert(expert, 0)
    batch = target_batch()
    batch = batch._replace(terminated=np.array([1.0] + [0.0] * 15, np.float32))
    y = np.asarray(sgft.td_target(state, batch, jax.random.PRNGKey(0)))
    act = jnp.tanh(sgft.src_actor_net.apply(expert.actor, batch.next_obs)[0])
    v_next = np.asarray(sgft.src_critic_net.apply(expert.critic, batch.next_obs, act).min(0))
    np.testing.assert_allclose(y, batch.rew + 0.99 * (1 - batch.terminated) * v_next, rtol=1e-5, atol=1e-6)


def test_sgft_horizon_sets_discount(expert):
    assert SGFT(SGFTConfig(horizon=float("inf")), expert).gamma_h == 0.99
    assert SGFT(SGFTConfig(horizon=10), expert).gamma_h == pytest.approx(0.99 * 0.9)
    assert SGFT(SGFTConfig(horizon=1), expert).gamma_h == 0.0
    with pytest.raises(ValueError):
        SGFT(SGFTConfig(horizon=0.5), expert)


def test_sgft_finite_horizon_target_bootstraps_with_v_sim_when_the_horizon_ends(expert):
    """H > 1: y = r + (1 - d) [(gamma - gamma_H) V_sim(s') + gamma_H (min Q'(s', a') - alpha log pi(a'|s'))]."""
    sgft = SGFT(SGFTConfig(horizon=5), expert)
    state = sgft.init_from_expert(expert, 0)
    batch = target_batch()._replace(terminated=np.array([1.0] + [0.0] * 15, np.float32))
    key = jax.random.PRNGKey(3)
    y = np.asarray(sgft.td_target(state, batch, key))
    v_next = np.asarray(sgft.v_sim(state, batch.next_obs))
    next_act, next_logp = sgft.policy(state.actor, batch.next_obs, key)
    soft_next = np.asarray(sgft.critic_net.apply(state.target_critic, batch.next_obs, next_act).min(0)
                           - jnp.exp(state.log_alpha) * next_logp)
    g, gh = 0.99, 0.99 * 0.8
    expected = batch.rew + (1 - batch.terminated) * ((g - gh) * v_next + gh * soft_next)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert np.abs(v_next).max() > 1e-3 and not np.allclose(y, np.asarray(FT(FTConfig(), expert).td_target(
        state, batch, key)), atol=1e-3)  # V_sim matters: not FT's target


def test_sgft_finite_horizon_is_the_shaped_return_at_the_learners_discount_and_depends_on_v_sim():
    """On a deterministic chain, the fixed point of the SGFT target (H > 1) is V_sim(s_0) plus the shaped return
    (potential at gamma) discounted at gamma_H, so V_sim changes what is optimised; with the potential at gamma_H
    (the reading this replaced) V_sim would drop out of every return but the constant -V_sim(s_0)."""
    rng = np.random.default_rng(1)
    T, g, H = 40, 0.99, 5
    gh = g * (1 - 1 / H)
    r, v = rng.normal(size=T), rng.normal(size=T + 1)  # rewards, V_sim(s_0..s_T); s_T terminal
    q = np.zeros(T + 1)
    for t in reversed(range(T)):  # the SGFT target's fixed point (alpha = 0), backwards
        alive = 0.0 if t == T - 1 else 1.0
        q[t] = r[t] + alive * ((g - gh) * v[t + 1] + gh * q[t + 1])
    d = np.zeros(T)
    d[-1] = 1.0
    shaped = shaped_reward(r, d, v[:-1], v[1:], g)
    assert q[0] == pytest.approx(v[0] + np.sum(gh ** np.arange(T) * shaped), rel=1e-9)
    v2 = v + rng.normal(size=T + 1)
    q2 = np.zeros(T + 1)
    for t in reversed(range(T)):
        q2[t] = r[t] + (0.0 if t == T - 1 else 1.0) * ((g - gh) * v2[t + 1] + gh * q2[t + 1])
    assert abs(q2[0] - q[0]) > 1e-3  # another V_sim, another value of the same trajectory
    same_discount = shaped_reward(r, d, v[:-1], v[1:], gh)
    assert np.sum(gh ** np.arange(T) * same_discount) == pytest.approx(np.sum(gh ** np.arange(T) * r) - v[0])


def test_reward_shaping_penalty_and_target(expert):
    np.testing.assert_allclose(q_gap_penalty(jnp.array([1.0, 5.0]), jnp.array([3.0, 2.0]), 0.5), [1.0, 1.5])
    method = RewardShaping(RewardShapingConfig(), expert)
    state = method.init_from_expert(expert, 0)
    batch = target_batch()
    # initially Q_tar = Q*_src, so the penalty is zero and the target equals FT's
    ft = FT(FTConfig(), expert)
    key = jax.random.PRNGKey(1)
    np.testing.assert_allclose(method.td_target(state, batch, key),
                               ft.td_target(ft.init_from_expert(expert, 0), batch, key), rtol=1e-6)
    moved = state.replace(critic=jax.tree.map(lambda x: x + 0.1, state.critic))
    assert np.all(np.asarray(method.td_target(moved, batch, key)) < np.asarray(ft.td_target(moved, batch, key)))


def test_single_critic_loss_adds_beta_weighted_source_td(expert):
    method = SingleCritic(SingleCriticConfig(), expert)
    state = method.init_from_expert(expert, 0)
    tar, src = target_batch(seed=1), target_batch(seed=2)
    key = jax.random.PRNGKey(0)
    k_tar, k_src = jax.random.split(key)
    total, info = method.critic_loss(state.critic, state, tar, key, {"beta": np.float32(0.3), "src": src})
    l_tar, _ = FT.critic_loss(method, state.critic, state, tar, k_tar)
    l_src, _ = FT.critic_loss(method, state.critic, state, src, k_src)
    assert float(total) == pytest.approx(float(l_tar) + 0.3 * float(l_src), rel=1e-5)


def test_ft_starts_from_the_expert_with_fresh_optimisers(expert):
    expert = dataclasses.replace(expert, log_alpha=float(np.log(0.05)))  # not the 0.2 default: must be taken over
    ft = FT(FTConfig(), expert)
    state = ft.init_from_expert(expert, 0)
    for name, source in (("actor", expert.actor), ("critic", expert.critic), ("target_critic", expert.critic)):
        for a, b in zip(jax.tree.leaves(getattr(state, name)), jax.tree.leaves(source), strict=True):
            np.testing.assert_array_equal(a, b, err_msg=name)
    assert int(state.actor_opt[0].count) == 0
    assert float(jnp.exp(state.log_alpha)) == pytest.approx(0.05)
    # an explicit --alpha overrides the expert's temperature
    state = FT(FTConfig(alpha=0.1), expert).init_from_expert(expert, 0)
    assert float(jnp.exp(state.log_alpha)) == pytest.approx(0.1)

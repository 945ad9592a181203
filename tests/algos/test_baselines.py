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
    assert SGFT(SGFTConfig(horizon=10), expert).gamma_h == pytest.approx(0.9)
    with pytest.raises(ValueError):
        SGFT(SGFTConfig(horizon=0.5), expert)


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

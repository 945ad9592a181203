"""CQL(H) (daftrl.algos.cql): the conservative term against hand computations, its effect on Q, the Lagrange
multiplier, the behaviour-cloning warm-up and determinism."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from daftrl.algos.cql import CQL, CQLConfig
from daftrl.nn import tanh_gaussian_log_prob
from daftrl.offline import device_dataset, learner
from daftrl.replay import Batch, ReplayBuffer
from daftrl.sac import SAC, copy_tree

OBS, ACT = 3, 2
SMALL = CQLConfig(hidden=(32, 32), batch_size=64, actor_lr=1e-3, critic_lr=1e-3, num_actions=4)
KEY = jax.random.PRNGKey(7)


def data_action(obs: np.ndarray) -> np.ndarray:
    """The behaviour policy of the synthetic data: a deterministic, narrow function of the state."""
    return np.stack([0.8 * np.tanh(2 * obs[:, 0]), -0.5 * np.ones(len(obs))], axis=1).astype(np.float32)


def synthetic_buffer(n: int = 2000, seed: int = 0) -> ReplayBuffer:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, OBS)).astype(np.float32)
    buf = ReplayBuffer(OBS, ACT, n)
    buf.add_many(obs=obs, act=data_action(obs), rew=rng.normal(size=n), next_obs=rng.normal(size=(n, OBS)),
                 terminated=(rng.random(n) < 0.05).astype(float), truncated=np.zeros(n))
    return buf


DATA = device_dataset(synthetic_buffer())


def batch_of(n: int = 16, seed: int = 1) -> Batch:
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(n, OBS)).astype(np.float32)
    return Batch(jnp.asarray(obs), jnp.asarray(data_action(obs)), jnp.asarray(rng.normal(size=n), jnp.float32),
                 jnp.asarray(rng.normal(size=(n, OBS)), jnp.float32), jnp.zeros(n, jnp.float32))


TRAIN = dataclasses.replace(SMALL, policy_eval_start=300)
"""The config of the training tests (one compiled program shared through `learner`)."""


def train(config: CQLConfig, updates: int, seed: int = 0):
    cql, run = learner(CQL, config, OBS, ACT)
    state, _ = run(cql.init(seed), DATA, updates)
    return cql, state


def constant_critic(critic, value: float):
    """The critic with a zero output kernel and output bias `value`: Q = value for every state and action."""
    params = jax.tree_util.tree_map_with_path(lambda p, x: jnp.zeros_like(x) if "Dense_2" in jax.tree_util.keystr(p)
                                              else x, critic)
    last = params["params"]["VmapMLP_0"]["Dense_2"]
    last["bias"] = jnp.full_like(last["bias"], value)
    return params


# --------------------------------------------------------------------------- the penalty by hand
def test_proposals_and_their_log_densities():
    cql = CQL(SMALL, OBS, ACT)
    state, batch = cql.init(0), batch_of()
    actions, log_density = cql.ood_actions(state, batch, KEY)
    n, b = SMALL.num_actions, 16
    assert actions.shape == (3 * n, b, ACT) and log_density.shape == (3 * n, b)
    assert np.all(np.abs(actions) <= 1)
    np.testing.assert_allclose(log_density[:n], ACT * np.log(0.5))  # Unif[-1, 1]^|A|
    for part, obs in ((slice(n, 2 * n), batch.obs), (slice(2 * n, 3 * n), batch.next_obs)):  # pi(.|s), pi(.|s')
        mean, log_std = cql.actor_net.apply(state.actor, obs)
        u = jnp.arctanh(jnp.clip(actions[part], -1 + 1e-6, 1 - 1e-6))
        np.testing.assert_allclose(log_density[part], tanh_gaussian_log_prob(u, mean, log_std), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("importance_sample", [True, False])
def test_gap_is_the_log_sum_exp_minus_the_data_value(importance_sample):
    cfg = dataclasses.replace(SMALL, importance_sample=importance_sample, cql_temperature=0.7)
    cql = CQL(cfg, OBS, ACT)
    state, batch = cql.init(0), batch_of()
    actions, log_density = cql.ood_actions(state, batch, KEY)
    q_data, gap = cql.conservative_gap(state.critic, batch.obs, batch.act, actions, log_density)
    # by hand: every proposal through the critic on its own, then numpy's log-sum-exp per member and state
    q_ood = np.stack([np.asarray(cql.critic_net.apply(state.critic, batch.obs, a)) for a in actions], axis=1)
    q_d = np.asarray(cql.critic_net.apply(state.critic, batch.obs, batch.act))
    terms = q_ood - np.asarray(log_density)[None] if importance_sample else np.concatenate([q_d[:, None], q_ood], 1)
    t = 0.7
    m = terms.max(axis=1, keepdims=True)
    lse = t * (np.log(np.exp((terms - m) / t).sum(axis=1)) + m[:, 0] / t)
    np.testing.assert_allclose(q_data, q_d, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(gap, (lse - q_d).mean(axis=1), rtol=1e-5, atol=1e-5)


def test_gap_of_a_constant_critic():
    """Q = c everywhere: without importance sampling the gap is log(3N + 1) (3N proposals and the data action);
    with it, log sum_k exp(-log density_k), whatever c."""
    for importance_sample in (False, True):
        cql = CQL(dataclasses.replace(SMALL, importance_sample=importance_sample), OBS, ACT)
        state, batch = cql.init(0), batch_of()
        actions, log_density = cql.ood_actions(state, batch, KEY)
        critic = constant_critic(state.critic, 3.5)
        q_data, gap = cql.conservative_gap(critic, batch.obs, batch.act, actions, log_density)
        np.testing.assert_allclose(q_data, 3.5)
        if importance_sample:
            want = np.mean(np.log(np.exp(-np.asarray(log_density, np.float64)).sum(axis=0)))
        else:
            want = np.log(3 * SMALL.num_actions + 1)
        np.testing.assert_allclose(gap, [want, want], rtol=1e-5)


def test_without_the_penalty_the_critic_loss_is_sac_with_the_chosen_backup():
    cql = CQL(dataclasses.replace(SMALL, alpha_cql=0.0, backup_entropy=True), OBS, ACT)
    sac = SAC(cql.config, OBS, ACT)
    state, batch = cql.init(0), batch_of()
    assert np.isclose(cql.critic_loss(state.critic, state, batch, KEY)[0], sac.critic_loss(state.critic, state, batch,
                                                                                          KEY)[0])
    # deterministic backup (the default): the target lacks - gamma (1 - d) alpha log pi(a'|s')
    det = CQL(SMALL, OBS, ACT)
    k_pi = jax.random.split(KEY)[0]
    _, next_log_prob = det.policy(state.actor, batch.next_obs, k_pi)
    diff = det.td_target(state, batch, KEY) - cql.td_target(state, batch, KEY)
    np.testing.assert_allclose(diff, SMALL.gamma * jnp.exp(state.log_alpha) * next_log_prob, rtol=1e-5, atol=1e-5)


def test_critic_loss_adds_alpha_cql_times_the_gaps():
    cql = CQL(SMALL, OBS, ACT)
    state, batch = cql.init(0), batch_of()
    loss, info = cql.critic_loss(state.critic, state, batch, KEY)
    actions, log_density = cql.ood_actions(state, batch, jax.random.fold_in(KEY, 0xC9))
    _, gap = cql.conservative_gap(state.critic, batch.obs, batch.act, actions, log_density)
    np.testing.assert_allclose(info["cql_loss"], SMALL.alpha_cql * gap.sum(), rtol=1e-5)
    np.testing.assert_allclose(loss, info["td_loss"] + info["cql_loss"], rtol=1e-6)


# --------------------------------------------------------------------------- behaviour
def q_gap_data_vs_uniform(cql: CQL, state, seed: int = 3) -> float:
    """mean over fresh states of min_j Q_j(s, a_data) - E_{a ~ Unif} min_j Q_j(s, a)."""
    rng = np.random.default_rng(seed)
    obs = rng.normal(size=(256, OBS)).astype(np.float32)
    q = lambda a: cql.critic_net.apply(state.critic, obs, a).min(0)  # noqa: E731
    uniform = np.mean([q(rng.uniform(-1, 1, (256, ACT)).astype(np.float32)) for _ in range(8)], axis=0)
    return float(np.mean(q(data_action(obs)) - uniform))


def test_penalty_pushes_q_down_on_actions_outside_the_data():
    """After the same updates on the same data, Q(s, a_data) - Q(s, a_uniform) is far larger with the CQL term than
    without it (alpha_cql = 0: plain SAC, which has no reason to rank unseen actions lower)."""
    gaps = {}
    for alpha_cql in (0.0, TRAIN.alpha_cql):
        cql, state = train(dataclasses.replace(TRAIN, alpha_cql=alpha_cql), 300)
        gaps[alpha_cql] = q_gap_data_vs_uniform(cql, state)
    assert gaps[TRAIN.alpha_cql] > 1.0 and gaps[TRAIN.alpha_cql] > gaps[0.0] + 1.0, gaps


def test_lagrange_multiplier_moves_towards_the_threshold():
    """alpha' grows while the gap exceeds target_action_gap and shrinks while it is below (the initial gap is about
    log(3N) + mean(-log density) = 4.4 here)."""
    cfg = dataclasses.replace(SMALL, lagrange=True, target_action_gap=1.0)
    cql = CQL(cfg, OBS, ACT)
    state, batch = cql.init(0), batch_of(64)
    step = jax.jit(cql.critic_step)
    infos = []
    for i in range(5):
        state, info = step(state, batch, jax.random.fold_in(KEY, i))
        infos.append(info)
    assert all(float(i["cql_gap"]) > cfg.target_action_gap for i in infos)
    assert float(state.extra["log_alpha_prime"]) > 4 * cfg.critic_lr  # Adam: about lr per step, upwards
    # the loss used alpha' before its step: 1 at the start, then the updated values
    assert float(infos[0]["alpha_prime"]) == 1.0 < float(infos[-1]["alpha_prime"])
    # below the threshold the multiplier's gradient points down
    for gap, sign in ((0.5, 1.0), (1.5, -1.0)):  # d loss / d log alpha' = -alpha_cql alpha' (gap - threshold)
        assert np.sign(float(jax.grad(cql.alpha_prime_loss)(jnp.float32(0.0), jnp.float32(gap)))) == sign


def test_warm_up_clones_the_data_actions():
    cql, state = train(TRAIN, 300)
    rng = np.random.default_rng(5)
    obs = rng.normal(size=(256, OBS)).astype(np.float32)
    err = lambda actor: float(np.abs(cql.mean_actions(actor, obs) - data_action(obs)).mean())  # noqa: E731
    assert err(state.actor) < 0.1 < err(cql.init(0).actor)


def test_warm_up_accepts_data_actions_on_the_bounds():
    cql = CQL(SMALL, OBS, ACT)
    state, batch = cql.init(0), batch_of()
    batch = batch._replace(act=jnp.sign(batch.act))  # every action at +-1
    loss, _ = cql.bc_actor_loss(state.actor, state, batch, KEY)
    assert np.isfinite(loss)


def test_update_is_deterministic_given_the_state():
    cql, run = learner(CQL, TRAIN, OBS, ACT)
    start = cql.init(3)
    a, _ = run(copy_tree(start), DATA, 5)
    b, _ = run(copy_tree(start), DATA, 5)
    c, _ = run(copy_tree(start), DATA, 2)
    c, _ = run(c, DATA, 3)  # the same 5 updates in two calls
    for x, y, z in zip(jax.tree.leaves(a), jax.tree.leaves(b), jax.tree.leaves(c), strict=True):
        np.testing.assert_array_equal(x, y)
        np.testing.assert_array_equal(x, z)
    assert int(a.step) == 5
    d, _ = run(cql.init(4), DATA, 5)
    assert not np.array_equal(jax.tree.leaves(a.actor)[0], jax.tree.leaves(d.actor)[0])


def test_config_errors():
    for changes, flag in (({"num_actions": 0}, "--num-actions"), ({"cql_temperature": 0.0}, "--cql-temperature"),
                          ({"alpha_cql": -1.0}, "--alpha-cql"), ({"policy_eval_start": -1}, "--policy-eval-start")):
        with pytest.raises(ValueError, match=flag):
            CQLConfig(**changes)

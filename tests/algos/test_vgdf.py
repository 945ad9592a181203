"""VGDF (daftrl.algos.vgdf) and its probabilistic dynamics ensemble (daftrl.algos.dynamics)."""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cotrain_helpers import assert_resume_equals_no_stop, tiny
from daftrl.algos import method_spec
from daftrl.algos.dynamics import ProbabilisticEnsemble, soft_clamp_logvar
from daftrl.algos.vgdf import VGDF, VGDFConfig, top_fraction_gate
from daftrl.replay import Batch
from daftrl.rundir import RunDir

OBS, ACT = 3, 1


def small(**changes) -> VGDFConfig:
    """Tiny nets and a 3-member model with 8-unit layers."""
    base = dict(model_members=3, model_elites=2, model_hidden=(8, 8), model_weight_decay=(2.5e-5, 5e-5, 1e-4),
                model_batch_size=32, model_max_epochs=20)
    return tiny(VGDFConfig(), **{**base, **changes})


def batch(rng, n: int) -> Batch:
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        rng.normal(size=(n, OBS)), rng.uniform(-1, 1, (n, ACT)), rng.normal(size=n), rng.normal(size=(n, OBS)),
        (rng.random(n) < 0.2).astype(float))))


KEY = jnp.asarray(np.array([0, 7], np.uint32))


# ---------------------------------------------------------------------- the gate
@pytest.mark.parametrize("b", [16, 128])
def test_gate_keeps_exactly_the_top_quarter(b):
    rng = np.random.default_rng(b)
    lam = rng.permutation(np.geomspace(1e-6, 3.0, b)).astype(np.float32)
    gate = np.asarray(top_fraction_gate(jnp.asarray(lam), 0.25, True))
    assert gate.sum() == b // 4
    assert set(np.flatnonzero(gate)) == set(np.argsort(lam)[-b // 4:])
    assert (np.asarray(top_fraction_gate(jnp.asarray(lam), 0.25, False)) == 1.0).all()


def test_gate_keeps_the_top_rows_when_densities_underflow_or_tie():
    # log Lambda of -inf (densities underflowed) made the interpolated quantile NaN, and the threshold then
    # kept no source row at all: the full-protocol run lost every source transition this way
    score = np.full(128, -np.inf, np.float32)
    score[[3, 50]] = [-1e3, -5.0]
    score[[7, 9]] = np.nan
    gate = np.asarray(top_fraction_gate(jnp.asarray(score), 0.25, True))
    assert gate.sum() == 32 and gate[3] == gate[50] == 1.0 and gate[7] == gate[9] == 0.0
    ties = np.asarray(top_fraction_gate(jnp.zeros(16, jnp.float32), 0.25, True))
    assert ties.sum() == 4
    assert np.asarray(top_fraction_gate(jnp.asarray(score), 1.0, True)).sum() == 128  # keep_ratio 1 keeps all
    late_nan = np.array([-np.inf] * 6 + [np.nan] * 2, np.float32)  # NaN rank below -inf wherever they sit
    assert np.asarray(top_fraction_gate(jnp.asarray(late_nan), 0.5, True)).tolist() == [1.0] * 4 + [0.0] * 4


@pytest.mark.parametrize("keep", [0.1, 0.2, 0.25, 0.5, 0.8, 0.9])
@pytest.mark.parametrize("b", [11, 16, 31, 128])
def test_gate_keeps_the_rows_above_the_interpolated_quantile(keep, b):
    score = np.random.default_rng(b).permutation(np.arange(b, dtype=np.float32))
    expected = (score > np.quantile(score, 1.0 - keep)).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(top_fraction_gate(jnp.asarray(score), keep, True)), expected)


@pytest.fixture(scope="module")
def vgdf():
    """One small VGDF (its compiled update is shared) whose gate switches on after 2 updates."""
    return VGDF(small(gate_start=2), OBS, ACT)


def test_gate_switches_on_at_gate_start(vgdf):
    state = vgdf.init(0)
    rng = np.random.default_rng(0)
    keep = []
    for _ in range(4):
        state, info = vgdf.update(state, batch(rng, 16), {"src": batch(rng, 16)})
        keep.append(float(info["vgdf_keep_frac"]))
    assert keep == [1.0, 1.0, 0.25, 0.25]


# ---------------------------------------------------------------------- the likelihood
def constant_model(m: VGDF, state, mean_out: np.ndarray, logvar_raw: np.ndarray):
    """Model whose members output constants: mean_out (M, 1 + obs) and raw log-variances (M, 1 + obs)."""
    params = jax.tree.map(jnp.zeros_like, state.extra["model"]["params"])
    params["min_logvar"] = state.extra["model"]["params"]["min_logvar"]
    params["max_logvar"] = state.extra["model"]["params"]["max_logvar"]
    params["layers"][-1]["b"] = jnp.asarray(np.concatenate([mean_out, logvar_raw], axis=1), jnp.float32)
    return {**state.extra["model"], "params": params}


def constant_critic(critic, values):
    """Critic ensemble whose members output constants `values` (all weights zero, output biases set)."""
    def leaf(path, x):
        if path[-1].key == "bias" and x.shape == (len(values), 1):
            return jnp.asarray(np.asarray(values, np.float32)[:, None])
        return jnp.zeros_like(x)
    return jax.tree_util.tree_map_with_path(leaf, critic)


@pytest.mark.parametrize("fictitious", ["mean", "mean_plus_var"])
def test_likelihood_matches_hand_computation(fictitious):
    m = VGDF(small(fictitious=fictitious, terminal="hopper", gamma=0.9), OBS, ACT)
    state = m.init(0)
    mean_out = np.array([[1.0, -0.1, 0.0, 0.0],    # member 0: r = 1, z - 0.1
                         [2.0, 0.0, 0.05, 0.0],    # member 1: r = 2, angle + 0.05
                         [0.5, -1.0, 0.0, 0.0]])   # member 2: z - 1: falls below 0.7 -> terminal
    raw = np.array([[-3.0] * 4, [0.0] * 4, [2.0] * 4])
    qbar = (4.0, 3.0)
    state = state.replace(target_critic=constant_critic(state.target_critic, qbar),
                          extra={**state.extra, "model": constant_model(m, state, mean_out, raw)})
    obs = np.array([[1.2, 0.0, 0.0], [1.5, 0.1, 0.3]], np.float32)  # healthy hopper-like (z, angle, ...)
    src = Batch(jnp.asarray(obs), jnp.zeros((2, ACT)), jnp.asarray([0.3, -0.2]), jnp.asarray(obs),
                jnp.asarray([0.0, 1.0]))
    y = np.array([0.3 + 0.9 * 3.0, -0.2])  # r + gamma (1 - d) min_j Qbar_j (Qbar is constant)
    gate, log_lam = jax.jit(m.source_filter)(state, src, jnp.asarray(y, jnp.float32), KEY)

    pred = mean_out.copy()
    if fictitious == "mean_plus_var":
        lv = np.asarray(soft_clamp_logvar(jnp.asarray(raw), jnp.asarray(-10.0), jnp.asarray(0.5)))
        sp = lambda x: np.log1p(np.exp(x))  # noqa: E731
        hand = -10.0 + sp((0.5 - sp(0.5 - raw)) + 10.0)
        np.testing.assert_allclose(lv, hand, rtol=1e-5)
        pred = pred + np.exp(hand)
    want = []
    for s, yy in zip(obs, y, strict=True):
        v = []
        for i in range(3):
            nxt = s + pred[i, 1:]
            healthy = nxt[0] > 0.7 and abs(nxt[1]) < 0.2 and np.all(np.abs(nxt[1:]) < 100)
            v.append(pred[i, 0] + 0.9 * healthy * min(qbar))
        mu, sd = np.mean(v), np.std(v, ddof=1) + 1e-8
        want.append(math.exp(-0.5 * ((yy - mu) / sd) ** 2) / (sd * math.sqrt(2 * math.pi)))
    np.testing.assert_allclose(np.exp(np.asarray(log_lam)), want, rtol=1e-4)
    assert np.asarray(gate).tolist() == [1.0, 1.0]  # before gate_start everything is kept


# ---------------------------------------------------------------------- the dynamics ensemble
def test_dynamics_ensemble_learns_linear_dynamics_and_stops_early():
    rng = np.random.default_rng(0)
    n = 1200
    s, a = rng.normal(size=(n, 3)), rng.uniform(-1, 1, (n, 1))
    A, B, c = rng.normal(size=(3, 3)) * 0.3, rng.normal(size=(1, 3)), rng.normal(size=3)
    delta = s @ A + a @ B + 0.01 * rng.normal(size=(n, 3))
    labels = np.concatenate([(s @ c)[:, None], delta], axis=1).astype(np.float32)
    inputs = np.concatenate([s, a], axis=1).astype(np.float32)
    model = ProbabilisticEnsemble(4, 4, members=3, hidden=(32, 32), weight_decay=(2.5e-5, 5e-5, 1e-4),
                                  num_elites=2)
    init = model.init(jax.random.PRNGKey(0))
    before = model.holdout_mse(init["params"], inputs, labels).mean()
    fitted, info = model.fit(init, inputs, labels, np.random.default_rng(1), batch_size=64,
                             max_epochs_since_update=1, max_epochs=500)
    assert info["holdout_mse"] < 0.02 * delta.var(axis=0).mean() and info["holdout_mse"] < 0.01 * before
    assert 2 < info["epochs"] < 500  # early stopping ended the fit, not the cap
    assert len(set(np.asarray(fitted["elites"]).tolist())) == 2
    np.testing.assert_allclose(fitted["in_mean"], inputs.mean(0), atol=0.1)  # standardiser fitted on the data
    # the same generator state gives the same model (resume equals no stop)
    again, info2 = model.fit(init, inputs, labels, np.random.default_rng(1), batch_size=64,
                             max_epochs_since_update=1, max_epochs=500)
    assert info2 == info
    for x, y in zip(jax.tree.leaves(fitted), jax.tree.leaves(again), strict=True):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("learn", [False, True])
def test_logvar_bounds_stay_fixed_unless_learnt(learn):
    # regression: the bound term 0.01 (sum max - sum min) still reached Adam when the bounds were meant to be
    # constants, walking min_logvar up and max_logvar down by ~lr per step; after ~1e5 model steps every
    # predicted log-variance sat near +106 and the means no longer learnt
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(400, 4)).astype(np.float32), rng.normal(size=(400, 4)).astype(np.float32)
    model = ProbabilisticEnsemble(4, 4, members=2, hidden=(16,), weight_decay=(2.5e-5, 1e-4), num_elites=1,
                                  learn_logvar_bounds=learn)
    init = model.init(jax.random.PRNGKey(0))
    fitted, _ = model.fit(init, x, y, rng, batch_size=32, max_epochs_since_update=0, max_epochs=20)
    moved = [not np.array_equal(fitted["params"][k], init["params"][k]) for k in ("min_logvar", "max_logvar")]
    assert moved == [learn, learn]
    _, logvar = model.predict(fitted, jnp.asarray(x))
    if not learn:
        assert float(logvar.max()) <= 0.5 + 1e-6 and float(logvar.min()) >= -10.0 - 1e-6


def test_patience_decays_with_steps():
    m = VGDF(small(), OBS, ACT)
    assert [m.model_patience(s) for s in (0, 149_999, 150_000, 600_000, 900_000)] == [5, 5, 4, 1, 0]


def test_min_model_steps_counts_the_fewest_epochs_early_stopping_allows():
    m = VGDF(small(model_every=100, model_batch_size=32, model_max_epochs=None, max_epochs_since_update=2,
                   patience_decay_every=250), OBS, ACT)
    # refits at 100..400 source steps see n = 50, 100, 150, 200 target rows; 10 % hold-out;
    # ceil(train / 32) = 2, 3, 5, 6 minibatches; patience 2, 2, 1, 1 -> 4, 4, 3, 3 epochs
    assert m.min_model_steps(400, target_every=2) == 2 * 4 + 3 * 4 + 5 * 3 + 6 * 3
    # and fit really never stops before patience + 2 epochs, even on labels with nothing to learn
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(200, OBS + ACT)).astype(np.float32), rng.normal(size=(200, OBS + 1)).astype(np.float32)
    model = m.dynamics
    _, info = model.fit(model.init(jax.random.PRNGKey(1)), x, y, rng, batch_size=32, max_epochs_since_update=1)
    assert info["epochs"] >= 3


# ---------------------------------------------------------------------- the two actors
def test_pessimistic_and_optimistic_actor_losses():
    m = VGDF(small(), OBS, ACT)
    state = m.init(0)
    rng = np.random.default_rng(0)
    tar, src = batch(rng, 8), batch(rng, 8)
    obs = jnp.concatenate([src.obs, tar.obs])
    for actor, loss_fn, agg in ((state.actor, m.actor_loss, np.min),
                                (state.extra["actor_e"], m.optimistic_actor_loss, np.max)):
        got = float(loss_fn(actor, state, tar, KEY, {"src": src})[0])
        act, log_prob = m.policy(actor, obs, KEY)
        q = np.asarray(m.critic_net.apply(state.critic, obs, act))
        assert np.abs(q[0] - q[1]).max() > 1e-3  # min and max differ
        assert np.isclose(got, np.mean(0.2 * np.asarray(log_prob) - agg(q, axis=0)), rtol=1e-5)
    assert m.behaviour_actor(state, "source") is state.extra["actor_e"]
    assert m.behaviour_actor(state, "target") is state.actor


def test_actors_change_only_every_policy_delay_updates(vgdf):
    m = vgdf
    state = m.init(1)
    rng = np.random.default_rng(0)
    changed = []
    leaves = lambda t: [np.asarray(x).copy() for x in jax.tree.leaves(t)]  # noqa: E731
    for _ in range(4):
        before = leaves((state.actor, state.extra["actor_e"], state.critic))
        state, _ = m.update(state, batch(rng, 16), {"src": batch(rng, 16)})
        after = leaves((state.actor, state.extra["actor_e"], state.critic))
        n_a, n_e = len(jax.tree.leaves(state.actor)), len(jax.tree.leaves(state.extra["actor_e"]))
        diff = [not np.array_equal(x, y) for x, y in zip(before, after, strict=True)]
        changed.append((any(diff[:n_a]), any(diff[n_a:n_a + n_e]), any(diff[n_a + n_e:])))
    assert changed == [(True, True, True), (False, False, True), (True, True, True), (False, False, True)]


# ---------------------------------------------------------------------- the loop
@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
def test_cotrain_smoke_and_resume_equals_no_stop(tmp_path):
    """200 source steps, updates from 76 on; the model refits at 100, 150 and 200 (the resume at 100 sits
    between refits) and the gate switches on after 50 updates."""
    cfg = dataclasses.replace(small(), model_every=50, gate_start=50)
    assert_resume_equals_no_stop(tmp_path, "vgdf", cfg)
    rows = {r["source_step"]: r for r in RunDir(tmp_path / "straight").rows("train")}
    assert rows[100]["vgdf_keep_frac"] == 1.0 and rows[150]["vgdf_keep_frac"] == 0.25
    assert rows[200]["vgdf_keep_frac"] == 0.25 and np.isfinite(rows[200]["lambda_mean"])
    assert "model_holdout_mse" not in rows[50] and np.isfinite(rows[150]["model_holdout_mse"])
    assert rows[200]["model_data"] == 40


# ---------------------------------------------------------------------- termination of fictitious states
@pytest.mark.parametrize("gym_id,robot", [("Hopper-v5", "hopper"), ("Walker2d-v5", "walker"), ("Ant-v5", "ant")])
def test_terminal_rules_match_the_gymnasium_envs(gym_id, robot):
    import gymnasium as gym

    from daftrl.algos.vgdf import TERMINAL_FNS

    kw = {"include_cfrc_ext_in_observation": False} if robot == "ant" else {}
    env = gym.make(gym_id, **kw)
    env.action_space.seed(0)
    obs, _ = env.reset(seed=0)
    fn = jax.jit(TERMINAL_FNS[robot])
    seen = []
    for _ in range(300):
        obs, _, terminated, truncated, _ = env.step(env.action_space.sample() * 3.0)
        assert float(fn(jnp.asarray(obs))) == float(terminated)
        seen.append(terminated)
        if terminated or truncated:
            obs, _ = env.reset()
    assert robot == "ant" or any(seen)
    spec = method_spec("vgdf")
    assert spec.default_config(f"{robot}-gravity-0.5").terminal == robot
    assert spec.default_config("halfcheetah-gravity-0.5").terminal == "halfcheetah"
    assert spec.default_config("not-a-task").terminal == spec.default_config().terminal == "none"

"""DARC and SAC-IW (daftrl.algos.darc): reward correction, classifiers, schedule, weighted critic, loop."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cotrain_helpers import assert_resume_equals_no_stop, tiny
from daftrl.algos.darc import DARC, SACIW, DARCConfig, SACIWConfig, classifier_inputs, delta_r
from daftrl.replay import Batch
from daftrl.rundir import RunDir
from daftrl.sac import SAC

KEY = jax.random.PRNGKey(3)


def batch(rng: np.random.Generator, n: int, shift: float = 0.0) -> Batch:
    """Random transitions in a 3-d state, 1-d action space; `shift` moves s' (a different dynamics)."""
    obs = rng.normal(size=(n, 3))
    next_obs = obs + 0.1 * rng.normal(size=(n, 3)) + shift
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        obs, rng.uniform(-1, 1, (n, 1)), rng.normal(size=n), next_obs, (rng.random(n) < 0.2).astype(float))))


def np_log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


def np_delta_r(sa_logits, sas_logits):
    sas, sa = np_log_softmax(sas_logits), np_log_softmax(sa_logits)
    return (sas[:, 1] - sas[:, 0]) - (sa[:, 1] - sa[:, 0])


def with_output_layer(params, hidden, sa=None, sas=None):
    """Classifier parameters with each given head's output layer replaced by {kernel, bias} (a function of
    the old kernel and bias)."""
    out = jax.tree.map(jnp.array, params)
    last = f"Dense_{len(hidden)}"
    for head, fn in (("sa", sa), ("sas", sas)):
        if fn is not None:
            layer = out["params"][head][last]
            out["params"][head][last] = dict(zip(("kernel", "bias"), fn(layer["kernel"], layer["bias"]),
                                                 strict=True))
    return out


def constant(logits):
    """Output layer giving the same logits for every input."""
    return lambda kernel, bias: (jnp.zeros_like(kernel), jnp.asarray(logits, jnp.float32))


# ---------------------------------------------------------------------- reward correction


def test_delta_r_is_the_log_softmax_difference():
    rng = np.random.default_rng(0)
    sa, sas = rng.normal(size=(6, 2)) * 3, rng.normal(size=(6, 2)) * 3
    np.testing.assert_allclose(delta_r(jnp.asarray(sa), jnp.asarray(sas)), np_delta_r(sa, sas), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("residual, want", [(False, 3.5), (True, 3.0)])
def test_darc_reward_correction_hand_computed(residual, want):
    """SA logits (0.3, -0.2), SAS head (-1, 2): dr = (2 + 1) - (-0.2 - 0.3) = 3.5 with independent heads;
    with the original residual head SAS = SA + head = (-0.7, 1.8), dr = 2.5 + 0.5 = 3.0."""
    hidden = (8,) if residual else (8, 8)
    cfg = tiny(DARCConfig(), warmup=0, delta_r_scale=0.5, classifier_hidden=hidden, classifier_residual=residual)
    m = DARC(cfg, 3, 1)
    state = m.init(0)
    params = with_output_layer(state.extra["classifier"], hidden, sa=constant([0.3, -0.2]), sas=constant([-1.0, 2.0]))
    state = state.replace(extra={**state.extra, "classifier": params})
    src = batch(np.random.default_rng(1), 5)
    np.testing.assert_allclose(m.delta_r(state, src), want, rtol=1e-5)
    corrected, dr = m.corrected_source(state, src)
    np.testing.assert_allclose(corrected.rew, np.asarray(src.rew) + 0.5 * want, rtol=1e-5)
    # before the warm-up ends the reward is untouched
    cold = DARC(tiny(cfg, warmup=10), 3, 1)
    corrected, dr = cold.corrected_source(state.replace(step=jnp.asarray(9, jnp.int32)), src)
    np.testing.assert_array_equal(corrected.rew, src.rew)
    assert np.all(np.asarray(dr) == 0)
    corrected, _ = cold.corrected_source(state.replace(step=jnp.asarray(10, jnp.int32)), src)
    np.testing.assert_allclose(corrected.rew, np.asarray(src.rew) + 0.5 * want, rtol=1e-5)


def test_darc_critic_uses_only_the_corrected_source_batch():
    """Critic: SAC's loss on the source batch with r + lambda dr; actor: SAC's on source states; the target
    batch (rewards included) does not enter either."""
    rng = np.random.default_rng(2)
    m = DARC(tiny(DARCConfig(), warmup=0, delta_r_scale=0.7), 3, 1)
    sac = SAC(m.config, 3, 1)
    state = m.init(0)
    src, tar = batch(rng, 16), batch(rng, 16)
    sa_logits, sas_logits = m.classifier_net.apply(state.extra["classifier"], *classifier_inputs(src))
    dr = np_delta_r(sa_logits, sas_logits)
    assert np.abs(dr).max() > 1e-3  # an untrained classifier still gives a non-trivial correction
    got = m.critic_loss(state.critic, state, tar, KEY, {"src": src})
    want = sac.critic_loss(state.critic, state, src._replace(rew=src.rew + 0.7 * jnp.asarray(dr, jnp.float32)), KEY)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1]["darc_delta_r"], dr.mean(), rtol=1e-4, atol=1e-6)
    other = tar._replace(rew=tar.rew + 100.0, obs=tar.obs * 3)
    assert m.critic_loss(state.critic, state, other, KEY, {"src": src})[0] == got[0]
    np.testing.assert_allclose(m.actor_loss(state.actor, state, tar, KEY, {"src": src})[0],
                               sac.actor_loss(state.actor, state, src, KEY)[0], rtol=1e-6)


# ---------------------------------------------------------------------- classifiers and schedule


def test_classifiers_learn_a_dynamics_shift():
    """Target = source with s' shifted by 5: q_SAS separates the domains (q_SA cannot), and dr is negative
    on source transitions and positive on target ones."""
    rng = np.random.default_rng(3)
    m = DARC(DARCConfig(batch_size=64, warmup=0, classifier_every=1), 3, 1)
    state = m.init(0)
    step = jax.jit(lambda s, src, tar, k: m.pre_update(s, tar, k, {"src": src}))
    for i in range(300):
        state, info = step(state, batch(rng, 64), batch(rng, 64, shift=5.0), jax.random.fold_in(KEY, i))
    assert float(info["classifier_acc"]) > 0.9  # on the noisy training batch
    src, tar = batch(rng, 256), batch(rng, 256, shift=5.0)
    dr_src, dr_tar = np.asarray(m.delta_r(state, src)), np.asarray(m.delta_r(state, tar))
    assert ((dr_src < 0).mean() + (dr_tar > 0).mean()) / 2 > 0.95
    sa_logits = m.classifier_net.apply(state.extra["classifier"], *classifier_inputs(src))[0]
    assert abs(float(jax.nn.softmax(sa_logits)[:, 1].mean()) - 0.5) < 0.15  # (s, a) carries no domain signal


def test_schedule_warmup_then_every_k_and_one_compilation():
    """warmup 6, every 4: no correction on updates 0-5, classifier steps exactly on updates 8 and 12."""
    rng = np.random.default_rng(4)
    m = DARC(tiny(DARCConfig(), warmup=6, classifier_every=4), 3, 1)
    state = m.init(0)
    trained, dr = [], []
    for step in range(15):
        before = [np.asarray(x) for x in jax.tree.leaves(state.extra["classifier"])]  # host copies (donation)
        state, info = m.update(state, batch(rng, 16, shift=1.0), {"src": batch(rng, 16)})
        after = jax.tree.leaves(state.extra["classifier"])
        trained.append(not all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)))
        dr.append(float(info["darc_delta_r"]))
        assert (float(info["classifier_loss"]) > 0) == (step >= 8)
    assert [s for s, t in enumerate(trained) if t] == [8, 12]
    assert all(d == 0 for d in dr[:6]) and all(d != 0 for d in dr[6:])
    assert m.update._cache_size() == 1


# ---------------------------------------------------------------------- SAC-IW


def test_sac_iw_weights_and_weighted_critic_loss():
    rng = np.random.default_rng(5)
    lo, hi = 1e-2, 1.0
    m = SACIW(tiny(SACIWConfig(), warmup=3, iw_clip=(lo, hi)), 3, 1)
    state = m.init(0).replace(step=jnp.asarray(3, jnp.int32))
    hidden = m.method_config.classifier_hidden
    params = with_output_layer(state.extra["classifier"], hidden, sas=lambda k, b: (30 * k, b))  # spread dr
    state = state.replace(extra={**state.extra, "classifier": params})
    src, tar = batch(rng, 64), batch(rng, 64)
    dr = np_delta_r(*m.classifier_net.apply(params, *classifier_inputs(src)))
    w_np = np.clip(np.exp(dr), lo, hi)
    assert (w_np == lo).any() and (w_np == hi).any() and ((w_np > lo) & (w_np < hi)).any()
    w, _ = m.source_weights(state, src)
    np.testing.assert_allclose(w, w_np, rtol=1e-4)
    # sum_j mean_B w (Q_j - y)^2 with y from the uncorrected source reward
    y = np.asarray(m.td_target(state, src, KEY))
    q = np.asarray(m.critic_net.apply(state.critic, src.obs, src.act))
    want = np.sum(np.mean(w_np[None] * (q - y[None]) ** 2, axis=-1))
    loss, info = m.critic_loss(state.critic, state, tar, KEY, {"src": src})
    np.testing.assert_allclose(loss, want, rtol=1e-4)
    np.testing.assert_allclose(info["iw_mean"], w_np.mean(), rtol=1e-4)
    # the critic's gradient is that of sum_j mean_B w (Q_j - y)^2 with w and y held constant
    grads = jax.grad(lambda c: m.critic_loss(c, state, tar, KEY, {"src": src})[0])(state.critic)
    w_c, y_c = jnp.asarray(w_np, jnp.float32), jnp.asarray(y)
    want_grads = jax.grad(lambda c: jnp.sum(jnp.mean(
        w_c[None] * (m.critic_net.apply(c, src.obs, src.act) - y_c[None]) ** 2, axis=-1)))(state.critic)
    for g, g_want in zip(jax.tree.leaves(grads), jax.tree.leaves(want_grads), strict=True):
        np.testing.assert_allclose(g, g_want, rtol=1e-3, atol=1e-6)
    # warm-up: unit weights, i.e. SAC's critic loss on the source batch
    warm = state.replace(step=jnp.asarray(2, jnp.int32))
    np.testing.assert_array_equal(m.source_weights(warm, src)[0], 1.0)
    np.testing.assert_allclose(m.critic_loss(state.critic, warm, tar, KEY, {"src": src})[0],
                               SAC(m.config, 3, 1).critic_loss(state.critic, warm, src, KEY)[0], rtol=1e-5)


def test_bad_configs_are_refused():
    with pytest.raises(ValueError, match="iw_clip"):
        SACIW(SACIWConfig(iw_clip=(0.0, 1.0)), 3, 1)
    with pytest.raises(ValueError, match="classifier_every"):
        DARC(DARCConfig(classifier_every=0), 3, 1)


# ---------------------------------------------------------------------- the co-training loop


@pytest.mark.slow  # make test-slow (CI runs it); kept out of make test's 5-minute budget
@pytest.mark.parametrize("method, config", [("darc", DARCConfig()), ("sac-iw", SACIWConfig())])
def test_cotrain_runs_and_resumes_exactly(tmp_path, method, config):
    """A short run past the warm-up (updates start at source step 76; classifier steps from update 12 on,
    before and after the stop at 100 source steps) logs the method's metrics, and a stopped-and-resumed run
    equals the straight one."""
    assert_resume_equals_no_stop(tmp_path, method, tiny(config, warmup=10, classifier_every=3))
    rows = [r for r in RunDir(tmp_path / "straight").rows("train") if "critic_loss" in r]  # once updates run
    assert len(rows) == 3
    keys = {"darc_delta_r", "classifier_loss", "classifier_acc", "critic_loss", "actor_loss"}
    keys |= {"iw_mean"} if method == "sac-iw" else set()
    assert all(keys <= set(r) and all(np.isfinite(r[k]) for k in keys) for r in rows)
    assert rows[-1]["classifier_loss"] > 0 and rows[-1]["darc_delta_r"] != 0

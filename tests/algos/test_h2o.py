"""H2O, offline source (daftrl.algos.h2o): per-row clipped weights, the weighted CQL(H) term, the losses."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cotrain_helpers import tiny
from daftrl.algos.cql import conservative_terms, ood_actions
from daftrl.algos.darc import delta_r
from daftrl.algos.h2o import H2O, H2OConfig
from daftrl.algos.mix import SACMix, SACMixConfig
from daftrl.replay import Batch

KEY = jax.random.PRNGKey(5)


def batch(rng: np.random.Generator, n: int, shift: float = 0.0, act: float | None = None) -> Batch:
    """Random transitions in a 3-d state, 1-d action space; `shift` moves s'; `act` fixes every action."""
    obs = rng.normal(size=(n, 3))
    a = rng.uniform(-1, 1, (n, 1)) if act is None else np.full((n, 1), act)
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        obs, a, rng.normal(size=n), obs + 0.1 * rng.normal(size=(n, 3)) + shift, (rng.random(n) < 0.2).astype(float))))


def method(**changes) -> H2O:
    return H2O(tiny(H2OConfig(), **changes), 3, 1)


def sharpened(state, scale: float):
    """The state with both classifier heads' output layers scaled: larger, varied |dr| across rows."""
    params = jax.tree.map(jnp.array, state.extra["classifier"])
    for head in ("sa", "sas"):
        last = max(params["params"][head], key=lambda k: int(k.split("_")[-1]))
        params["params"][head][last] = jax.tree.map(lambda x: scale * x, params["params"][head][last])
    return state.replace(extra={**state.extra, "classifier": params})


def test_weights_are_per_row_exp_dr_clipped():
    m = method(iw_clip=(0.5, 2.0))
    state = sharpened(m.init(0), 30.0)
    src = batch(np.random.default_rng(0), 64)
    w, dr = m.source_weights(state, src)
    assert w.shape == dr.shape == (64,)
    want = np.clip(np.exp(np.asarray(delta_r(*m.logits(state.extra["classifier"], src)), np.float64)), 0.5, 2.0)
    np.testing.assert_allclose(w, want, rtol=1e-5)
    assert (np.asarray(w) == 0.5).any() and (np.asarray(w) == 2.0).any() and ((w > 0.5) & (w < 2.0)).any()


def test_cql_term_weights_each_row_not_the_batch_mean():
    """The regulariser is mean_i w_i gap_ij, not ODRL's B x B broadcast mean(w) mean(gap_j)."""
    m = method()
    state = sharpened(m.init(0), 30.0)
    src = batch(np.random.default_rng(1), 32)
    w, _ = m.source_weights(state, src)
    assert float(jnp.std(w)) > 0.1  # the weights differ between rows
    _, weighted, gap = m.weighted_conservative_gap(state.critic, state, src, w, KEY)
    ood, log_density = ood_actions(m.actor_net, state.actor, src.obs, src.next_obs, KEY, m.method_config.num_actions)
    _, want_gap = conservative_terms(m.critic_net, state.critic, src.obs, src.act, ood, log_density, True, 1.0)
    np.testing.assert_allclose(gap, want_gap, rtol=1e-5)
    np.testing.assert_allclose(weighted, (np.asarray(w)[None] * np.asarray(gap)).mean(-1), rtol=1e-5)
    broadcast = np.asarray(w).mean() * np.asarray(gap).mean(-1)
    assert not np.allclose(weighted, broadcast, rtol=1e-3)
    # --cql-weighting batch_mean computes what ODRL's broadcast does (to compare with ODRL/PAR-era numbers)
    m_odrl = H2O(dataclasses.replace(m.method_config, cql_weighting="batch_mean"), m.obs_dim, m.act_dim)
    _, weighted_odrl, gap_odrl = m_odrl.weighted_conservative_gap(state.critic, state, src, w, KEY)
    np.testing.assert_allclose(gap_odrl, gap, rtol=1e-6)
    np.testing.assert_allclose(weighted_odrl, broadcast, rtol=1e-5)


def test_critic_loss_terms():
    """loss = target TD + w-weighted source TD + alpha_cql * sum_j mean_i w_i gap_ij; with alpha_cql = 0 and w = 1
    (iw_clip (1, 1)) it is SAC-mix's critic loss on [source; target]."""
    rng = np.random.default_rng(2)
    src, tar = batch(rng, 16), batch(rng, 16, shift=0.5)
    m = method()
    state = sharpened(m.init(0), 30.0)
    loss, info = m.critic_loss(state.critic, state, tar, KEY, {"src": src})
    np.testing.assert_allclose(loss, info["critic_loss_target"] + info["critic_loss_source"] + info["cql_loss"],
                               rtol=1e-5)
    plain = method(alpha_cql=0.0, iw_clip=(1.0, 1.0))
    mix = SACMix(dataclasses.replace(tiny(SACMixConfig())), 3, 1)
    s0 = plain.init(0)
    got = plain.critic_loss(s0.critic, s0, tar, KEY, {"src": src})[0]
    # SAC-mix averages over the 32 concatenated rows, H2O each domain over its 16: twice the mean
    k_tar, k_src = jax.random.split(KEY)
    y = lambda b, k: mix.td_target(s0, b, k)  # noqa: E731
    q = lambda b: mix.critic_net.apply(s0.critic, b.obs, b.act)  # noqa: E731
    want = sum(jnp.sum(jnp.mean((q(b) - y(b, k)[None]) ** 2, -1)) for b, k in ((tar, k_tar), (src, k_src)))
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_cql_term_lowers_q_on_out_of_distribution_actions():
    """The same updates with and without the CQL term, on data whose actions are all 0.6: with it, Q at the data
    action ends up above Q at actions far from it, by a wider margin than without it."""
    rng = np.random.default_rng(3)
    src, tar = batch(rng, 16, act=0.6), batch(rng, 16)
    probe = jnp.linspace(-1, 1, 11)

    def margin(alpha_cql: float) -> float:
        m = method(alpha_cql=alpha_cql)
        state = m.init(0)
        for _ in range(60):
            state, _ = m.update(state, tar, {"src": src})
        q = jax.vmap(lambda a: m.critic_net.apply(state.critic, src.obs, jnp.full((16, 1), a)).min(0).mean())(probe)
        at_data = m.critic_net.apply(state.critic, src.obs, src.act).min(0).mean()
        return float(at_data - q[jnp.abs(probe - 0.6) > 0.5].max())

    with_cql, without = margin(5.0), margin(0.0)
    assert with_cql > 0 and with_cql > without + 0.1, (with_cql, without)


def test_actor_trains_on_both_domains_states():
    rng = np.random.default_rng(4)
    src, tar = batch(rng, 8), batch(rng, 8, shift=1.0)
    m = method()
    state = m.init(0)
    mix = SACMix(tiny(SACMixConfig()), 3, 1)
    np.testing.assert_allclose(m.actor_loss(state.actor, state, tar, KEY, {"src": src})[0],
                               mix.actor_loss(state.actor, state, tar, KEY, {"src": src})[0], rtol=1e-6)


def test_config_is_checked():
    with pytest.raises(ValueError, match="iw_clip"):
        method(iw_clip=(2.0, 1.0))
    with pytest.raises(ValueError, match="gap_clip"):
        H2OConfig(gap_clip=(1.0, -1.0))

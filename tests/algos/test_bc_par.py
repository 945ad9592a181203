"""BC-PAR (daftrl.algos.bc_par): PAR's critic, and the TD3+BC-style actor loss that clones the dataset's actions."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cotrain_helpers import tiny
from daftrl.algos import method_spec
from daftrl.algos.bc_par import BCPAR, BCPARConfig
from daftrl.algos.par import PAR, PARConfig
from daftrl.replay import Batch

KEY = jax.random.PRNGKey(7)


def batch(rng: np.random.Generator, n: int, act: float | None = None) -> Batch:
    obs = rng.normal(size=(n, 3))
    a = rng.uniform(-1, 1, (n, 1)) if act is None else np.full((n, 1), act)
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        obs, a, rng.normal(size=n), obs + 0.1 * rng.normal(size=(n, 3)), np.zeros(n))))


def test_defaults_are_odrls():
    cfg = method_spec("bc-par").default_config("hopper-big-head")
    assert (cfg.beta, cfg.bc_weight, cfg.encoder_every) == (0.1, 5.0, 200)  # no per-robot beta (PAR online's)
    assert method_spec("bc-par").needs_dataset and not method_spec("par").needs_dataset


def test_critic_is_pars():
    rng = np.random.default_rng(0)
    src, tar = batch(rng, 16), batch(rng, 16)
    bc, par = BCPAR(tiny(BCPARConfig()), 3, 1), PAR(tiny(PARConfig(beta=0.1)), 3, 1)
    state = bc.init(0)
    np.testing.assert_array_equal(bc.critic_loss(state.critic, state, tar, KEY, {"src": src})[0],
                                  par.critic_loss(state.critic, state, tar, KEY, {"src": src})[0])


def test_actor_loss_is_normalised_sac_plus_bc():
    """loss = nu / mean|Q| * SAC loss on [source; target] states + mean (a~(s_src) - a_src)^2, with the keys the
    loss itself draws (k_pi for the SAC term, k_bc for the cloned actions)."""
    rng = np.random.default_rng(1)
    src, tar = batch(rng, 16), batch(rng, 16)
    m = BCPAR(tiny(BCPARConfig(bc_weight=2.0)), 3, 1)
    state = m.init(0)
    loss, info = m.actor_loss(state.actor, state, tar, KEY, {"src": src})
    k_pi, k_bc = jax.random.split(KEY)
    obs = jnp.concatenate([src.obs, tar.obs])
    act, log_prob = m.policy(state.actor, obs, k_pi)
    q = m.critic_net.apply(state.critic, obs, act).min(0)
    lam = 2.0 / jnp.mean(jnp.abs(q))
    bc = jnp.mean((m.policy(state.actor, src.obs, k_bc)[0] - src.act) ** 2)
    np.testing.assert_allclose(loss, lam * jnp.mean(0.2 * log_prob - q) + bc, rtol=1e-5)
    np.testing.assert_allclose((info["bc_lambda"], info["bc_loss"]), (lam, bc), rtol=1e-5)


def test_bc_term_pulls_the_actor_toward_the_dataset_actions():
    """Every dataset action is 0.7: with the SAC term switched off (nu = 0) the actor's mean action moves there."""
    rng = np.random.default_rng(2)
    src, tar = batch(rng, 32, act=0.7), batch(rng, 32)
    m = BCPAR(dataclasses.replace(tiny(BCPARConfig(bc_weight=0.0)), actor_lr=3e-3), 3, 1)
    state = m.init(0)
    mean_action = lambda s: float(jnp.mean(m.mean_actions(s.actor, src.obs)))  # noqa: E731
    before = mean_action(state)
    for _ in range(150):
        state, info = m.update(state, tar, {"src": src})
    assert abs(before - 0.7) > 0.4 and abs(mean_action(state) - 0.7) < 0.15, (before, mean_action(state))
    assert float(info["bc_loss"]) < 0.1

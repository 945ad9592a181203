"""BC-VGDF (daftrl.algos.bc_vgdf): VGDF's filtered critic, one actor with the BC loss, no optimistic actor."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from cotrain_helpers import tiny
from daftrl.algos import method_spec
from daftrl.algos.bc_par import bc_actor_loss
from daftrl.algos.bc_vgdf import BCVGDF, BCVGDFConfig
from daftrl.algos.vgdf import VGDF, VGDFConfig
from daftrl.replay import Batch

KEY = jax.random.PRNGKey(9)
SMALL_MODEL = {"model_hidden": (16, 16), "model_members": 3, "model_elites": 2, "model_weight_decay": (1e-5,) * 3}


def batch(rng: np.random.Generator, n: int, act: float | None = None) -> Batch:
    obs = rng.normal(size=(n, 3))
    a = rng.uniform(-1, 1, (n, 1)) if act is None else np.full((n, 1), act)
    return Batch(*(jnp.asarray(x, jnp.float32) for x in (
        obs, a, rng.normal(size=n), obs + 0.1 * rng.normal(size=(n, 3)), np.zeros(n))))


def method(**changes) -> BCVGDF:
    return BCVGDF(tiny(BCVGDFConfig(**SMALL_MODEL), **changes), 3, 1)


def test_registry_defaults():
    spec = method_spec("bc-vgdf")
    assert spec.needs_dataset and spec.dataset_updates_per_step == 10
    cfg = spec.default_config("hopper-big-head")
    assert (cfg.terminal, cfg.bc_weight, cfg.policy_delay, cfg.keep_ratio) == ("hopper", 5.0, 2, 0.25)


def test_one_actor_collects_everywhere():
    m = method()
    state = m.init(0)
    assert "actor_e" not in state.extra and "actor_e_opt" not in state.extra
    assert m.behaviour_actor(state, "source") is state.actor and m.behaviour_actor(state, "target") is state.actor


def test_critic_is_vgdfs_and_actor_loss_is_the_bc_loss():
    rng = np.random.default_rng(0)
    src, tar = batch(rng, 16), batch(rng, 16)
    m, vgdf = method(gate_start=0), VGDF(tiny(VGDFConfig(**SMALL_MODEL), gate_start=0), 3, 1)
    state = m.init(0)
    state = state.replace(extra={**state.extra, "model": vgdf.init(0).extra["model"]})
    np.testing.assert_array_equal(m.critic_loss(state.critic, state, tar, KEY, {"src": src})[0],
                                  vgdf.critic_loss(state.critic, state, tar, KEY, {"src": src})[0])
    got = m.actor_loss(state.actor, state, tar, KEY, {"src": src})[0]
    want = bc_actor_loss(m, state.actor, state, jnp.concatenate([src.obs, tar.obs]), src, KEY, 5.0)[0]
    np.testing.assert_array_equal(got, want)


def test_actor_updates_every_policy_delay_steps():
    rng = np.random.default_rng(1)
    src, tar = batch(rng, 16), batch(rng, 16)
    m = method(policy_delay=2)
    state = m.init(0)
    actors = []
    for _ in range(4):
        actors.append(jax.tree.map(np.asarray, state.actor))
        state, info = m.update(state, tar, {"src": src})
    changed = [not all(np.array_equal(a, b) for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True))
               for x, y in zip(actors, [*actors[1:], jax.tree.map(np.asarray, state.actor)], strict=True)]
    assert changed == [True, False, True, False]  # updates 0 and 2
    assert {"bc_loss", "bc_lambda", "actor_loss"} <= set(info)


def test_bc_term_pulls_the_actor_toward_the_dataset_actions():
    rng = np.random.default_rng(2)
    src, tar = batch(rng, 32, act=-0.6), batch(rng, 32)
    m = BCVGDF(dataclasses.replace(tiny(BCVGDFConfig(**SMALL_MODEL), bc_weight=0.0), actor_lr=3e-3, policy_delay=1),
               3, 1)
    state = m.init(0)
    mean_action = lambda s: float(jnp.mean(m.mean_actions(s.actor, src.obs)))  # noqa: E731
    before = mean_action(state)
    for _ in range(150):
        state, _ = m.update(state, tar, {"src": src})
    assert abs(before + 0.6) > 0.3 and abs(mean_action(state) + 0.6) < 0.15, (before, mean_action(state))

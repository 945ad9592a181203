"""Shared helpers of the task-suite tests: task lists, rollouts, global capsule geometry."""

from __future__ import annotations

import mujoco
import numpy as np

from daftrl.envs import ROBOTS, TASKS, get_task

PAPER = ["halfcheetah-broken-back-thigh", "halfcheetah-no-thighs", "hopper-broken-joints", "hopper-big-head",
         "walker-broken-right-foot", "walker-no-right-thigh", "ant-broken-hips", "ant-short-feet"]
INVERTED = [f"{robot}-inverted-actions" for robot in ROBOTS]
# one task per ODRL family and robot, covering every morph builder and both kinematic primitives
ODRL_SAMPLE = ["halfcheetah-gravity-0.5", "hopper-friction-2.0", "walker-friction-0.1", "ant-gravity-5.0",
               "walker-kinematic-footjnt-hard", "ant-kinematic-anklejnt-medium", "halfcheetah-kinematic-thighjnt-easy",
               "halfcheetah-morph-thigh-hard", "halfcheetah-morph-torso-medium", "hopper-morph-foot-easy",
               "hopper-morph-torso-hard", "walker-morph-leg-medium", "walker-morph-torso-easy",
               "ant-morph-halflegs-hard", "ant-morph-alllegs-easy"]
ODRL = [name for name, task in TASKS.items() if task.family not in ("paper", "inverted")]
OBS_DIM = {"halfcheetah": 17, "hopper": 11, "walker": 17, "ant": 27}


def actions(name: str, n: int = 100, seed: int = 0) -> np.ndarray:
    """Bang-bang random actions: they drive joints to their limits, where kinematic shifts act."""
    return np.sign(np.random.default_rng(seed).uniform(-1, 1, (n, get_task(name).act_dim))).astype(np.float32)


def rollout(env, acts: np.ndarray, seed: int | None = 0) -> dict[str, np.ndarray]:
    """Observations, rewards and termination flags of `env` from `reset(seed=seed)` under `acts` (no auto-reset:
    stops at the end of an episode)."""
    obs, _ = env.reset(seed=seed)
    out = {"obs": [obs], "reward": [], "terminated": [], "truncated": []}
    for a in acts:
        obs, reward, terminated, truncated, _ = env.step(a)
        for key, value in zip(("obs", "reward", "terminated", "truncated"), (obs, reward, terminated, truncated),
                              strict=True):
            out[key].append(value)
        if terminated or truncated:
            break
    env.close()
    return {k: np.asarray(v) for k, v in out.items()}


def assert_same_rollout(a: dict, b: dict) -> None:
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def capsule_ends(model: mujoco.MjModel, geom: str) -> tuple[np.ndarray, np.ndarray, float]:
    """Global end points (of the axis segment) and radius of a capsule at qpos0: comparable with a global-coordinate
    reference XML's `fromto` and `size`."""
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    gid = model.geom(geom).id
    radius, half = model.geom_size[gid][:2]
    axis = data.geom_xmat[gid].reshape(3, 3)[:, 2] * half
    return data.geom_xpos[gid] - axis, data.geom_xpos[gid] + axis, float(radius)

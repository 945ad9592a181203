"""Turn a user's `--env` string into an environment factory.

Accepted: a robot name (`halfcheetah`, `hopper`, `walker`, `ant`: its stock v5 source env), a daftrl
task name (with `domain`), or any gymnasium id (e.g. `InvertedPendulum-v5`, `Pendulum-v1`). Policies
act in [-1, 1]^|A|; envs with other box bounds are wrapped in `RescaleAction`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium as gym
import numpy as np

from daftrl.envs.make import make_env
from daftrl.envs.robots import ROBOTS
from daftrl.envs.tasks import TASKS, get_task

ROBOT_OF_GYM_ID = {r.gym_id: name for name, r in ROBOTS.items() if not r.kwargs}
"""The robot a plain gymnasium id builds (for normalised scores when a user passes the id itself). Robots whose
source env needs keyword arguments are left out: `gym.make(id)` alone builds another env (Ant-v5: 105-dim obs)."""


@dataclasses.dataclass(frozen=True)
class EnvHandle:
    """What a loop needs to know about an environment, and how to build a fresh one."""

    name: str
    domain: str
    robot: str | None
    obs_dim: int
    act_dim: int
    factory: Callable[[], gym.Env]

    def make(self) -> gym.Env:
        return self.factory()


def _unit_box(env: gym.Env) -> gym.Env:
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ValueError(f"daftrl needs a continuous (Box) action space, got {space}")
    if np.allclose(space.low, -1.0) and np.allclose(space.high, 1.0):
        return env
    ones = np.ones(space.shape, np.float32)
    return gym.wrappers.RescaleAction(env, -ones, ones)


def _quiet_make(gym_id: str) -> gym.Env:
    """gym.make without MuJoCo's settotalmass deprecation warning of the stock HalfCheetah XML."""
    from daftrl.envs.make import quiet_settotalmass

    with quiet_settotalmass():
        return gym.make(gym_id)


def resolve_env(name: str, domain: str = "source") -> EnvHandle:
    """An EnvHandle for a robot, a daftrl task or a gymnasium id."""
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    if name in ROBOTS:
        if domain != "source":
            raise ValueError(f"{name!r} is a robot; name a task to get a target domain (see `daftrl tasks`)")
        task = next(t for t in TASKS.values() if t.robot == name)
        factory, robot = (lambda: make_env(task, domain="source")), name
    elif name in gym.registry:
        if domain != "source":
            raise ValueError(f"{name!r} is a gymnasium id; it has no separate target domain")
        factory, robot = (lambda: _unit_box(_quiet_make(name))), ROBOT_OF_GYM_ID.get(name)
    else:
        try:
            task = get_task(name)
        except ValueError as e:
            raise ValueError(f"{e}; an env is a robot, a daftrl task or a gymnasium id") from None
        factory, robot = (lambda: make_env(task, domain=domain)), task.robot
    probe = factory()
    obs_dim = int(np.prod(probe.observation_space.shape))
    act_dim = int(np.prod(probe.action_space.shape))
    probe.close()
    return EnvHandle(name, domain, robot, obs_dim, act_dim, factory)

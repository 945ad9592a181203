"""Build environments: the stock v5 source, or a target whose compiled model carries the task's shifts.

Targets subclass Gymnasium's v5 env and override its model-loading hook (`_initialize_simulation`,
pinned by the tests) to compile the edited `MjSpec` directly. They record the task name for
`EzPickle`, so `copy.deepcopy` and pickling rebuild the *target*: deep-copying PAR's envs silently
rebuilt the source robot (notes/tasks.md section 6.2).
"""

from __future__ import annotations

import importlib
import warnings

import gymnasium as gym
import mujoco
import numpy as np
from gymnasium.utils import EzPickle

from daftrl.envs.robots import ROBOTS, Robot, xml_path
from daftrl.envs.tasks import TASKS, Task, get_task

MAX_EPISODE_STEPS = 1000


def compile_model(robot: Robot, shifts=()) -> mujoco.MjModel:
    """The robot's stock model with `shifts` applied to its spec, compiled (no XML round trip)."""
    spec = mujoco.MjSpec.from_file(xml_path(robot))
    for s in shifts:
        s.apply_spec(spec)
    with warnings.catch_warnings():  # gymnasium's half_cheetah.xml uses the deprecated settotalmass
        warnings.filterwarnings("ignore", message=".*settotalmass.*")
        return spec.compile()


def _shifted_class(robot: Robot) -> type:
    module, cls_name = robot.env_class.split(":")
    base = getattr(importlib.import_module(module), cls_name)

    class Shifted(base):
        """`base` with a daftrl task's shifts applied (target domain)."""

        def __init__(self, task: str | Task, **kwargs):
            self.task = get_task(task)
            if self.task.robot != robot.name:
                raise ValueError(f"task {task!r} is for {self.task.robot}, not {robot.name}")
            super().__init__(**{**dict(robot.kwargs), **kwargs})
            EzPickle.__init__(self, task, **kwargs)  # deepcopy/pickle rebuild this target

        def _initialize_simulation(self):
            model = compile_model(robot, self.task.shifts)
            model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
            model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
            return model, mujoco.MjData(model)

        def step(self, action):
            for s in self.task.shifts:
                action = s.transform_action(np.asarray(action))
            return super().step(action)

    Shifted.__name__ = Shifted.__qualname__ = f"Shifted{cls_name}"
    return Shifted


SHIFTED = {name: _shifted_class(robot) for name, robot in ROBOTS.items()}
# module attributes so pickle can find the classes by name
globals().update({cls.__name__: cls for cls in SHIFTED.values()})


def make_env(task: str | Task, domain: str = "source", seed: int | None = None, **gym_kwargs) -> gym.Env:
    """A freshly built env of `task`'s source or target domain, with TimeLimit(1000).

    `seed`: if given, the env is reset once with it (and its action space seeded); later
    `reset()` calls without a seed continue that RNG stream."""
    task = get_task(task)
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    robot = ROBOTS[task.robot]
    if domain == "source":
        env = gym.make(robot.gym_id, max_episode_steps=MAX_EPISODE_STEPS, **dict(robot.kwargs), **gym_kwargs)
    else:
        if task.warning:
            warnings.warn(task.warning, UserWarning, stacklevel=2)
        env = gym.make(_generic_id(robot.name), task=_by_name_if_possible(task), max_episode_steps=MAX_EPISODE_STEPS,
                       **gym_kwargs)
    if seed is not None:
        env.reset(seed=seed)
        env.action_space.seed(seed)
    return env


def _by_name_if_possible(task: Task) -> str | Task:
    """A registry name when it denotes this very task (keeps env specs JSON-friendly), else the Task."""
    try:
        return task.name if get_task(task.name) == task else task
    except ValueError:
        return task


def _generic_id(robot: str) -> str:
    return f"daftrl/{robot}-shifted-v0"


def register_envs() -> None:
    """Register `daftrl/<task>-v0` (target domain) for every task in TASKS; idempotent."""
    for name in ROBOTS:
        entry = f"{__name__}:{SHIFTED[name].__name__}"
        if _generic_id(name) not in gym.registry:
            gym.register(_generic_id(name), entry_point=entry, max_episode_steps=MAX_EPISODE_STEPS)
    for name, task in TASKS.items():
        env_id = f"daftrl/{name}-v0"
        if env_id not in gym.registry:
            entry = f"{__name__}:{SHIFTED[task.robot].__name__}"
            gym.register(env_id, entry_point=entry, kwargs={"task": name}, max_episode_steps=MAX_EPISODE_STEPS)

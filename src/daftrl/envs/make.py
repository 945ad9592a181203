"""Build environments: the stock v5 source of a task's robot, or its target with the task's shifts compiled in.

A target env is Gymnasium's v5 class of the robot with its model-loading hook (`MujocoEnv._initialize_simulation`,
a private hook of gymnasium 1.x, pinned by tests/envs) overridden to compile the edited `MjSpec` directly, so
rewards, termination, observations, frame skip and reset noise are Gymnasium's own. It records the task for
`EzPickle`, so `copy.deepcopy` and pickling rebuild the *target*: deep-copying PAR's envs silently rebuilt the
source robot (docs/tasks.md, "How targets are built").
"""

from __future__ import annotations

import contextlib
import sys
import warnings

import gymnasium as gym
import mujoco
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.envs.registration import EnvSpec
from gymnasium.utils import EzPickle, seeding

from daftrl.envs.robots import ROBOTS, Robot
from daftrl.envs.shifts import Shift
from daftrl.envs.tasks import TASKS, Task, get_task

MAX_EPISODE_STEPS = 1000  # every reference uses TimeLimit(1000) (docs/tasks.md)

SETTOTALMASS = "compiler attribute 'settotalmass' is deprecated"
"""MuJoCo's warning about the stock half_cheetah.xml (`<compiler settotalmass="14">`), whose physics daftrl keeps."""


@contextlib.contextmanager
def quiet_settotalmass():
    """Compile the stock models without MuJoCo's settotalmass deprecation warning; every other warning stays.

    `MjSpec.compile` reports it as a Python UserWarning; `MjModel.from_xml_path` (Gymnasium's source envs) through
    MuJoCo's C-level warning handler, which prints it to stderr and appends it to MUJOCO_LOG.TXT in the working
    directory. For the duration, a handler drops exactly that message and passes any other one on (to the handler
    set before, else to stderr as MuJoCo prints it)."""
    previous = mujoco.get_mju_user_warning()

    def handler(message: str) -> None:
        if SETTOTALMASS in message:
            return
        if previous is not None:
            previous(message)
        else:
            print(f"WARNING: {message}\n", file=sys.stderr)

    mujoco.set_mju_user_warning(handler)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=f".*{SETTOTALMASS}", category=UserWarning)
            yield
    finally:
        mujoco.set_mju_user_warning(previous)


def compile_model(robot: Robot | str, shifts: tuple[Shift, ...] = ()) -> mujoco.MjModel:
    """The robot's stock v5 model with `shifts` applied: spec edits, one compile (no XML round trip), model edits."""
    robot = ROBOTS[robot] if isinstance(robot, str) else robot
    spec = mujoco.MjSpec.from_file(robot.xml_path)
    for shift in shifts:
        shift.apply_spec(spec)
    with quiet_settotalmass():  # gymnasium's half_cheetah.xml uses MuJoCo's deprecated settotalmass
        model = spec.compile()
    for shift in shifts:
        shift.apply_model(model)
    return model


class _Target:
    """Mixin over a Gymnasium v5 env class: the target domain of a task of robot `robot`."""

    robot: str

    def __init__(self, task: str | Task, **kwargs):
        self.task = get_task(task)
        if self.task.robot != self.robot:
            raise ValueError(f"task {self.task.name!r} is for {self.task.robot}, not {self.robot}")
        if self.task.warning:
            warnings.warn(self.task.warning, UserWarning, stacklevel=2)
        super().__init__(**{**dict(ROBOTS[self.robot].kwargs), **kwargs})
        EzPickle.__init__(self, task, **kwargs)  # deepcopy / pickle rebuild this target, not the base class

    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        """Gymnasium's hook (mujoco_env.py), returning the compiled target model instead of loading the XML."""
        model = compile_model(ROBOTS[self.robot], self.task.shifts)
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)  # as Gymnasium does
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def step(self, action):
        for shift in self.task.shifts:
            action = shift.transform_action(action)
        return super().step(action)


class HalfCheetahTarget(_Target, HalfCheetahEnv):
    robot = "halfcheetah"


class HopperTarget(_Target, HopperEnv):
    robot = "hopper"


class Walker2dTarget(_Target, Walker2dEnv):
    robot = "walker"


class AntTarget(_Target, AntEnv):
    robot = "ant"


TARGET_CLASSES: dict[str, type] = {cls.robot: cls for cls in (HalfCheetahTarget, HopperTarget, Walker2dTarget,
                                                               AntTarget)}


def target_spec(task: str | Task) -> EnvSpec:
    """The gymnasium spec of a task's target, `daftrl/<task>-v0`. Its kwargs name the task when the name
    resolves to it (JSON-serialisable, so Minari can record and rebuild the env), else hold the `Task` itself."""
    task = get_task(task)
    try:
        by_name = get_task(task.name) == task
    except ValueError:
        by_name = False
    cls = TARGET_CLASSES[task.robot]
    return EnvSpec(f"daftrl/{task.name}-v0", entry_point=f"{__name__}:{cls.__name__}",
                   kwargs={"task": task.name if by_name else task}, max_episode_steps=MAX_EPISODE_STEPS)


def make_env(task: str | Task, domain: str = "source", seed: int | None = None, **gym_kwargs) -> gym.Env:
    """A freshly built env (never a copy) of `task`'s source or target domain, via `gymnasium.make`:
    TimeLimit(1000) (`max_episode_steps` in `gym_kwargs` overrides it), OrderEnforcing, PassiveEnvChecker.

    source: the stock `gymnasium.make(<Robot>-v5)` (Ant: `include_cfrc_ext_in_observation=False`).
    target: `daftrl/<task>-v0`. `gym_kwargs` (render_mode, width, height, reset_noise_scale, ...) go to both.
    seed: the env's RNG and its action space are seeded now, so the first `reset()` without a seed equals
    `reset(seed=seed)` and later resets continue that stream (nothing is reset here)."""
    task = get_task(task)
    if domain not in ("source", "target"):
        raise ValueError(f"domain must be 'source' or 'target', got {domain!r}")
    robot = ROBOTS[task.robot]
    gym_kwargs.setdefault("max_episode_steps", MAX_EPISODE_STEPS)
    with quiet_settotalmass():  # the stock XML of a HalfCheetah source
        if domain == "source":
            env = gym.make(robot.gym_id, **{**dict(robot.kwargs), **gym_kwargs})
        else:
            env = gym.make(target_spec(task), **gym_kwargs)
    if seed is not None:
        # what Env.reset(seed=seed) does before drawing the initial state (the public setter would lose the seed)
        env.unwrapped._np_random, env.unwrapped._np_random_seed = seeding.np_random(seed)
        env.action_space.seed(seed)
    return env


def register_envs() -> None:
    """Register every task in TASKS as the gymnasium id `daftrl/<task>-v0` (its target domain). Idempotent."""
    for name in TASKS:
        spec = target_spec(name)
        if spec.id not in gym.registry:
            gym.register(spec.id, entry_point=spec.entry_point, kwargs=spec.kwargs,
                         max_episode_steps=spec.max_episode_steps)


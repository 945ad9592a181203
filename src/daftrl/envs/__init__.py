"""Everything about environments: the domain-shift task suite (docs/tasks.md), the env factory, exact env-state
capture for checkpoints and the collector the loops step. Light: imports gymnasium and mujoco, no JAX."""

from daftrl.envs.describe import DERIVED, changed_fields, describe_task, model_diff, task_table
from daftrl.envs.factory import ROBOT_OF_GYM_ID, EnvHandle, resolve_env  # noqa: I001 - after the modules it uses
from daftrl.envs.make import compile_model, make_env, register_envs, target_spec
from daftrl.envs.render import render_task
from daftrl.envs.robots import ROBOTS, Robot
from daftrl.envs.shifts import (
    ActionInversion,
    BodyEdit,
    Friction,
    GeomEdit,
    Gravity,
    JointEdit,
    JointRange,
    JointRangeWidth,
    Mass,
    Shift,
)
from daftrl.envs.tasks import TASKS, Task, get_task

__all__ = [
    "TASKS", "Task", "get_task", "make_env", "register_envs", "target_spec", "compile_model",
    "ROBOTS", "Robot", "describe_task", "task_table", "render_task", "model_diff", "changed_fields", "DERIVED",
    "Shift", "JointRange", "JointRangeWidth", "GeomEdit", "BodyEdit", "JointEdit", "Gravity", "Friction", "Mass",
    "ActionInversion", "EnvHandle", "resolve_env", "ROBOT_OF_GYM_ID",
]

"""daftrl's domain-shift task suite (notes/tasks.md; docs/tasks.md)."""

from daftrl.envs.describe import describe_task, model_diff, render_task, task_table
from daftrl.envs.make import compile_model, make_env, register_envs
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

__all__ = ["TASKS", "ROBOTS", "Robot", "Task", "get_task", "make_env", "register_envs", "compile_model",
           "describe_task", "task_table", "render_task", "model_diff", "Shift", "JointRange", "JointRangeWidth",
           "GeomEdit", "BodyEdit", "JointEdit", "Gravity", "Friction", "Mass", "ActionInversion"]

"""What a task changes, computed from the compiled source and target models (so it cannot drift from
what `make_env` builds), the task table, and side-by-side renders."""

from __future__ import annotations

import numpy as np

from daftrl.envs.make import compile_model
from daftrl.envs.robots import ROBOTS
from daftrl.envs.shifts import ActionInversion
from daftrl.envs.tasks import TASKS, get_task

# (model attribute, mujoco object type for element names)
COMPARED = (
    ("jnt_range", "joint"), ("jnt_pos", "joint"), ("geom_size", "geom"), ("geom_pos", "geom"),
    ("geom_quat", "geom"), ("geom_friction", "geom"), ("body_pos", "body"), ("body_mass", "body"),
    ("body_inertia", "body"),
)


def _names(model, kind: str) -> list[str]:
    import mujoco

    obj = {"joint": mujoco.mjtObj.mjOBJ_JOINT, "geom": mujoco.mjtObj.mjOBJ_GEOM, "body": mujoco.mjtObj.mjOBJ_BODY}[kind]
    count = {"joint": model.njnt, "geom": model.ngeom, "body": model.nbody}[kind]
    return [mujoco.mj_id2name(model, obj, i) or f"{kind}{i}" for i in range(count)]


def model_diff(source, target, atol: float = 0.0) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{attribute: {element name: (source value, target value)}} for every element that differs,
    plus 'opt.gravity'. Raises if the models' structure differs (element counts)."""
    out: dict[str, dict] = {}
    for attr, kind in COMPARED:
        a, b = getattr(source, attr), getattr(target, attr)
        if a.shape != b.shape:
            raise ValueError(f"{attr}: shapes differ {a.shape} vs {b.shape}")
        names = _names(source, kind)
        rows = {names[i]: (a[i].copy(), b[i].copy()) for i in range(len(a))
                if not np.allclose(a[i], b[i], rtol=0, atol=atol)}
        if rows:
            out[attr] = rows
    if not np.array_equal(source.opt.gravity, target.opt.gravity):
        out["opt.gravity"] = {"world": (source.opt.gravity.copy(), target.opt.gravity.copy())}
    return out


def _fmt(v: np.ndarray, attr: str) -> str:
    v = np.atleast_1d(v)
    if attr == "jnt_range":
        deg = ", ".join(f"{x:.4g}" for x in np.degrees(v))
        return "[" + ", ".join(f"{x:.6g}" for x in v) + f"] rad = [{deg}] deg"
    return "[" + ", ".join(f"{x:.6g}" for x in v) + "]" if v.size > 1 else f"{v[0]:.6g}"


def describe_task(name: str) -> list[tuple[str, str, str]]:
    """Rows (quantity, source value, target value) for every quantity the task changes."""
    task = get_task(name)
    robot = ROBOTS[task.robot]
    diff = model_diff(compile_model(robot), compile_model(robot, task.shifts))
    rows = [(f"{attr}[{elem}]", _fmt(s, attr), _fmt(t, attr))
            for attr, elems in diff.items() for elem, (s, t) in elems.items()]
    for shift in task.shifts:
        if isinstance(shift, ActionInversion):
            which = "all actuators" if shift.mask is None else f"actuators {shift.mask}"
            rows.append(("executed action", "a", f"-a ({which})"))
    return rows


def task_table() -> list[tuple[str, str, str]]:
    """(name, family, description) of every registered task."""
    return [(t.name, t.family, t.description) for t in TASKS.values()]


def render_task(name: str, out_path: str, width: int = 320, height: int = 240) -> None:
    """Write a PNG with the source (left) and target (right) robot after reset, rendered headless.

    Needs an offscreen OpenGL: EGL (Debian libegl1 + libegl-mesa0, the default) or OSMesa (libosmesa6,
    with MUJOCO_GL=osmesa); without either this raises RuntimeError saying what to install."""
    import os

    os.environ.setdefault("MUJOCO_GL", "egl")  # read when the first renderer is created
    if os.environ["MUJOCO_GL"] == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    from daftrl.envs.make import make_env

    frames = []
    for domain in ("source", "target"):
        env = make_env(name, domain, seed=0, render_mode="rgb_array", width=width, height=height)
        try:
            frames.append(env.render())
        except Exception as e:  # noqa: BLE001 - any GL failure gets the same advice
            raise RuntimeError(
                f"headless rendering with MUJOCO_GL={os.environ['MUJOCO_GL']} failed ({e}). Install EGL "
                "(Debian: libegl1 libegl-mesa0) or OSMesa (`make render-deps`) and set MUJOCO_GL=egl or osmesa"
            ) from e
        finally:
            env.close()
    import imageio.v3 as iio

    gap = np.full((height, 8, 3), 255, np.uint8)
    iio.imwrite(out_path, np.concatenate([frames[0], gap, frames[1]], axis=1))

"""What a task changes, read off the compiled models of freshly built source and target envs (so it cannot drift
from what `make_env` builds), and the task table (`daftrl tasks`, `daftrl tasks show NAME`)."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np

from daftrl.envs.shifts import ActionInversion
from daftrl.envs.tasks import TASKS, Task, get_task

# Model fields the compiler derives from the others (inertial frames, bounding volumes, reference quantities at
# qpos0, statistics). They follow any geometry or mass edit; everything else is a quantity a task may set.
DERIVED = frozenset({
    "body_ipos", "body_iquat", "body_subtreemass", "body_invweight0", "body_sameframe", "body_simple",
    "dof_invweight0", "dof_M0", "dof_length", "dof_simplenum", "actuator_acc0", "actuator_length0",
    "geom_aabb", "geom_rbound", "geom_sameframe", "bvh_aabb", "cam_pos0", "cam_poscom0", "cam_mat0",
    "light_pos0", "light_poscom0", "light_dir0", "tendon_invweight0", "tendon_length0",
    "stat.meaninertia", "stat.meanmass", "stat.meansize", "stat.extent", "stat.center",
})

_KINDS = {  # array-name prefix -> (object type, element count attribute)
    "body_": (mujoco.mjtObj.mjOBJ_BODY, "nbody"), "jnt_": (mujoco.mjtObj.mjOBJ_JOINT, "njnt"),
    "dof_": (mujoco.mjtObj.mjOBJ_DOF, "nv"), "geom_": (mujoco.mjtObj.mjOBJ_GEOM, "ngeom"),
    "site_": (mujoco.mjtObj.mjOBJ_SITE, "nsite"), "cam_": (mujoco.mjtObj.mjOBJ_CAMERA, "ncam"),
    "light_": (mujoco.mjtObj.mjOBJ_LIGHT, "nlight"), "actuator_": (mujoco.mjtObj.mjOBJ_ACTUATOR, "nu"),
    "tendon_": (mujoco.mjtObj.mjOBJ_TENDON, "ntendon"), "mat_": (mujoco.mjtObj.mjOBJ_MATERIAL, "nmat"),
}


def model_fields(model: mujoco.MjModel) -> dict[str, np.ndarray]:
    """Every array of an MjModel and every field of its `opt` and `stat` structs, by name."""
    fields = {a: v for a in dir(model) if not a.startswith("_") and isinstance(v := getattr(model, a), np.ndarray)}
    for struct in ("opt", "stat"):
        obj = getattr(model, struct)
        for a in dir(obj):
            if not a.startswith("_") and isinstance(v := getattr(obj, a), (int, float, np.ndarray)):
                fields[f"{struct}.{a}"] = np.asarray(v)
    return fields


def changed_fields(source: mujoco.MjModel, target: mujoco.MjModel, atol: float = 0.0) -> set[str]:
    """Names of all model fields (arrays, opt, stat; DERIVED included) that differ by more than `atol`."""
    a, b = model_fields(source), model_fields(target)
    return {k for k in a if a[k].shape != b[k].shape or not np.allclose(a[k], b[k], rtol=0, atol=atol, equal_nan=True)}


_LAST = {"body_mass": 1, "body_inertia": 2}  # consequences of a geometry edit: listed after it


def _element_name(model: mujoco.MjModel, obj: mujoco.mjtObj, i: int) -> str:
    if obj == mujoco.mjtObj.mjOBJ_DOF:  # named by its joint; a free or ball joint's dofs numbered
        jid = int(model.dof_jntid[i])
        joint = _element_name(model, mujoco.mjtObj.mjOBJ_JOINT, jid)
        return joint if model.jnt_type[jid] in (mujoco.mjtJoint.mjJNT_HINGE, mujoco.mjtJoint.mjJNT_SLIDE) \
            else f"{joint}:{i - model.jnt_dofadr[jid]}"
    name = mujoco.mj_id2name(model, obj, i)
    if name:
        return name
    if obj == mujoco.mjtObj.mjOBJ_BODY and model.body_jntnum[i]:  # e.g. Ant's unnamed ankle bodies
        return f"body of {mujoco.mj_id2name(model, mujoco.mjtObj.mjOBJ_JOINT, int(model.body_jntadr[i]))}"
    return f"{mujoco.mju_type2Str(obj)} {i}"


def model_diff(source: mujoco.MjModel, target: mujoco.MjModel, atol: float = 0.0
               ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """{field: {element: (source value, target value)}} for every non-DERIVED model field that differs by more
    than `atol`; per element (body, joint, geom, ...) where the field has one row per element, else under '*'."""
    a, b = model_fields(source), model_fields(target)
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
    for field in sorted(changed_fields(source, target, atol) - DERIVED, key=lambda f: (_LAST.get(f, 0), f)):
        x, y = a[field], b[field]
        kind = next((k for prefix, k in _KINDS.items() if field.startswith(prefix)), None)
        if kind is None or x.shape != y.shape or x.ndim == 0 or len(x) != getattr(source, kind[1]):
            out[field] = {"*": (x.copy(), y.copy())}
            continue
        out[field] = {_element_name(source, kind[0], i): (x[i].copy(), y[i].copy()) for i in range(len(x))
                      if not np.allclose(x[i], y[i], rtol=0, atol=atol, equal_nan=True)}
    return out


def _fmt(value: np.ndarray) -> str:
    v = np.atleast_1d(value).ravel()
    text = ", ".join(f"{x + 0.0:.6g}" for x in v)  # + 0.0: no "-0"
    return f"[{text}]" if v.size > 1 else text


def describe_task(name: str | Task) -> list[tuple[str, str, str]]:
    """Rows (quantity, source value, target value) for every quantity the task changes, e.g.
    ("jnt_range[bthigh]", "[-0.52, 1.05] rad ([-29.79, 60.16] deg)", "[-0.0052, 0.0105] rad (...)")."""
    from daftrl.envs.make import make_env

    task = get_task(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the task's warning becomes a row below
        envs = [make_env(task, domain) for domain in ("source", "target")]
    source, target = (env.unwrapped.model for env in envs)
    diff = model_diff(source, target)
    rows = []
    for field, elements in diff.items():
        for element, (s, t) in elements.items():
            label = field if element == "*" else f"{field}[{element}]"
            if field == "jnt_range" and source.jnt_type[source.joint(element).id] == mujoco.mjtJoint.mjJNT_HINGE:
                rows.append((label, f"{_fmt(s)} rad ({_fmt(np.degrees(s))} deg)",
                             f"{_fmt(t)} rad ({_fmt(np.degrees(t))} deg)"))
            else:
                rows.append((label, _fmt(s), _fmt(t)))
    if "body_mass" in diff:
        rows.append(("total mass", _fmt(source.body_mass.sum()), _fmt(target.body_mass.sum())))
    for shift in task.shifts:
        if isinstance(shift, ActionInversion):
            which = "all actuators" if shift.mask is None else f"actuators with mask {list(shift.mask)}"
            rows.append(("executed action", "a", f"-a ({which})"))
    if task.warning:
        rows.append(("warning", "", task.warning))
    for env in envs:
        env.close()
    return rows


def task_table() -> list[tuple[str, str, str]]:
    """(name, family, description) of every task in TASKS."""
    return [(t.name, t.family, t.description) for t in TASKS.values()]


def print_task_list(family: str | None = None) -> None:
    """The table `daftrl tasks` prints: every task, or those of one family."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="daftrl tasks (target domains)")
    table.add_column("task", no_wrap=True)
    table.add_column("family")
    table.add_column("description")
    for row in task_table():
        if family in (None, row[1]):
            table.add_row(*row)
    console = Console()
    console.print(table)
    console.print("ODRL gravity/friction factors: any positive number, e.g. halfcheetah-gravity-0.37")


def print_task(name: str) -> None:
    """The table `daftrl tasks show NAME` prints: what the task changes (`describe_task`)."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=name)
    for column in ("quantity", "source", "target"):
        table.add_column(column, overflow="fold")
    for row in describe_task(name):
        table.add_row(*(escape(x) for x in row))
    Console().print(table)

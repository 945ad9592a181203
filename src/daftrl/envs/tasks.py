"""The task registry: the DAFT paper's 8 tasks, action inversion and the ODRL shift families.

Every number comes from the reference code (PAR `dmksjfl/PAR@a528ed8`, VGDF `Kavka1/VGDF@9f65d60`, ODRL
`OffDynamicsRL/off-dynamics-rl@34bba73`) and docs/tasks.md. Edits apply to the stock Gymnasium v5 model; Hopper
and Walker2d edits are written in the reference XMLs' global coordinates and converted to the local frames of
Gymnasium's XMLs with the rule given in docs/tasks.md (`capsule_in_body`).
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Callable

import numpy as np

from daftrl.envs.robots import ROBOTS
from daftrl.envs.shifts import (
    ActionInversion,
    BodyEdit,
    Friction,
    GeomEdit,
    Gravity,
    JointEdit,
    JointRange,
    JointRangeWidth,
    Shift,
    decimal,
)


@dataclasses.dataclass(frozen=True)
class Task:
    """A target domain: the stock v5 model of `robot` with `shifts` applied. The source domain is the stock model."""

    name: str
    robot: str
    shifts: tuple[Shift, ...]
    description: str
    family: str = "custom"
    """paper | inverted | gravity | friction | kinematic | morph, or custom for user-defined tasks."""
    warning: str | None = None
    """Emitted as a UserWarning whenever the target env is built."""

    def __post_init__(self):
        if self.robot not in ROBOTS:
            raise ValueError(f"unknown robot {self.robot!r}; choose one of {', '.join(ROBOTS)}")
        object.__setattr__(self, "shifts", tuple(self.shifts))
        for shift in self.shifts:
            if not isinstance(shift, Shift):
                raise ValueError(f"task {self.name!r}: {shift!r} is not a daftrl.envs.Shift")

    @property
    def source_id(self) -> str:
        return ROBOTS[self.robot].gym_id

    @property
    def obs_dim(self) -> int:
        return ROBOTS[self.robot].obs_dim

    @property
    def act_dim(self) -> int:
        return ROBOTS[self.robot].act_dim


# --------------------------------------------------------------------------------------------- global -> local
# Global position of the body frames of Gymnasium's hopper.xml / walker2d_v5.xml at qpos0 (the same for the
# left leg). The reference XMLs give positions in these global coordinates.
BODY_ORIGIN = {"torso": (0.0, 0.0, 1.25), "thigh": (0.0, 0.0, 1.05), "leg": (0.0, 0.0, 0.35),
               "hopper foot": (0.13, 0.0, 0.0), "walker foot": (0.2, 0.0, 0.0)}


def point_in_body(p, body: str) -> tuple[float, float, float]:
    """Local position in `body` of the global point p (every body frame here has the world's orientation)."""
    return tuple(float(x) for x in np.asarray(p, float) - np.asarray(BODY_ORIGIN[body]))


def capsule_in_body(p1, p2, body: str) -> tuple[tuple[float, float, float], float]:
    """(local pos, half-length) of the capsule between global points p1 and p2 in `body`:
    pos = (p1 + p2) / 2 - body origin, half-length = |p2 - p1| / 2; the axis keeps its direction. This converts
    PAR's and ODRL's global-coordinate Hopper/Walker2d XMLs (docs/tasks.md, "The paper's 8 tasks")."""
    p1, p2 = np.asarray(p1, float), np.asarray(p2, float)
    return point_in_body((p1 + p2) / 2, body), float(np.linalg.norm(p2 - p1) / 2)


def _capsule(geom: str, p1, p2, body: str, radius: float) -> GeomEdit:
    pos, half = capsule_in_body(p1, p2, body)
    return GeomEdit(geom, size=(radius, half), pos=pos)


# --------------------------------------------------------------------------------------------- the paper's 8 tasks
PAPER = [
    Task("halfcheetah-broken-back-thigh", "halfcheetah", (JointRange(("bthigh",), 0.01, 0.01),),
         "back thigh joint range x0.01: [-0.52, 1.05] -> [-0.0052, 0.0105] rad", "paper"),
    Task("halfcheetah-no-thighs", "halfcheetah", (  # PAR halfcheetah_morph.xml, already in local coordinates
        GeomEdit("bthigh", fromto=(0, 0, 0, -0.0001, 0, -0.0001)),
        BodyEdit("bshin", (-0.0001, 0, -0.0001)),
        GeomEdit("bshin", fromto=(0, 0, 0, -0.13, 0, -0.15)),
        BodyEdit("bfoot", (-0.13, 0, -0.15)),
        GeomEdit("bfoot", size=(0.046, 0.07)),
        GeomEdit("fthigh", fromto=(0, 0, 0, 0.0001, 0, 0.0001)),
        BodyEdit("fshin", (0.0001, 0, 0.0001)),
        GeomEdit("fshin", fromto=(0, 0, 0, 0.01, 0, -0.16)),
        BodyEdit("ffoot", (0.01, 0, -0.16)),
    ), "both thighs shrunk to ~1e-4 m, shins re-attached at the hips, back foot 0.094 -> 0.07 (PAR XML)", "paper"),
    Task("hopper-broken-joints", "hopper", (JointRange(("thigh_joint",), 0.001, 1.0),
                                            JointRange(("foot_joint",), 0.4, 0.4)),
         "hip lower limit x0.001 ([-150, 0] -> [-0.15, 0] deg), foot range x0.4 (+-45 -> +-18 deg)", "paper"),
    Task("hopper-big-head", "hopper", (GeomEdit("torso_geom", size=(0.125,)), GeomEdit("thigh_geom", size=(0.04,))),
         "torso radius 0.05 -> 0.125 (head 7.6x heavier), thigh radius 0.05 -> 0.04 (PAR XML)", "paper"),
    Task("walker-broken-right-foot", "walker", (JointRange(("foot_joint",), 0.01, 0.01),),
         "right foot joint range x0.01: +-45 -> +-0.45 deg", "paper"),
    Task("walker-no-right-thigh", "walker", (  # PAR walker_morph.xml in local coordinates (capsule_in_body)
        GeomEdit("thigh_geom", size=(0.05, 0.0025), pos=(0, 0, -0.0025)),
        JointEdit("leg_joint", (0, 0, 0.695)),
        GeomEdit("leg_geom", size=(0.04, 0.3725), pos=(0, 0, 0.3225)),
        JointEdit("foot_joint", (-0.2, 0, 0.3)),
        GeomEdit("foot_geom", pos=(-0.1, 0, 0.3)),
    ), "right thigh 0.45 -> 0.005 m, right shin 0.5 -> 0.745 m, right foot 0.2 m higher (PAR XML)", "paper"),
    Task("ant-broken-hips", "ant", (JointRange(("hip_1", "hip_2"), 0.01, 0.01),),
         "front hips (legs 1, 2) range x0.01: +-30 -> +-0.3 deg", "paper"),
    Task("ant-short-feet", "ant", (GeomEdit("left_ankle_geom", fromto=(0, 0, 0, 0.1, 0.1, 0)),
                                   GeomEdit("right_ankle_geom", fromto=(0, 0, 0, -0.1, 0.1, 0))),
         "front ankle capsules (legs 1, 2) length x0.25 (PAR XML)", "paper"),
]

INVERTED = [
    Task(f"{robot}-inverted-actions", robot, (ActionInversion(),),
         "every action negated before the step (miswired motors, DAFT App. A)", "inverted")
    for robot in ROBOTS
]

# --------------------------------------------------------------------------------------------- ODRL families
LEVELS = {"easy": 0.8, "medium": 0.5, "hard": 0.2}  # ODRL kinematic range factors
STANDARD_FACTORS = (0.1, 0.5, 2.0, 5.0)  # ODRL gravity and friction factors

KINEMATIC_JOINTS = {
    "halfcheetah": {"footjnt": ("bfoot", "ffoot"), "thighjnt": ("bthigh", "fthigh")},
    "hopper": {"footjnt": ("foot_joint",), "legjnt": ("leg_joint",)},
    "walker": {"footjnt": ("foot_joint", "foot_left_joint"), "thighjnt": ("thigh_joint", "thigh_left_joint")},
    "ant": {"hipjnt": ("hip_1", "hip_2", "hip_3", "hip_4"), "anklejnt": ("ankle_1", "ankle_2", "ankle_3", "ankle_4")},
}

Morph = tuple[tuple[Shift, ...], str]


def _halfcheetah_thigh(level: str) -> Morph:
    """Thighs become `fromto` capsules from the hip to (x, z); the shins hang from there as `fromto` capsules."""
    back = {"easy": (0.11, -0.11), "medium": (0.08, -0.08), "hard": (0.02, -0.02)}[level]
    front = {"easy": (-0.09, -0.1), "medium": (-0.07, -0.08), "hard": (-0.04, -0.05)}[level]
    shifts = []
    for thigh, shin, foot, end, shin_end in (("bthigh", "bshin", "bfoot", back, (-0.13, -0.15)),
                                             ("fthigh", "fshin", "ffoot", front, (0.11, -0.13))):
        shifts += [GeomEdit(thigh, fromto=(0, 0, 0, end[0], 0, end[1])), BodyEdit(shin, (end[0], 0, end[1])),
                   GeomEdit(shin, fromto=(0, 0, 0, shin_end[0], 0, shin_end[1])),
                   BodyEdit(foot, (shin_end[0], 0, shin_end[1]))]
    return tuple(shifts), f"thighs shortened to end at {back} (back) and {front} (front) (x, z)"


def _halfcheetah_torso(level: str) -> Morph:
    half = {"easy": 0.4, "medium": 0.25, "hard": 0.1}[level]
    head_x = {"easy": 0.5, "medium": 0.35, "hard": 0.2}[level]
    return ((GeomEdit("torso", fromto=(-half, 0, 0, half, 0, 0)), GeomEdit("head", pos=(head_x, 0, 0.1)),
             BodyEdit("bthigh", (-half, 0, 0)), BodyEdit("fthigh", (half, 0, 0))),
            f"torso half-length 0.5 -> {half}, head and hips moved with it")


def _torso(level: str) -> Morph:
    """Hopper/Walker2d torso capsule: top 1.45 -> 1.53/1.69/1.85 m (bottom 1.05), radius 0.05 -> 0.075/0.1/0.125."""
    top, radius = {"easy": (1.53, 0.075), "medium": (1.69, 0.1), "hard": (1.85, 0.125)}[level]
    return ((_capsule("torso_geom", (0, 0, 1.05), (0, 0, top), "torso", radius),),
            f"torso top 1.45 -> {top} m, radius 0.05 -> {radius}")


def _hopper_foot(level: str) -> Morph:
    """Foot capsule end points (x -0.13 .. 0.26 at z 0.1) and radius 0.06 scaled by 0.8/0.6/0.4."""
    f = {"easy": 0.8, "medium": 0.6, "hard": 0.4}[level]
    x0, x1, radius = decimal(-0.13 * f), decimal(0.26 * f), decimal(0.06 * f)
    return ((_capsule("foot_geom", (x0, 0, 0.1), (x1, 0, 0.1), "hopper foot", radius),),
            f"foot capsule x -0.13..0.26 -> {x0}..{x1}, radius 0.06 -> {radius}")


def _walker_leg(level: str) -> Morph:
    """Both knees from z 0.6 to 0.5/0.35/0.2 m: thigh (1.05 -> knee) longer, shin (knee -> 0.1) shorter."""
    knee = {"easy": 0.5, "medium": 0.35, "hard": 0.2}[level]
    shifts = []
    for side in ("", "_left"):
        shifts += [_capsule(f"thigh{side}_geom", (0, 0, 1.05), (0, 0, knee), "thigh", 0.05),
                   JointEdit(f"leg{side}_joint", point_in_body((0, 0, knee), "leg")),
                   _capsule(f"leg{side}_geom", (0, 0, knee), (0, 0, 0.1), "leg", 0.04)]
    return tuple(shifts), f"both knees moved from z 0.6 to {knee} m (thigh longer, shin shorter)"


ANKLE_ENDS = {"left_ankle_geom": (0.4, 0.4), "right_ankle_geom": (-0.4, 0.4), "third_ankle_geom": (-0.4, -0.4),
              "fourth_ankle_geom": (0.4, -0.4)}


def _ant_legs(geoms: tuple[str, ...], what: str) -> Callable[[str], Morph]:
    def build(level: str) -> Morph:
        f = {"easy": 0.8, "medium": 0.5, "hard": 0.2}[level]
        return (tuple(GeomEdit(g, fromto=(0, 0, 0, decimal(ANKLE_ENDS[g][0] * f), decimal(ANKLE_ENDS[g][1] * f), 0))
                      for g in geoms), f"{what} ankle capsules length x{f}")

    return build


MORPH: dict[str, dict[str, Callable[[str], Morph]]] = {
    "halfcheetah": {"thigh": _halfcheetah_thigh, "torso": _halfcheetah_torso},
    "hopper": {"torso": _torso, "foot": _hopper_foot},
    "walker": {"torso": _torso, "leg": _walker_leg},
    "ant": {"alllegs": _ant_legs(tuple(ANKLE_ENDS), "all four"),
            "halflegs": _ant_legs(("left_ankle_geom", "right_ankle_geom"), "front (legs 1, 2)")},
}


def factor_name(f: float) -> str:
    """Canonical spelling of a gravity/friction factor in a task name: 0.5, 2.0, 0.37."""
    return repr(float(f))


def gravity_task(robot: str, f: float) -> Task:
    return Task(f"{robot}-gravity-{factor_name(f)}", robot, (Gravity(f),),
                f"gravity x{f:g}: g_z -9.81 -> {decimal(-9.81 * f):g}", "gravity")


def friction_task(robot: str, f: float) -> Task:
    """ODRL friction x f; Hopper's floor keeps MuJoCo's default 1.0 and its geoms scale the sliding value
    (docs/tasks.md, Friction)."""
    hopper = robot == "hopper"
    warning = None
    if hopper and f < 0.5:
        warning = (f"hopper-friction-{factor_name(f)} is the same task as hopper-friction-0.5: MuJoCo uses the larger "
                   "friction of two touching geoms and Hopper's floor keeps 1.0 (ODRL issue #8)")
    what = "sliding friction of every geom but the floor" if hopper else "every friction coefficient"
    return Task(f"{robot}-friction-{factor_name(f)}", robot,
                (Friction(f, exclude=("floor",) if hopper else (), sliding_only=hopper),), f"{what} x{f:g}",
                "friction", warning)


def kinematic_task(robot: str, part: str, level: str) -> Task:
    joints, f = KINEMATIC_JOINTS[robot][part], LEVELS[level]
    # ODRL's ankles keep their +-30 deg limit and shrink the range's width (docs/tasks.md, Kinematic)
    shift = JointRangeWidth(joints, f) if part == "anklejnt" else JointRange(joints, f, f)
    what = "range width" if part == "anklejnt" else "range"
    return Task(f"{robot}-kinematic-{part}-{level}", robot, (shift,),
                f"{', '.join(joints)} {what} x{f:g} ({level})", "kinematic")


def morph_task(robot: str, part: str, level: str) -> Task:
    shifts, what = MORPH[robot][part](level)
    return Task(f"{robot}-morph-{part}-{level}", robot, shifts, f"{what} ({level})", "morph")


def _standard_tasks() -> dict[str, Task]:
    tasks = [*PAPER, *INVERTED]
    for robot in ROBOTS:
        tasks += [gravity_task(robot, f) for f in STANDARD_FACTORS]
        tasks += [friction_task(robot, f) for f in STANDARD_FACTORS]
        tasks += [kinematic_task(robot, part, level) for part in KINEMATIC_JOINTS[robot] for level in LEVELS]
        tasks += [morph_task(robot, part, level) for part in MORPH[robot] for level in LEVELS]
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _standard_tasks()

_ROBOT = "|".join(ROBOTS)
_FACTOR_RE = re.compile(rf"^({_ROBOT})-(gravity|friction)-(.*)$")
_LEVEL_RE = re.compile(rf"^({_ROBOT})-(kinematic|morph)-([^-]*)-(.*)$")


def _factor(name: str, family: str, raw: str) -> float:
    try:
        f = float(raw) if re.fullmatch(r"[0-9.eE+-]+", raw) else float("nan")
    except ValueError:
        f = float("nan")
    if not (0 < f < float("inf")):
        raise ValueError(f"{name!r}: the {family} factor must be a positive number (standard: "
                         f"{', '.join(map(str, STANDARD_FACTORS))}), got {raw!r}")
    return f


def get_task(name: str | Task) -> Task:
    """The task called `name` (a `Task` is returned as is). Gravity and friction accept any positive factor;
    anything else raises ValueError saying what is allowed or naming the closest task names."""
    if isinstance(name, Task):
        return name
    if not isinstance(name, str):
        raise ValueError(f"a task is a name or a daftrl.envs.Task, got {type(name).__name__}")
    if name in TASKS:
        return TASKS[name]
    if m := _FACTOR_RE.match(name):
        robot, family, raw = m.groups()
        return (gravity_task if family == "gravity" else friction_task)(robot, _factor(name, family, raw))
    if m := _LEVEL_RE.match(name):
        robot, family, part, level = m.groups()
        parts = KINEMATIC_JOINTS[robot] if family == "kinematic" else MORPH[robot]
        if part not in parts:
            raise ValueError(f"{name!r}: the {robot} {family} parts are {', '.join(parts)}")
        raise ValueError(f"{name!r}: the level must be one of {', '.join(LEVELS)}, got {level!r}")
    close = difflib.get_close_matches(name.lower().replace("walker2d-", "walker-"), TASKS, n=4, cutoff=0.6)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ValueError(f"unknown task {name!r}{hint} (`daftrl tasks` lists them; robots: {', '.join(ROBOTS)})")

"""The task registry: the DAFT paper's 8 tasks, action inversion and the ODRL shift families.

Numbers and their sources: notes/tasks.md (PAR `dmksjfl/PAR@a528ed8`, VGDF `Kavka1/VGDF@9f65d60`, ODRL
`OffDynamicsRL/off-dynamics-rl@34bba73`); every edit is applied to the stock Gymnasium v5 model, in
the local coordinates of Gymnasium's XMLs (section 2.3); see docs/tasks.md.
"""

from __future__ import annotations

import dataclasses
import difflib
import re

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
)


@dataclasses.dataclass(frozen=True)
class Task:
    """A target domain: a robot's stock v5 model with `shifts` applied."""

    name: str
    robot: str
    shifts: tuple[Shift, ...]
    description: str
    family: str = "custom"
    warning: str | None = None

    def __post_init__(self):
        if self.robot not in ROBOTS:
            raise ValueError(f"unknown robot {self.robot!r}; choose one of {', '.join(ROBOTS)}")

    @property
    def source_id(self) -> str:
        return ROBOTS[self.robot].gym_id

    @property
    def obs_dim(self) -> int:
        return ROBOTS[self.robot].obs_dim

    @property
    def act_dim(self) -> int:
        return ROBOTS[self.robot].act_dim


# ----------------------------------------------------------------------------- the paper's 8 tasks (section 2)
def _capsule_z(z_bottom: float, z_top: float, body_z: float) -> tuple[tuple[float, float, float], float]:
    """Local pos and half-length of a vertical capsule between global heights (section 2.3 rule)."""
    return (0.0, 0.0, (z_bottom + z_top) / 2 - body_z), (z_top - z_bottom) / 2


PAPER = [
    Task("halfcheetah-broken-back-thigh", "halfcheetah", (JointRange(("bthigh",), 0.01, 0.01),),
         "back thigh joint range x0.01: [-0.52, 1.05] -> [-0.0052, 0.0105] rad", "paper"),
    Task("halfcheetah-no-thighs", "halfcheetah", (
        GeomEdit("bthigh", fromto=(0, 0, 0, -0.0001, 0, -0.0001)),
        BodyEdit("bshin", (-0.0001, 0, -0.0001)),
        GeomEdit("bshin", fromto=(0, 0, 0, -0.13, 0, -0.15)),
        BodyEdit("bfoot", (-0.13, 0, -0.15)),
        GeomEdit("bfoot", size=(0.046, 0.07)),
        GeomEdit("fthigh", fromto=(0, 0, 0, 0.0001, 0, 0.0001)),
        BodyEdit("fshin", (0.0001, 0, 0.0001)),
        GeomEdit("fshin", fromto=(0, 0, 0, 0.01, 0, -0.16)),
        BodyEdit("ffoot", (0.01, 0, -0.16)),
    ), "both thighs shrunk to ~1e-4 m, shins re-attached, back foot 0.094 -> 0.07 (PAR/VGDF XML)", "paper"),
    Task("hopper-broken-joints", "hopper", (JointRange(("thigh_joint",), 0.001, 1.0),
                                            JointRange(("foot_joint",), 0.4, 0.4)),
         "hip lower limit x0.001 ([-150, 0] -> [-0.15, 0] deg), foot range x0.4 (+-45 -> +-18 deg)", "paper"),
    Task("hopper-big-head", "hopper", (GeomEdit("torso_geom", size=(0.125,)), GeomEdit("thigh_geom", size=(0.04,))),
         "torso radius 0.05 -> 0.125 (7.6x heavier head), thigh radius 0.05 -> 0.04", "paper"),
    Task("walker-broken-right-foot", "walker", (JointRange(("foot_joint",), 0.01, 0.01),),
         "right foot joint range x0.01: +-45 -> +-0.45 deg", "paper"),
    Task("walker-no-right-thigh", "walker", (
        GeomEdit("thigh_geom", size=(0.05, 0.0025), pos=(0, 0, -0.0025)),
        JointEdit("leg_joint", (0, 0, 0.695)),
        GeomEdit("leg_geom", size=(0.04, 0.3725), pos=(0, 0, 0.3225)),
        JointEdit("foot_joint", (-0.2, 0, 0.3)),
        GeomEdit("foot_geom", pos=(-0.1, 0, 0.3)),
    ), "right thigh 0.45 -> 0.005 m, right shin 0.5 -> 0.745 m, right foot 0.2 m higher", "paper"),
    Task("ant-broken-hips", "ant", (JointRange(("hip_1", "hip_2"), 0.01, 0.01),),
         "front hips (legs 1, 2) range x0.01: +-30 -> +-0.3 deg", "paper"),
    Task("ant-short-feet", "ant", (GeomEdit("left_ankle_geom", fromto=(0, 0, 0, 0.1, 0.1, 0)),
                                   GeomEdit("right_ankle_geom", fromto=(0, 0, 0, -0.1, 0.1, 0))),
         "front ankles (legs 1, 2) length x0.25", "paper"),
]

INVERTED = [
    Task(f"{robot}-inverted-actions", robot, (ActionInversion(),),
         "every action negated before the step (miswired motors, DAFT appendix A)", "inverted")
    for robot in ROBOTS
]

# ----------------------------------------------------------------------------- ODRL families (section 4)
LEVELS = {"easy": 0.8, "medium": 0.5, "hard": 0.2}
STANDARD_FACTORS = (0.1, 0.5, 2.0, 5.0)

KINEMATIC_JOINTS = {
    "halfcheetah": {"footjnt": ("bfoot", "ffoot"), "thighjnt": ("bthigh", "fthigh")},
    "hopper": {"footjnt": ("foot_joint",), "legjnt": ("leg_joint",)},
    "walker": {"footjnt": ("foot_joint", "foot_left_joint"), "thighjnt": ("thigh_joint", "thigh_left_joint")},
    "ant": {"hipjnt": ("hip_1", "hip_2", "hip_3", "hip_4"), "anklejnt": ("ankle_1", "ankle_2", "ankle_3", "ankle_4")},
}


def _kinematic(robot: str, part: str, f: float) -> tuple[Shift, ...]:
    joints = KINEMATIC_JOINTS[robot][part]
    if part == "anklejnt":  # ODRL keeps the +-30 deg end and shrinks the width
        return (JointRangeWidth(joints, f),)
    return (JointRange(joints, f, f),)


def _morph_halfcheetah_thigh(level: str) -> tuple[Shift, ...]:
    back = {"easy": (0.11, -0.11), "medium": (0.08, -0.08), "hard": (0.02, -0.02)}[level]
    front = {"easy": (-0.09, -0.1), "medium": (-0.07, -0.08), "hard": (-0.04, -0.05)}[level]
    return (
        GeomEdit("bthigh", fromto=(0, 0, 0, back[0], 0, back[1])), BodyEdit("bshin", (back[0], 0, back[1])),
        GeomEdit("bshin", fromto=(0, 0, 0, -0.13, 0, -0.15)), BodyEdit("bfoot", (-0.13, 0, -0.15)),
        GeomEdit("fthigh", fromto=(0, 0, 0, front[0], 0, front[1])), BodyEdit("fshin", (front[0], 0, front[1])),
        GeomEdit("fshin", fromto=(0, 0, 0, 0.11, 0, -0.13)), BodyEdit("ffoot", (0.11, 0, -0.13)),
    )


def _morph_halfcheetah_torso(level: str) -> tuple[Shift, ...]:
    half = {"easy": 0.4, "medium": 0.25, "hard": 0.1}[level]
    return (GeomEdit("torso", fromto=(-half, 0, 0, half, 0, 0)), GeomEdit("head", pos=(half + 0.1, 0, 0.1)),
            BodyEdit("bthigh", (-half, 0, 0)), BodyEdit("fthigh", (half, 0, 0)))


def _morph_torso(level: str) -> tuple[Shift, ...]:
    """Hopper/Walker torso: top 1.45 -> 1.53/1.69/1.85 m (bottom 1.05), radius 0.05 -> 0.075/0.1/0.125."""
    top, radius = {"easy": (1.53, 0.075), "medium": (1.69, 0.1), "hard": (1.85, 0.125)}[level]
    pos, half = _capsule_z(1.05, top, 1.25)
    return (GeomEdit("torso_geom", size=(radius, half), pos=pos),)


def _morph_hopper_foot(level: str) -> tuple[Shift, ...]:
    """Foot capsule endpoints x (-0.13, 0.26) and radius 0.06 scaled by f (foot body at x = 0.13)."""
    f = {"easy": 0.8, "medium": 0.6, "hard": 0.4}[level]
    x0, x1 = -0.13 * f, 0.26 * f
    return (GeomEdit("foot_geom", size=(0.06 * f, (x1 - x0) / 2), pos=((x0 + x1) / 2 - 0.13, 0, 0.1)),)


def _morph_walker_leg(level: str) -> tuple[Shift, ...]:
    """Both knees from z 0.6 down to 0.5/0.35/0.2 m: thigh (1.05 -> knee) longer, shin (knee -> 0.1) shorter."""
    knee = {"easy": 0.5, "medium": 0.35, "hard": 0.2}[level]
    thigh_pos, thigh_half = _capsule_z(knee, 1.05, 1.05)
    leg_pos, leg_half = _capsule_z(0.1, knee, 0.35)
    out: list[Shift] = []
    for side in ("", "_left"):
        out += [GeomEdit(f"thigh{side}_geom", size=(0.05, thigh_half), pos=thigh_pos),
                JointEdit(f"leg{side}_joint", (0, 0, knee - 0.35)),
                GeomEdit(f"leg{side}_geom", size=(0.04, leg_half), pos=leg_pos)]
    return tuple(out)


ANKLES = {"left_ankle_geom": (0.4, 0.4), "right_ankle_geom": (-0.4, 0.4), "third_ankle_geom": (-0.4, -0.4),
          "fourth_ankle_geom": (0.4, -0.4)}


def _morph_ant(geoms: tuple[str, ...], level: str) -> tuple[Shift, ...]:
    f = {"easy": 0.8, "medium": 0.5, "hard": 0.2}[level]
    return tuple(GeomEdit(g, fromto=(0, 0, 0, ANKLES[g][0] * f, ANKLES[g][1] * f, 0)) for g in geoms)


MORPH = {
    "halfcheetah": {"thigh": _morph_halfcheetah_thigh, "torso": _morph_halfcheetah_torso},
    "hopper": {"torso": _morph_torso, "foot": _morph_hopper_foot},
    "walker": {"torso": _morph_torso, "leg": _morph_walker_leg},
    "ant": {"alllegs": lambda lv: _morph_ant(tuple(ANKLES), lv),
            "halflegs": lambda lv: _morph_ant(("left_ankle_geom", "right_ankle_geom"), lv)},
}

HOPPER_FRICTION_WARNING = (
    "hopper-friction-{f}: MuJoCo uses the larger friction of two touching geoms and Hopper's floor keeps 1.0, "
    "so every factor <= 0.5 gives the same task (ODRL issue #8); prefer factors > 0.5"
)


def _factor_name(f: float) -> str:
    return f"{float(f):g}" if float(f) != int(f) else f"{float(f):.1f}"


def gravity_task(robot: str, f: float) -> Task:
    return Task(f"{robot}-gravity-{_factor_name(f)}", robot, (Gravity(f),), f"gravity x{f:g}", "gravity")


def friction_task(robot: str, f: float) -> Task:
    exclude = ("floor",) if robot == "hopper" else ()  # Hopper's floor has no friction class (keeps 1.0)
    warning = HOPPER_FRICTION_WARNING.format(f=_factor_name(f)) if robot == "hopper" and f <= 0.5 else None
    components = 1 if robot == "hopper" else 3  # Hopper's XML sets only the sliding coefficient
    return Task(f"{robot}-friction-{_factor_name(f)}", robot, (Friction(f, exclude, components),),
                f"every friction coefficient x{f:g}" + (" (floor excluded)" if exclude else ""), "friction", warning)


def kinematic_task(robot: str, part: str, level: str) -> Task:
    joints = KINEMATIC_JOINTS[robot][part]
    return Task(f"{robot}-kinematic-{part}-{level}", robot, _kinematic(robot, part, LEVELS[level]),
                f"{', '.join(joints)} range x{LEVELS[level]:g} ({level})", "kinematic")


def morph_task(robot: str, part: str, level: str) -> Task:
    return Task(f"{robot}-morph-{part}-{level}", robot, MORPH[robot][part](level),
                f"{part} morphology, {level} (ODRL)", "morph")


def _standard_tasks() -> dict[str, Task]:
    tasks = [*PAPER, *INVERTED]
    for robot in ROBOTS:
        tasks += [gravity_task(robot, f) for f in STANDARD_FACTORS]
        tasks += [friction_task(robot, f) for f in STANDARD_FACTORS]
        tasks += [kinematic_task(robot, p, lv) for p in KINEMATIC_JOINTS[robot] for lv in LEVELS]
        tasks += [morph_task(robot, p, lv) for p in MORPH[robot] for lv in LEVELS]
    return {t.name: t for t in tasks}


TASKS: dict[str, Task] = _standard_tasks()

_FACTOR_RE = re.compile(r"^(halfcheetah|hopper|walker|ant)-(gravity|friction)-(.+)$")
_LEVEL_RE = re.compile(r"^(halfcheetah|hopper|walker|ant)-(kinematic|morph)-([a-z]+)-(.+)$")


def get_task(name: str | Task) -> Task:
    """The task called `name` (any positive factor for gravity/friction); ValueError with close matches."""
    if isinstance(name, Task):
        return name
    if not isinstance(name, str):
        raise ValueError(f"a task is named by a string, got {type(name).__name__}")
    if name in TASKS:
        return TASKS[name]
    m = _FACTOR_RE.match(name)
    if m:
        robot, family, raw = m.groups()
        try:
            f = float(raw)
        except ValueError:
            f = float("nan")
        if not (f > 0 and f != float("inf")):
            raise ValueError(f"{name!r}: the {family} factor must be a positive number (e.g. {robot}-{family}-0.5), "
                             f"got {raw!r}")
        return gravity_task(robot, f) if family == "gravity" else friction_task(robot, f)
    m = _LEVEL_RE.match(name)
    if m:
        robot, family, part, level = m.groups()
        parts = KINEMATIC_JOINTS[robot] if family == "kinematic" else MORPH[robot]
        if part not in parts:
            raise ValueError(f"{name!r}: {robot} {family} parts are {', '.join(parts)}")
        if level not in LEVELS:
            raise ValueError(f"{name!r}: the level must be one of {', '.join(LEVELS)}, got {level!r}")
    close = difflib.get_close_matches(name, TASKS, n=4, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `daftrl tasks` lists them"
    raise ValueError(f"unknown task {name!r}{hint}")

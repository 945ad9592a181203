"""Shift primitives: small composable edits that turn a robot's source model into a target (docs/tasks.md).

A task is a robot plus a tuple of shifts, applied in order by `daftrl.envs.make.compile_model`:
`apply_spec` edits the `mujoco.MjSpec` parsed from the stock Gymnasium XML before it is compiled
(geometry, inertia from geometry, gravity, friction: exact, no XML round trip); `apply_model` edits
run-time parameters of the compiled model that nothing else is derived from (joint ranges);
`transform_action` changes the action the target executes (action inversion). A new task in a few
lines (docs/tasks.md)::

    from daftrl.envs import Gravity, JointRange, Task, make_env
    task = Task("hopper-stiff-knee-low-g", "hopper", (JointRange(("leg_joint",), 0.3, 0.3), Gravity(0.5)),
                "knee range x0.3 under half gravity")
    env = make_env(task, domain="target")
"""

from __future__ import annotations

import dataclasses

import mujoco
import numpy as np


def decimal(x: float) -> float:
    """`x` rounded to 12 significant digits: a scaled XML value as a person writes it (-9.81 x 0.1 -> -0.981,
    not -0.9810000000000001), which reproduces ODRL's scaled XML files bit for bit (docs/tasks.md, Gravity and
    Friction)."""
    return float(f"{x:.12g}")


class Shift:
    """Base class. Override one or more hooks; the defaults change nothing."""

    def apply_spec(self, spec: mujoco.MjSpec) -> None:  # noqa: B027 - optional hook
        """Edit the model specification before it is compiled."""

    def apply_model(self, model: mujoco.MjModel) -> None:  # noqa: B027 - optional hook
        """Edit a run-time parameter of the compiled model (only ones no other model field is derived from)."""

    def transform_action(self, action: np.ndarray) -> np.ndarray:
        """The action the target env executes when the policy chose `action`."""
        return action


def _find(spec: mujoco.MjSpec, kind: str, name: str):
    element = getattr(spec, kind)(name)
    if element is None:
        names = [e.name for e in getattr(spec, f"{kind}s") if e.name]
        raise ValueError(f"no {kind} {name!r} in model {spec.modelname!r}; its named {kind}s: {', '.join(names)}")
    return element


def _limited_joint(model: mujoco.MjModel, name: str) -> int:
    try:
        jid = model.joint(name).id
    except KeyError:
        raise ValueError(f"no joint {name!r} in the model") from None
    if not model.jnt_limited[jid]:
        raise ValueError(f"joint {name!r} has no range limit, so changing its range would change nothing")
    return jid


@dataclasses.dataclass(frozen=True)
class JointRange(Shift):
    """Multiply the compiled lower and upper limits of `joints` (radians): `jnt_range = source x multiplier`,
    exactly PAR/VGDF's broken-joint wrapper (docs/tasks.md, "The paper's 8 tasks"; it did this on every reset,
    once is equivalent) and ODRL's kinematic range x f (docs/tasks.md, Kinematic)."""

    joints: tuple[str, ...]
    lower: float = 1.0
    upper: float = 1.0

    def apply_model(self, model: mujoco.MjModel) -> None:
        for name in self.joints:
            jid = _limited_joint(model, name)
            model.jnt_range[jid] = model.jnt_range[jid] * np.array([self.lower, self.upper])


@dataclasses.dataclass(frozen=True)
class JointRangeWidth(Shift):
    """Shrink joint ranges to `factor` of their width, keeping the limit nearer zero (ODRL ant-kinematic-anklejnt:
    [30, 70] deg -> [30, 30 + 40 f]; docs/tasks.md, Kinematic)."""

    joints: tuple[str, ...]
    factor: float

    def apply_model(self, model: mujoco.MjModel) -> None:
        for name in self.joints:
            jid = _limited_joint(model, name)
            lo, hi = model.jnt_range[jid]
            width = (hi - lo) * self.factor
            model.jnt_range[jid] = [lo, lo + width] if abs(lo) <= abs(hi) else [hi - width, hi]


@dataclasses.dataclass(frozen=True)
class GeomEdit(Shift):
    """Set a geom's leading `size` entries (capsule: radius, half-length), its `pos` (in its body's frame), or
    its `fromto` end points (which then define its position and orientation, as in MJCF)."""

    name: str
    size: tuple[float, ...] | None = None
    pos: tuple[float, float, float] | None = None
    fromto: tuple[float, float, float, float, float, float] | None = None

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        geom = _find(spec, "geom", self.name)
        if self.size is not None:
            size = list(geom.size)
            size[: len(self.size)] = self.size
            geom.size = size
        if self.pos is not None:
            geom.pos = list(self.pos)
        if self.fromto is not None:
            geom.fromto = list(self.fromto)
            geom.pos, geom.quat = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]
            geom.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT  # drop an `axisangle` the XML gave


@dataclasses.dataclass(frozen=True)
class BodyEdit(Shift):
    """Move a body's frame (its `pos` in its parent's frame)."""

    name: str
    pos: tuple[float, float, float]

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        _find(spec, "body", self.name).pos = list(self.pos)


@dataclasses.dataclass(frozen=True)
class JointEdit(Shift):
    """Move a joint's anchor (its `pos` in its body's frame)."""

    name: str
    pos: tuple[float, float, float]

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        _find(spec, "joint", self.name).pos = list(self.pos)


@dataclasses.dataclass(frozen=True)
class Gravity(Shift):
    """Multiply gravity by `factor` (ODRL gravity family: g_z = -9.81 f; docs/tasks.md, Gravity)."""

    factor: float

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        spec.option.gravity = [decimal(g * self.factor) for g in spec.option.gravity]


@dataclasses.dataclass(frozen=True)
class Friction(Shift):
    """Multiply the friction coefficients of every geom but `exclude` (ODRL friction family; docs/tasks.md, Friction).

    ODRL scaled the values its XML writes: all three (sliding, torsional, rolling) where a default class sets
    them, only the sliding one where MuJoCo's built-in defaults fill the others (Hopper: `sliding_only`).
    Every contact has condim 3, so only the sliding coefficient acts either way."""

    factor: float
    exclude: tuple[str, ...] = ()
    sliding_only: bool = False

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        scaled = 1 if self.sliding_only else 3
        for geom in spec.geoms:
            if geom.name not in self.exclude:
                geom.friction = [decimal(f * self.factor) if i < scaled else f for i, f in enumerate(geom.friction)]


@dataclasses.dataclass(frozen=True)
class Mass(Shift):
    """Multiply the density of a body's geoms, hence its mass and inertia (the robots take inertia from geometry).
    HalfCheetah's `settotalmass="14"` then rescales every body so the total stays 14 kg, as in its morph tasks."""

    body: str
    factor: float

    def apply_spec(self, spec: mujoco.MjSpec) -> None:
        for geom in _find(spec, "body", self.body).geoms:
            geom.density = geom.density * self.factor


@dataclasses.dataclass(frozen=True)
class ActionInversion(Shift):
    """Execute -a when the policy chose a: an "incorrectly connected joint motor" (DAFT App. A; docs/tasks.md,
    "Action inversion"). `mask` selects the reversed actuators (None: all). The env's caller, hence the replay
    buffer, keeps the policy's a."""

    mask: tuple[bool, ...] | None = None

    def transform_action(self, action: np.ndarray) -> np.ndarray:
        action = np.asarray(action)
        if self.mask is None:
            return -action
        return np.where(np.asarray(self.mask, bool), -action, action)

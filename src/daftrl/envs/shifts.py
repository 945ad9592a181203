"""Shift primitives: small composable edits of a robot's model (notes/tasks.md sections 2-4).

A task is a robot plus a tuple of shifts. Model shifts edit the `mujoco.MjSpec` parsed from the stock
Gymnasium XML before it is compiled (exact: no XML round trip); `transform_action` changes what the
env executes (action inversion). Define a new task in a few lines::

    from daftrl.envs import Task, JointRange, Gravity, make_env
    task = Task("hopper-stiff-knee-low-g", "hopper", (JointRange(("leg_joint",), 0.3, 0.3), Gravity(0.5)),
                "knee range x0.3 under half gravity", family="custom")
    env = make_env(task, domain="target")
"""

from __future__ import annotations

import dataclasses

import numpy as np


class Shift:
    """Base: a shift edits the spec before compilation and/or transforms the executed action."""

    def apply_spec(self, spec) -> None:  # noqa: B027 - optional hook
        pass

    def transform_action(self, action: np.ndarray) -> np.ndarray:
        return action


def _joint(spec, name: str):
    j = spec.joint(name)
    if j is None:
        raise ValueError(f"no joint {name!r} in the model")
    return j


def _geom(spec, name: str):
    g = spec.geom(name)
    if g is None:
        raise ValueError(f"no geom {name!r} in the model")
    return g


def _body(spec, name: str):
    b = spec.body(name)
    if b is None:
        raise ValueError(f"no body {name!r} in the model")
    return b


@dataclasses.dataclass(frozen=True)
class JointRange(Shift):
    """Multiply the lower and upper limits of joints (PAR/VGDF broken joints, ODRL kinematic)."""

    joints: tuple[str, ...]
    lower: float = 1.0
    upper: float = 1.0

    def apply_spec(self, spec) -> None:
        for name in self.joints:
            j = _joint(spec, name)
            j.range = [j.range[0] * self.lower, j.range[1] * self.upper]


@dataclasses.dataclass(frozen=True)
class JointRangeWidth(Shift):
    """Shrink a joint range to `factor` of its width, keeping the bound closest to zero (ODRL ankles)."""

    joints: tuple[str, ...]
    factor: float

    def apply_spec(self, spec) -> None:
        for name in self.joints:
            j = _joint(spec, name)
            lo, hi = j.range[0], j.range[1]
            width = (hi - lo) * self.factor
            j.range = [lo, lo + width] if abs(lo) <= abs(hi) else [hi - width, hi]


@dataclasses.dataclass(frozen=True)
class GeomEdit(Shift):
    """Set a geom's size entries (given prefix), position, or `fromto` (which overrides pos/orientation)."""

    name: str
    size: tuple[float, ...] | None = None
    pos: tuple[float, float, float] | None = None
    fromto: tuple[float, float, float, float, float, float] | None = None

    def apply_spec(self, spec) -> None:
        g = _geom(spec, self.name)
        if self.size is not None:
            size = list(g.size)
            size[: len(self.size)] = self.size
            g.size = size
        if self.pos is not None:
            g.pos = list(self.pos)
        if self.fromto is not None:  # fromto fixes position and orientation: clear the others
            import mujoco

            g.fromto = list(self.fromto)
            g.pos, g.quat = [0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]
            g.alt.type = mujoco.mjtOrientation.mjORIENTATION_QUAT


@dataclasses.dataclass(frozen=True)
class BodyEdit(Shift):
    """Move a body's frame (in its parent's frame)."""

    name: str
    pos: tuple[float, float, float]

    def apply_spec(self, spec) -> None:
        _body(spec, self.name).pos = list(self.pos)


@dataclasses.dataclass(frozen=True)
class JointEdit(Shift):
    """Move a joint's anchor (in its body's frame)."""

    name: str
    pos: tuple[float, float, float]

    def apply_spec(self, spec) -> None:
        _joint(spec, self.name).pos = list(self.pos)


@dataclasses.dataclass(frozen=True)
class Gravity(Shift):
    """Multiply gravity (ODRL gravity family)."""

    factor: float

    def apply_spec(self, spec) -> None:
        # rounded to 12 digits: -9.81 x 0.1 gives -0.981 exactly as ODRL's XML writes it
        spec.option.gravity = [float(f"{g * self.factor:.12g}") for g in spec.option.gravity]


@dataclasses.dataclass(frozen=True)
class Friction(Shift):
    """Multiply the friction coefficients of every geom except `exclude` (ODRL friction family).

    `components`: how many of (sliding, torsional, rolling) to scale. ODRL scaled the XML values: all
    three where a default class sets them, only the sliding one where MuJoCo's built-in defaults
    fill the rest (Hopper). With condim 3 only sliding friction acts, so both give the same physics."""

    factor: float
    exclude: tuple[str, ...] = ()
    components: int = 3

    def apply_spec(self, spec) -> None:
        for g in spec.geoms:
            if g.name not in self.exclude:
                g.friction = [f * self.factor if i < self.components else f for i, f in enumerate(g.friction)]


@dataclasses.dataclass(frozen=True)
class Mass(Shift):
    """Multiply the density of a body's geoms, hence its mass and inertia (inertia from geometry)."""

    body: str
    factor: float

    def apply_spec(self, spec) -> None:
        body = _body(spec, self.body)
        for g in body.geoms:
            g.density = g.density * self.factor


@dataclasses.dataclass(frozen=True)
class ActionInversion(Shift):
    """Execute -a instead of a ("incorrectly connected joint motor", DAFT appendix A); `mask` selects
    which actuators are reversed (None: all). The replay buffer keeps the policy's action."""

    mask: tuple[bool, ...] | None = None

    def transform_action(self, action: np.ndarray) -> np.ndarray:
        if self.mask is None:
            return -action
        sign = np.where(np.asarray(self.mask, bool), -1.0, 1.0).astype(np.asarray(action).dtype)
        return action * sign

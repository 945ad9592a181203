"""The four robots and their stock Gymnasium v5 source domains (docs/tasks.md; the v2-era differences are under
"Deviations from the v2-era originals")."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Robot:
    """A robot: its source env is `gymnasium.make(gym_id, **dict(kwargs))`, built from `xml_file`."""

    name: str
    gym_id: str
    xml_file: str
    """The stock XML in Gymnasium's `envs/mujoco/assets` that every target of this robot edits."""
    obs_dim: int
    act_dim: int
    kwargs: tuple[tuple[str, object], ...] = ()

    @property
    def xml_path(self) -> str:
        import gymnasium.envs.mujoco

        return str(Path(gymnasium.envs.mujoco.__file__).parent / "assets" / self.xml_file)


ROBOTS: dict[str, Robot] = {
    "halfcheetah": Robot("halfcheetah", "HalfCheetah-v5", "half_cheetah.xml", 17, 6),
    "hopper": Robot("hopper", "Hopper-v5", "hopper.xml", 11, 3),
    # Walker2d-v5 loads its own XML: both feet have friction 1.9 (v2-v4: right foot 0.9; Gymnasium issue #477;
    # docs/tasks.md, "Deviations from the v2-era originals")
    "walker": Robot("walker", "Walker2d-v5", "walker2d_v5.xml", 17, 6),
    # Ant-v5 without the contact forces in the observation: 27 dims (its contact cost stays on; docs/tasks.md,
    # "Deviations from the v2-era originals")
    "ant": Robot("ant", "Ant-v5", "ant.xml", 27, 8, (("include_cfrc_ext_in_observation", False),)),
}

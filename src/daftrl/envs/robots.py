"""The four robots: their stock Gymnasium v5 source envs (notes/tasks.md sections 1 and 5)."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Robot:
    name: str
    gym_id: str
    """The source domain: `gymnasium.make(gym_id, **kwargs)`."""
    env_class: str
    """Gymnasium's v5 class, `module:Class`."""
    xml_file: str
    """The stock XML (in gymnasium/envs/mujoco/assets) that every target edits."""
    obs_dim: int
    act_dim: int
    kwargs: tuple[tuple[str, object], ...] = ()


ROBOTS: dict[str, Robot] = {
    "halfcheetah": Robot("halfcheetah", "HalfCheetah-v5", "gymnasium.envs.mujoco.half_cheetah_v5:HalfCheetahEnv",
                         "half_cheetah.xml", 17, 6),
    "hopper": Robot("hopper", "Hopper-v5", "gymnasium.envs.mujoco.hopper_v5:HopperEnv", "hopper.xml", 11, 3),
    "walker": Robot("walker", "Walker2d-v5", "gymnasium.envs.mujoco.walker2d_v5:Walker2dEnv",
                    "walker2d_v5.xml", 17, 6),
    # Ant-v5 without the contact forces in the observation: 27 dims (its contact cost stays on)
    "ant": Robot("ant", "Ant-v5", "gymnasium.envs.mujoco.ant_v5:AntEnv", "ant.xml", 27, 8,
                 (("include_cfrc_ext_in_observation", False),)),
}


def xml_path(robot: Robot) -> str:
    from pathlib import Path

    import gymnasium.envs.mujoco

    return str(Path(gymnasium.envs.mujoco.__file__).parent / "assets" / robot.xml_file)

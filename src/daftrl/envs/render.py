"""Headless side-by-side pictures of a task's source and target robots (`daftrl tasks render`).

Needs an offscreen OpenGL for MuJoCo, chosen by the MUJOCO_GL environment variable before the first render:
EGL (the default here; Debian packages libegl1, libegl-mesa0, libgl1-mesa-dri, libopengl0 for a software
renderer without a GPU) or OSMesa (libosmesa6, with MUJOCO_GL=osmesa and PYOPENGL_PLATFORM=osmesa).
"""

from __future__ import annotations

import os

import numpy as np

from daftrl.envs.tasks import get_task

# A side view of the planar robots, the Ant from above (free cameras: `lookat` is in world coordinates; the robots
# stand at the origin in their noise-free reset pose).
CAMERAS = {
    "halfcheetah": {"distance": 2.4, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.4)},
    "hopper": {"distance": 2.8, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.75)},
    "walker": {"distance": 2.8, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.75)},
    "ant": {"distance": 3.2, "elevation": -60.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.0)},
}
GAP = 8  # white pixels between the two pictures


def render_frames(name: str, width: int = 320, height: int = 240, seconds: float = 0.3
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) RGB frames: from the noise-free reset pose, after `seconds` of the constant action +1 on
    every actuator (the same for both, so joint limits and inversion show; 0: the reset pose itself)."""
    os.environ.setdefault("MUJOCO_GL", "egl")  # read by Gymnasium's renderer when it is first created
    if os.environ["MUJOCO_GL"] == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    from daftrl.envs.make import make_env

    task = get_task(name)
    camera = {k: np.asarray(v, float) if isinstance(v, tuple) else v for k, v in CAMERAS[task.robot].items()}
    frames = []
    for domain in ("source", "target"):
        env = make_env(task, domain, render_mode="rgb_array", width=width, height=height, reset_noise_scale=0.0,
                       default_camera_config=camera)
        try:
            env.reset(seed=0)
            for _ in range(round(seconds / env.unwrapped.dt)):
                env.unwrapped.step(np.ones(task.act_dim))  # unwrapped: past a termination too
            frames.append(env.render())
        except Exception as e:  # any GL failure gets the same advice
            raise RuntimeError(
                f"headless rendering with MUJOCO_GL={os.environ['MUJOCO_GL']} failed: {e!r}. Install EGL (Debian: "
                "libegl1 libegl-mesa0 libgl1-mesa-dri libopengl0) and use MUJOCO_GL=egl, or OSMesa (libosmesa6) "
                "with MUJOCO_GL=osmesa PYOPENGL_PLATFORM=osmesa, set before Python starts") from e
        finally:
            env.close()
    return frames[0], frames[1]


def render_task(name: str, out_path: str, width: int = 320, height: int = 240, seconds: float = 0.3) -> None:
    """Write a PNG: the source robot (left) and the target robot (right), each `width` x `height`, after
    `seconds` of the same constant action (see `render_frames`)."""
    import imageio.v3 as iio

    source, target = render_frames(name, width, height, seconds)
    gap = np.full((height, GAP, 3), 255, np.uint8)
    iio.imwrite(out_path, np.concatenate([source, gap, target], axis=1))

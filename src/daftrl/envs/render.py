"""Headless pictures of a task's source and target robots, side by side and labelled (`daftrl tasks render`), and the
pieces the videos share (`daftrl.video`): the choice of offscreen OpenGL, render-mode envs, labelled layouts.

MuJoCo renders offscreen through the backend MUJOCO_GL names, read when the first renderer is created: EGL (Debian
packages libegl1, libegl-mesa0, libgl1-mesa-dri, libopengl0 give Mesa's software renderer without a GPU; `make
render-deps` installs them) or OSMesa (libosmesa6, with PYOPENGL_PLATFORM=osmesa). When MUJOCO_GL is unset, daftrl
takes EGL if its libraries are installed, else OSMesa if that is (docs/tasks.md, "Rendering").
"""

from __future__ import annotations

import ctypes.util
import functools
import os
from collections.abc import Sequence

import numpy as np

from daftrl.envs.tasks import Task, get_task

# A side view of the planar robots, the Ant from above (free cameras: `lookat` is in world coordinates; the robots
# stand at the origin in their noise-free reset pose).
CAMERAS = {
    "halfcheetah": {"distance": 2.4, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.4)},
    "hopper": {"distance": 2.8, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.75)},
    "walker": {"distance": 2.8, "elevation": -5.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.75)},
    "ant": {"distance": 3.2, "elevation": -60.0, "azimuth": 90.0, "lookat": (0.0, 0.0, 0.0)},
}
GAP = 8  # white pixels between two pictures
FONT_SIZE = 13
LINE = FONT_SIZE + 5  # pixels per line of text
PAD = 4  # pixels around text

INSTALL = ("install EGL (`make render-deps`; Debian/Ubuntu: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri "
           "libopengl0) and use MUJOCO_GL=egl, or OSMesa (libosmesa6) with MUJOCO_GL=osmesa PYOPENGL_PLATFORM=osmesa, "
           "set before Python starts")


def headless_gl() -> str:
    """The offscreen OpenGL MuJoCo will use, chosen before the first render: MUJOCO_GL when set, else EGL when its
    libraries (libEGL, libOpenGL) are installed, else OSMesa when libOSMesa is. ValueError when there is none."""
    backend = os.environ.get("MUJOCO_GL")
    if not backend:
        if ctypes.util.find_library("EGL") and ctypes.util.find_library("OpenGL"):
            backend = "egl"
        elif ctypes.util.find_library("OSMesa"):
            backend = "osmesa"
        else:
            raise ValueError(f"rendering needs a headless OpenGL for MuJoCo and neither EGL nor OSMesa is installed: "
                             f"{INSTALL}")
        os.environ["MUJOCO_GL"] = backend
    if backend == "osmesa":
        os.environ.setdefault("PYOPENGL_PLATFORM", "osmesa")
    return backend


def gl_failure(error: Exception) -> ValueError:
    """The one-line error for a renderer that could not start (the backend is there but does not work)."""
    return ValueError(f"headless rendering with MUJOCO_GL={os.environ.get('MUJOCO_GL')} failed ({error!r}): {INSTALL}")


def render_env(task: str | Task, domain: str, width: int, height: int, camera: dict | None = None, **gym_kwargs):
    """A fresh env of `task`'s domain (`make_env`, `gym_kwargs` passed on) rendering `width` x `height` RGB frames
    offscreen. The camera: `camera` (a free camera's settings), else the model's "track" camera, which follows the
    robot."""
    from daftrl.envs.make import make_env

    headless_gl()
    view = {"default_camera_config": camera} if camera else {"camera_name": "track"}
    return make_env(task, domain, render_mode="rgb_array", width=width, height=height, **view, **gym_kwargs)


def first_frame(env, fast: bool = True) -> np.ndarray:
    """The env's first rendered frame (this starts its renderer, so a GL failure is a `gl_failure`). fast: turn off
    shadows and floor reflections for this and every later frame (4 to 7 times faster with Mesa's software
    renderer)."""
    import mujoco

    try:
        frame = env.render()
        if fast:
            flags = env.unwrapped.mujoco_renderer.viewer.scn.flags
            flags[mujoco.mjtRndFlag.mjRND_SHADOW] = flags[mujoco.mjtRndFlag.mjRND_REFLECTION] = 0
            frame = env.render()
    except Exception as e:  # any GL failure gets the same advice
        raise gl_failure(e) from e
    return frame


def check_headless_gl() -> str:
    """Render one small frame now (before any long work that ends with a video); ValueError saying what to install
    or set when that fails. Returns the backend."""
    from daftrl.envs.tasks import TASKS

    env = render_env(next(iter(TASKS.values())), "source", 32, 32)
    try:
        env.reset(seed=0)
        first_frame(env)
    finally:
        env.close()
    return os.environ["MUJOCO_GL"]


# ----------------------------------------------------------------------------------------------- labels
@functools.cache
def font(bold: bool = False, size: int = FONT_SIZE):
    """DejaVu Sans (the font matplotlib ships, so it is always there) at `size` pixels, for PIL."""
    from pathlib import Path

    import matplotlib
    from PIL import ImageFont

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    return ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name), size)


def text_block(width: int, lines: Sequence[tuple[str, bool]], shade: int = 255) -> np.ndarray:
    """An RGB strip `width` wide holding `lines` of (text, bold), one per LINE pixels, on grey level `shade`."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, 2 * PAD + LINE * len(lines)), (shade,) * 3)
    draw = ImageDraw.Draw(image)
    for i, (text, bold) in enumerate(lines):
        draw.text((PAD + 2, PAD + i * LINE), text, fill=(20, 20, 20), font=font(bold))
    return np.asarray(image)


def fit(text: str, width: int, bold: bool = False) -> str:
    """`text`, shortened with an ellipsis to fit `width` pixels of a text block."""
    room = width - 2 * PAD - 4
    if font(bold).getlength(text) <= room:
        return text
    while text and font(bold).getlength(text + "…") > room:
        text = text[:-1]
    return text + "…"


def wrap(text: str, width: int) -> list[str]:
    """`text` broken at spaces into lines no wider than `width` pixels (a longer word gets a line of its own)."""
    lines: list[str] = []
    for word in text.split():
        if lines and font().getlength(f"{lines[-1]} {word}") <= width - 2 * PAD - 4:
            lines[-1] += f" {word}"
        else:
            lines.append(word)
    return lines or [""]


def caption(task: Task) -> str:
    """A task and its shift, in one line: `hopper-big-head: torso radius 0.05 -> 0.125 ...`."""
    return f"{task.name}: {task.description}" if task.description else task.name


class SideBySide:
    """Pictures of `width` x `height` next to each other, each under its label (bold) and a note line, all under an
    optional caption (wrapped to the full width). The same layout for every frame of a video."""

    def __init__(self, labels: Sequence[str], width: int, height: int, title: str | None = None):
        self.labels, self.width, self.height = list(labels), width, height
        self.total_width = len(self.labels) * (width + GAP) - GAP
        lines = [(line, False) for line in wrap(title, self.total_width)] if title else []
        self.title = text_block(self.total_width, lines) if lines else np.zeros((0, self.total_width, 3), np.uint8)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.title.shape[0] + 2 * PAD + 2 * LINE + self.height, self.total_width, 3)

    def __call__(self, images: Sequence[np.ndarray], notes: Sequence[str] | None = None) -> np.ndarray:
        notes = notes or [""] * len(images)
        gap = np.full((self.shape[0] - self.title.shape[0], GAP, 3), 255, np.uint8)
        columns = []
        for label, note, image in zip(self.labels, notes, images, strict=True):
            header = text_block(self.width, [(fit(label, self.width, True), True), (fit(note, self.width), False)],
                                shade=235)
            columns += [np.concatenate([header, image], axis=0), gap]
        return np.concatenate([self.title, np.concatenate(columns[:-1], axis=1)], axis=0)


def domain_notes(task: Task) -> tuple[str, str]:
    """What the source and target panels of `task` show: the stock Gymnasium env, the task's target."""
    from daftrl.envs.robots import ROBOTS

    return f"stock {ROBOTS[task.robot].gym_id}", task.name


# ----------------------------------------------------------------------------------------------- still pictures
def render_frames(name: str | Task, width: int = 320, height: int = 240, seconds: float = 0.3
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(source, target) RGB frames: from the noise-free reset pose, after `seconds` of the constant action +1 on
    every actuator (the same for both, so joint limits and inversion show; 0: the reset pose itself)."""
    task = get_task(name)
    camera = {k: np.asarray(v, float) if isinstance(v, tuple) else v for k, v in CAMERAS[task.robot].items()}
    frames = []
    for domain in ("source", "target"):
        env = render_env(task, domain, width, height, camera, reset_noise_scale=0.0)
        try:
            env.reset(seed=0)
            for _ in range(round(seconds / env.unwrapped.dt)):
                env.unwrapped.step(np.ones(task.act_dim))  # unwrapped: past a termination too
            frames.append(first_frame(env, fast=False))
        finally:
            env.close()
    return frames[0], frames[1]


def render_task(name: str | Task, out_path: str, width: int = 320, height: int = 240, seconds: float = 0.3) -> None:
    """Write a PNG: the source robot (left, labelled "source") and the target robot (right, "target"), each `width`
    x `height` after `seconds` of the same constant action (see `render_frames`), under the task and its shift."""
    import imageio.v3 as iio

    task = get_task(name)
    source, target = render_frames(task, width, height, seconds)
    layout = SideBySide(["source", "target"], width, height, caption(task))
    iio.imwrite(out_path, layout([source, target], domain_notes(task)))

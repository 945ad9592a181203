"""MP4 videos of policies, headless (`daftrl eval --video`, `daftrl demo --video`; docs/tasks.md, "Watching a
policy").

A video shows one or more panels side by side, each a policy acting in a freshly built env, all stepped in lockstep
from the initial state of the first evaluation episode (reset seed `seed + 100`, `daftrl.evaluate`). Recording
never touches an evaluation: its episodes run in envs of their own. They are the same episodes nevertheless: the
policy sees each observation in row 0 of a batch as large as the evaluation's, so the computation matches it bit
for bit, and a panel's return equals the evaluation's first return in that domain (tests/test_video.py).

Frames are written as they come through imageio's ffmpeg plugin (the imageio-ffmpeg wheel carries ffmpeg; no
moviepy, which Gymnasium's RecordVideo would need, and one writer for any number of envs per frame). A MuJoCo env
steps at `metadata["render_fps"]` (20 for HalfCheetah and Ant, 125 for Hopper and Walker2d); every k-th step is
kept so the video plays in real time at about FPS frames per second.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import gymnasium as gym
import numpy as np

from daftrl.envs.render import SideBySide, first_frame

FPS = 30
"""Frame rate to aim for: every round(render_fps / FPS)-th step is a frame."""
SECONDS = 10.0
"""Default length: 10 s of simulated time (200 frames of HalfCheetah or Ant, 250 of Hopper or Walker2d)."""
MACRO_BLOCK = 16
"""Frames are padded (white, right and bottom) to multiples of this, the codec's block size."""


@dataclasses.dataclass(frozen=True)
class Panel:
    """One picture of the video: `policy` (observation batch -> action batch) acting in a fresh env from
    `make_env()` (render_mode="rgb_array"; `daftrl.envs.render.render_env`)."""

    label: str
    make_env: Callable[[], gym.Env]
    policy: Callable[[np.ndarray], np.ndarray]


def record(panels: Sequence[Panel], path: str | Path, title: str | None = None, seed: int = 0,
           seconds: float = SECONDS, batch: int = 1) -> dict:
    """Write an MP4 of one episode per panel, stepped in lockstep from the reset seed `seed + 100`, and return what
    it holds: path, frames, fps, size [width, height], each panel's return and length, and the wall time.

    At most `seconds` of simulated time are filmed; every episode still runs to its end, so the returns are those
    of whole episodes. A panel whose episode has ended keeps its last picture. `batch`: the policy's batch size
    (the evaluation's number of episodes, so actions are computed exactly as there)."""
    from daftrl.evaluate import EVAL_SEED_OFFSET

    t0 = time.perf_counter()
    n, envs = len(panels), []
    try:
        for panel in panels:
            envs.append(panel.make_env())
        obs = [env.reset(seed=seed + EVAL_SEED_OFFSET)[0] for env in envs]
        images = [first_frame(env) for env in envs]
        height, width = images[0].shape[:2]
        layout = SideBySide([p.label for p in panels], width, height, title)
        stride = max(1, round(envs[0].metadata["render_fps"] / FPS))
        fps = envs[0].metadata["render_fps"] / stride
        max_frames = max(1, round(seconds * fps))
        returns, lengths = np.zeros(n), np.zeros(n, np.int64)
        running, unseen = np.ones(n, bool), np.zeros(n, bool)  # unseen: stepped since its last picture
        ends = [""] * n

        def notes() -> list[str]:
            return [f"step {lengths[i]:,}  return {returns[i]:,.1f}{ends[i]}" for i in range(n)]

        with Mp4Writer(path, fps) as video:
            video.append(layout(images, notes()))
            while running.any():
                for i in np.flatnonzero(running):
                    x = np.zeros((batch, obs[i].size), np.float32)  # the evaluation's batch shape, this obs in row 0
                    x[0] = obs[i]
                    obs[i], reward, terminated, truncated, _ = envs[i].step(np.asarray(panels[i].policy(x))[0])
                    returns[i] += float(reward)
                    lengths[i] += 1
                    running[i] = not (terminated or truncated)
                    ends[i] = "  (terminated)" if terminated else "  (time limit)" if truncated else ""
                    unseen[i] = True
                filming = video.frames < max_frames
                if filming and (lengths.max() % stride == 0 or not running.any()):
                    for i in np.flatnonzero(unseen):
                        images[i] = envs[i].render()
                    unseen[:] = False
                    video.append(layout(images, notes()))
    finally:
        for env in envs:
            env.close()
    return {"path": str(path), "frames": video.frames, "fps": fps, "size": list(video.size),
            "returns": {p.label: float(r) for p, r in zip(panels, returns, strict=True)},
            "lengths": {p.label: int(k) for p, k in zip(panels, lengths, strict=True)},
            "reset_seed": seed + EVAL_SEED_OFFSET, "seconds": round(time.perf_counter() - t0, 2)}


class Mp4Writer:
    """An H.264 MP4 written frame by frame (imageio's ffmpeg plugin), renamed into place when closed without an
    error (a failed recording leaves no partial file). Frames are padded white to multiples of MACRO_BLOCK."""

    def __init__(self, path: str | Path, fps: float, quality: float = 7.0):
        self.path, self.fps, self.quality = Path(path), fps, quality
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")
        self.frames, self.size, self._writer = 0, (0, 0), None

    def __enter__(self) -> Mp4Writer:
        import imageio.v2 as imageio

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._writer = imageio.get_writer(self.partial, format="FFMPEG", mode="I", fps=self.fps, codec="libx264",
                                          quality=self.quality, macro_block_size=MACRO_BLOCK)
        return self

    def append(self, frame: np.ndarray) -> None:
        h, w = frame.shape[:2]
        pad = ((0, -h % MACRO_BLOCK), (0, -w % MACRO_BLOCK), (0, 0))
        frame = np.pad(frame, pad, constant_values=255)
        with warnings.catch_warnings():  # the first frame starts ffmpeg: a fork immediately followed by an exec,
            warnings.filterwarnings("ignore", message=r"os\.fork\(\) was called", category=RuntimeWarning)
            self._writer.append_data(frame)  # which JAX's warning about forking a multithreaded process is not about
        self.frames += 1
        self.size = (frame.shape[1], frame.shape[0])

    def __exit__(self, exc_type, *_) -> None:
        closed = False
        try:
            self._writer.close()  # ffmpeg finishes the file here (it can fail: a full disk)
            closed = True
        finally:
            if closed and exc_type is None:
                os.replace(self.partial, self.path)
            else:  # no half-written video is left behind, and the error that stopped it is the one raised
                self.partial.unlink(missing_ok=True)


def subject(env: str):
    """What `record_policy` films for the env name `env`: (task, alone). A task: its source and target domains
    (alone=False); a robot, by its name or its gymnasium id: the source of its first task, the stock robot
    (alone=True). ValueError for any other env (before anything runs)."""
    from daftrl.envs import ROBOT_OF_GYM_ID, ROBOTS, TASKS, get_task

    robot = ROBOT_OF_GYM_ID.get(env, env)
    if robot in ROBOTS:
        return next(t for t in TASKS.values() if t.robot == robot), True
    try:
        return get_task(env), False
    except ValueError:
        raise ValueError(f"--video films daftrl robots and tasks; {env!r} is neither (film other gymnasium envs with "
                         "gymnasium.wrappers.RecordVideo)") from None


def record_policy(policy: Callable[[np.ndarray], np.ndarray], env: str, domain: str, directory: Path,
                  prefix: str = "", seed: int = 0, seconds: float = SECONDS, batch: int = 1,
                  width: int = 320, height: int = 240) -> dict:
    """`daftrl eval --video`: a task's source and target domains side by side, under the task and its shift, in
    `<prefix><task>.mp4`; a robot (its name or its gymnasium id) alone, labelled `domain`, in
    `<prefix><robot>_source.mp4`."""
    from daftrl.envs import ROBOTS
    from daftrl.envs.render import caption, render_env

    task, alone = subject(env)
    if alone:
        panels = [Panel(domain, lambda: render_env(task, "source", width, height), policy)]
        return record(panels, directory / f"{prefix}{task.robot}_source.mp4", ROBOTS[task.robot].gym_id, seed,
                      seconds, batch)
    panels = [Panel(d, lambda d=d: render_env(task, d, width, height), policy) for d in ("source", "target")]
    return record(panels, directory / f"{prefix}{task.name}.mp4", caption(task), seed, seconds, batch)

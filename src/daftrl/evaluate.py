"""The evaluation protocol (docs/training.md, "Evaluation protocol").

Freshly built environments for every evaluation (never a deep copy of a training env), the
deterministic action tanh(mean), N full episodes, and their own seed stream: episode i runs in its
own fresh env reset with `seed + 100 + i`. Every evaluation point therefore sees the same N initial
states (common random numbers across methods and checkpoints). The N episodes are stepped in
lockstep so the policy runs once per time step on a batch of N observations (N times fewer calls).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import gymnasium as gym
import numpy as np
from tyro.conf import Positional

EVAL_SEED_OFFSET = 100

# D4RL reference returns (random, expert) per robot (Farama-Foundation/D4RL d4rl/infos.py).
D4RL_REFERENCE = {
    "halfcheetah": (-280.178953, 12135.0),
    "hopper": (-20.272305, 3234.3),
    "walker": (1.629008, 4592.3),
    "ant": (-325.6, 3879.7),
}


def normalized_score(robot: str | None, value: float) -> float | None:
    """NS = 100 (J - J_random) / (J_expert - J_random) with D4RL references; None if unknown."""
    if robot not in D4RL_REFERENCE:
        return None
    lo, hi = D4RL_REFERENCE[robot]
    return 100.0 * (value - lo) / (hi - lo)


@dataclasses.dataclass
class EvalArgs:
    """Evaluate a checkpoint, an actor or expert file or a bundled expert with the daftrl protocol (fresh env,
    tanh(mean)); --video DIR also films it (docs/tasks.md, "Watching a policy")."""

    checkpoint: Positional[str]
    """A run directory, checkpoint.safetensors, an actor or expert .safetensors file, or a bundled expert by its robot
    (`daftrl zoo list`: hopper, ...; a directory of that name: ./hopper)."""
    task: str | None = None
    """Task, robot or gymnasium id (default: the env the checkpoint was trained on)."""
    domain: str | None = None
    """source | target (default: the domain it was trained in - the target for adapt and cotrain runs - when
    --task is omitted or is its own task; else source)."""
    episodes: int = 10
    seed: int = 0
    video: str | None = None
    """Also write an MP4 of the first episode into this directory: for a task, the policy in its source and target
    domains side by side; else the evaluated env. Headless: needs EGL or OSMesa (`make render-deps`)."""
    video_seconds: float = 10.0
    """Film at most this much simulated time (played in real time, about 30 frames per second)."""


@dataclasses.dataclass
class EvalResult:
    returns: list[float]
    lengths: list[int]
    robot: str | None = None
    seconds: float | None = None
    """Wall time of the evaluation (to report training time without evaluation)."""

    @property
    def mean(self) -> float:
        return float(np.mean(self.returns))

    @property
    def std(self) -> float:
        return float(np.std(self.returns))

    def as_dict(self) -> dict:
        return {
            "return_mean": self.mean,
            "return_std": self.std,
            "normalized_score": normalized_score(self.robot, self.mean),
            "length_mean": float(np.mean(self.lengths)),
            "returns": [float(r) for r in self.returns],
        }


def evaluate(
    policy: Callable[[np.ndarray], np.ndarray],
    make_env: Callable[[], gym.Env],
    episodes: int = 10,
    seed: int = 0,
    robot: str | None = None,
) -> EvalResult:
    """Run `episodes` full episodes of the deterministic `policy` (obs batch -> action batch)."""
    import time

    t0 = time.perf_counter()
    envs = [make_env() for _ in range(episodes)]
    try:
        obs = np.stack([env.reset(seed=seed + EVAL_SEED_OFFSET + i)[0] for i, env in enumerate(envs)])
        returns = np.zeros(episodes)
        lengths = np.zeros(episodes, np.int64)
        running = np.ones(episodes, bool)
        while running.any():
            # the whole batch every step: one compiled shape, finished episodes are simply ignored
            actions = np.asarray(policy(obs.astype(np.float32)))
            for i in np.flatnonzero(running):
                obs[i], reward, terminated, truncated, _ = envs[i].step(actions[i])
                returns[i] += float(reward)
                lengths[i] += 1
                running[i] = not (terminated or truncated)
    finally:
        for env in envs:
            env.close()
    return EvalResult([float(r) for r in returns], [int(n) for n in lengths], robot, time.perf_counter() - t0)


def evaluate_checkpoint(checkpoint: str, task: str | None = None, domain: str | None = None, episodes: int = 10,
                        seed: int = 0, video: str | None = None, video_seconds: float = 10.0) -> dict:
    """`daftrl eval`: a run directory, checkpoint, actor or expert file, or a bundled expert's name, evaluated with
    this protocol.

    The env defaults to the one the policy was trained on, in the domain it was trained in (the target for
    adapt and cotrain runs) when `task` is omitted or is that env; another `task` is evaluated in its source
    domain unless `domain` says otherwise. Sizes that do not match are refused before anything runs.
    video: a directory for an MP4 of the first episode (`daftrl.video`), recorded in envs of its own after the
    evaluation (whose returns it does not change); the result's "video" says what it holds.
    """
    from daftrl import zoo
    from daftrl.envs.factory import resolve_env
    from daftrl.policy import load_policy

    bundled = zoo.has(checkpoint) and Path(checkpoint).name == checkpoint  # a zoo name, as `--expert` takes it
    policy, trained_env = load_policy(zoo.expert_path(checkpoint) if bundled else checkpoint)
    domain = domain or (policy.trained_domain if task in (None, trained_env) else "source")
    handle = resolve_env(task or trained_env, domain)
    if (handle.obs_dim, handle.act_dim) != (policy.obs_dim, policy.act_dim):
        raise ValueError(f"the policy expects obs/act sizes {policy.obs_dim}/{policy.act_dim} but {handle.name} "
                         f"has {handle.obs_dim}/{handle.act_dim}")
    if video:  # an env it cannot film, or a machine that cannot render, fails before the evaluation
        from daftrl.envs.render import check_headless_gl
        from daftrl.video import subject

        subject(handle.name)
        check_headless_gl()
    res = evaluate(policy.deterministic, handle.make, episodes, seed, handle.robot)
    out = {"env": handle.name, "domain": handle.domain, **res.as_dict()}
    if video:
        from daftrl.video import record_policy

        out["video"] = record_policy(policy.deterministic, handle.name, handle.domain, Path(video),
                                     f"{policy_name(checkpoint)}_", seed, video_seconds, batch=episodes)
    return out


def policy_name(checkpoint: str) -> str:
    """A short name for file names: a run directory's or file's name (a run's checkpoint: its directory's)."""
    path = Path(checkpoint).resolve()
    return path.parent.name if path.name == "checkpoint.safetensors" else path.stem

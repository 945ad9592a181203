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

import gymnasium as gym
import numpy as np

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

"""The evaluation protocol (notes/tasks.md section 6.3).

A freshly built environment for every evaluation (never a deep copy of a training env), the
deterministic action tanh(mean), N full episodes, and its own seed stream: the first episode resets
with `seed + 100`, later ones continue that env's RNG. Every evaluation point therefore sees the same
initial states (common random numbers across methods and checkpoints).
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
    env = make_env()
    returns, lengths = [], []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed + EVAL_SEED_OFFSET if ep == 0 else None)
            total, steps, done = 0.0, 0, False
            while not done:
                action = np.asarray(policy(obs[None].astype(np.float32)))[0]
                obs, reward, terminated, truncated, _ = env.step(action)
                total += float(reward)
                steps += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(steps)
    finally:
        env.close()
    return EvalResult(returns, lengths, robot)

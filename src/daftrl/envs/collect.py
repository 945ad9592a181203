"""Environment interaction shared by the online loops: one env, its current observation, episode
statistics, and exact capture/restore for checkpoints."""

from __future__ import annotations

from collections import deque

import gymnasium as gym
import numpy as np

from daftrl.envs.state import capture_env_state, restore_env_state


class Collector:
    """Steps one environment; the transition holds the policy's action (not, e.g., an inverted one)."""

    def __init__(self, env: gym.Env, seed: int, window: int = 10):
        self.env = env
        self.obs, _ = env.reset(seed=seed)
        self.episodes = 0
        self.terminations = 0
        """Episodes that ended by termination (a fall), not by the time limit."""
        self.ep_return = 0.0
        self.ep_length = 0
        self.recent_returns: deque[float] = deque(maxlen=window)

    def step(self, action: np.ndarray) -> tuple:
        """Execute `action`; returns the transition (obs, action, reward, next_obs, terminated,
        truncated) and resets the env when the episode ended."""
        next_obs, reward, terminated, truncated, _ = self.env.step(action)
        transition = (self.obs, action, reward, next_obs, terminated, truncated)
        self.ep_return += float(reward)
        self.ep_length += 1
        if terminated or truncated:
            self.recent_returns.append(self.ep_return)
            self.episodes += 1
            self.terminations += int(bool(terminated))
            self.ep_return, self.ep_length = 0.0, 0
            self.obs, _ = self.env.reset()
        else:
            self.obs = next_obs
        return transition

    def recent_return(self) -> float | None:
        return float(np.mean(self.recent_returns)) if self.recent_returns else None

    def experience(self) -> dict:
        """What the robot lived through so far: training episodes, falls (terminations) and the mean return of
        the last training episodes (logged with every evaluation)."""
        return {"train_episodes": self.episodes, "falls": self.terminations, "train_return": self.recent_return()}

    # ------------------------------------------------------------------ checkpointing
    def state(self, prefix: str = "collector") -> tuple[dict[str, np.ndarray], dict]:
        arrays, env_meta = capture_env_state(self.env)
        arrays = {f"{prefix}/{k}": v for k, v in arrays.items()}
        arrays[f"{prefix}/obs"] = np.asarray(self.obs)
        meta = {
            "env": env_meta,
            "episodes": self.episodes,
            "terminations": self.terminations,
            "ep_return": self.ep_return,
            "ep_length": self.ep_length,
            "recent_returns": list(self.recent_returns),
        }
        return arrays, meta

    def restore(self, arrays: dict[str, np.ndarray], meta: dict, prefix: str = "collector") -> None:
        n = len(prefix) + 1
        restore_env_state(self.env, {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}, meta["env"])
        self.obs = arrays[f"{prefix}/obs"]
        self.episodes, self.ep_return, self.ep_length = meta["episodes"], meta["ep_return"], meta["ep_length"]
        self.terminations = meta.get("terminations", 0)  # not recorded before 2026-12
        self.recent_returns.clear()
        self.recent_returns.extend(meta["recent_returns"])

"""Collect whole episodes of a stochastic policy, a ~ pi(.|s), in several envs side by side, deterministically.

As D4RL's "medium" data was collected, every action is sampled from the tanh-Gaussian actor (not its mean):
a = tanh(mu(s) + sigma(s) * eps). The actor runs once per step on the batch of the envs' observations, in float64
numpy (its parameters are small), and the action is rounded to float32, the dtype stored and applied. The noise eps
comes from a numpy PCG64 stream and each env is reset with its own seed, all derived from one `seed` through
`numpy.random.SeedSequence`. Computed in float64 and rounded to float32, an action almost never changes with the
last-bit differences between CPUs' matrix kernels (a float32 actor's would), so a rebuild on another machine with
the same package versions should reproduce the data (tested on one machine type only).

Episodes are kept in the order they end (by step, then env index) and never split across envs; collection stops
once the finished episodes hold `transitions` steps. The last episode kept is cut to fit (its last kept step is
then marked truncated, as a time limit would) and episodes still running in other envs are dropped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import gymnasium as gym
import numpy as np

LOG_STD_RANGE = (-20.0, 2.0)
"""The log-std clamp of `daftrl.nn.TanhGaussianActor` (repeated here so a build loads no JAX; a test checks it)."""
ROLLOUT_ENVS = 8
"""Envs stepped side by side (part of what a seed means: changing it changes the data)."""


@dataclasses.dataclass
class Episode:
    """One episode: observations (T + 1 rows, the final one included) and T actions, rewards and flags."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    cut: bool = False
    """Cut short by the transition budget (`truncate_to`), not ended by the env."""

    def __len__(self) -> int:
        return len(self.rewards)

    def truncate_to(self, steps: int) -> Episode:
        """The first `steps` steps, ending truncated (the data budget, like a time limit, is not a terminal state)."""
        if steps >= len(self):
            return self
        truncations = self.truncations[:steps].copy()
        truncations[-1] = True
        return Episode(self.observations[: steps + 1], self.actions[:steps], self.rewards[:steps],
                       self.terminations[:steps], truncations, cut=True)


class NumpyActor:
    """daftrl's tanh-Gaussian actor (`daftrl.nn.TanhGaussianActor`: ReLU MLP -> mean, clamped log-std) evaluated in
    float64 numpy: `sample` draws a ~ pi(.|s). Loading it needs no JAX."""

    def __init__(self, layers: list[tuple[np.ndarray, np.ndarray]], act_dim: int):
        self.layers = [(np.asarray(w, np.float64), np.asarray(b, np.float64)) for w, b in layers]
        self.act_dim = act_dim

    @classmethod
    def from_file(cls, path) -> NumpyActor:
        """The actor of any daftrl file holding a policy (`daftrl.policy.KINDS`), read with the checkpoint loader."""
        from daftrl.checkpoint import CheckpointError, kernel_names, load_arrays, read_spec

        spec = read_spec(path)  # checks the actor's kernel shapes chain from obs_dim to 2 * act_dim
        arrays, _ = load_arrays(path, kind=spec.kind)
        kernels = kernel_names(arrays, spec.layout.actor)
        try:
            layers = [(arrays[k], arrays[k[: -len("kernel")] + "bias"]) for k in kernels]
        except KeyError as e:
            raise CheckpointError(f"{path} holds no tanh-Gaussian actor under {spec.layout.actor}/ ({e})") from None
        if len(layers) != len(spec.hidden) + 1:
            raise CheckpointError(f"{path}: {len(layers)} dense layers under {spec.layout.actor}/, expected "
                                  f"{len(spec.hidden) + 1}")
        return cls(layers, spec.act_dim)

    def mean_log_std(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(obs, np.float64)
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < len(self.layers) - 1:
                x = np.maximum(x, 0.0)
        return x[:, : self.act_dim], np.clip(x[:, self.act_dim :], *LOG_STD_RANGE)

    def sample(self, obs: np.ndarray, eps: np.ndarray) -> np.ndarray:
        """tanh(mean + std * eps) for standard-normal `eps`, rounded to float32."""
        mean, log_std = self.mean_log_std(obs)
        return np.tanh(mean + np.exp(log_std) * eps).astype(np.float32)


class _Recorder:
    """The current episode of one env, in preallocated arrays of the env's time limit."""

    def __init__(self, env: gym.Env, obs_dim: int, act_dim: int):
        limit = env.spec.max_episode_steps if env.spec else None
        if not limit:
            raise ValueError("dataset rollouts need an env with a time limit (max_episode_steps)")
        self.obs = np.zeros((limit + 1, obs_dim))
        self.act = np.zeros((limit, act_dim), np.float32)
        self.rew = np.zeros(limit)
        self.term = np.zeros(limit, bool)
        self.trunc = np.zeros(limit, bool)
        self.t = 0

    def record(self, transition: tuple) -> Episode | None:
        """Store one transition; the finished episode when it ended (then start the next one)."""
        obs, act, rew, next_obs, terminated, truncated = transition
        t = self.t
        self.obs[t], self.obs[t + 1], self.act[t], self.rew[t] = obs, next_obs, act, rew
        self.term[t], self.trunc[t] = terminated, truncated
        self.t += 1
        if not (terminated or truncated):
            return None
        n, self.t = self.t, 0
        return Episode(self.obs[: n + 1].copy(), self.act[:n].copy(), self.rew[:n].copy(), self.term[:n].copy(),
                       self.trunc[:n].copy())


def rollout(actor: NumpyActor, make_env: Callable[[], gym.Env], transitions: int, seed: int,
            envs: int = ROLLOUT_ENVS, on_step: Callable[[int, int], None] | None = None) -> list[Episode]:
    """Whole episodes of `actor` sampled in `envs` fresh envs, `transitions` steps in all (see the module doc).
    `on_step(steps_taken, episodes_kept)` is called after every batched step (for a progress bar)."""
    from daftrl.envs.collect import Collector

    if transitions <= 0:
        raise ValueError(f"a dataset needs a positive number of transitions, got {transitions}")
    noise_seq, env_seq = np.random.SeedSequence(seed).spawn(2)
    noise = np.random.default_rng(noise_seq)
    env_seeds = env_seq.generate_state(envs).tolist()
    collectors = [Collector(make_env(), seed=s) for s in env_seeds]
    try:
        obs_dim = int(np.prod(collectors[0].env.observation_space.shape))
        recorders = [_Recorder(c.env, obs_dim, actor.act_dim) for c in collectors]
        kept: list[Episode] = []
        total, steps = 0, 0
        while total < transitions:
            obs = np.stack([c.obs for c in collectors])
            actions = actor.sample(obs, noise.standard_normal((envs, actor.act_dim)))
            for collector, recorder, action in zip(collectors, recorders, actions, strict=True):
                episode = recorder.record(collector.step(action))
                if episode is not None and total < transitions:
                    kept.append(episode.truncate_to(transitions - total))
                    total += len(kept[-1])
            steps += envs
            if on_step:
                on_step(steps, len(kept))
        return kept
    finally:
        for c in collectors:
            c.env.close()

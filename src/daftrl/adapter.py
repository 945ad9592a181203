"""`Adapter`: adapt a pretrained policy on a real system, no simulator needed.

A robotics user wraps it around their own control loop::

    from daftrl import Adapter
    adapter = Adapter.from_zoo("halfcheetah", method="daft")
    obs = robot.reset()
    for t in range(100_000):
        action = adapter.act(obs)                       # explore=True: a ~ pi(.|s), in [-1, 1]
        next_obs, reward, terminated, truncated = robot.step(action)
        adapter.observe(obs, action, reward, next_obs, terminated, truncated)
        adapter.update()                                # one gradient step per target step
        obs = robot.reset() if terminated or truncated else next_obs
    adapter.save("adapted.safetensors")

`daftrl adapt` runs exactly this code path against a simulated target domain.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.checkpoint import (
    CheckpointError,
    checkpoint_file,
    checkpoint_kind,
    describe,
    flatten_tree,
    load_arrays,
    save_arrays,
    unflatten_like,
)
from daftrl.configs import json_ready
from daftrl.replay import ReplayBuffer


class Adapter:
    """Acts, observes target transitions and updates with one adaptation method."""

    def __init__(self, expert, method: str = "daft", config: Any = None, seed: int = 0, **overrides):
        """`config`: the method's Config dataclass (see `daftrl adapt --help`); `overrides` set single fields."""
        import jax

        from daftrl.algos import method_spec

        spec = method_spec(method, "adapt")
        method_cls, config_cls = spec.method_cls, spec.config_cls
        config = config or config_cls()
        if not isinstance(config, config_cls):
            raise TypeError(f"method {method!r} takes a {config_cls.__name__}, got {type(config).__name__}")
        config = dataclasses.replace(config, **overrides)
        self.method_name, self.config, self.seed = method, config, seed
        self.method = method_cls(config, expert)
        if self.method.uses_source_data and (expert.source is None or len(expert.source) == 0):
            raise ValueError(f"method {method!r} needs source data D_src, but expert {expert.name!r} has none")
        self.expert_info = {"name": expert.name, "env": expert.env, **{k: v for k, v in expert.meta.items()
                                                                        if isinstance(v, (str, int, float))}}
        self.obs_dim, self.act_dim = expert.obs_dim, expert.act_dim
        self.state = self.method.init_from_expert(expert, seed)
        self.source = expert.source
        self.buffer = ReplayBuffer(expert.obs_dim, expert.act_dim, config.buffer_size)
        self.rng = np.random.default_rng(seed)
        self.act_key = jax.random.fold_in(jax.random.PRNGKey(seed), 1)
        self.counters = {"env_steps": 0, "episodes": 0, "updates": 0, "act_calls": 0}
        self.last_info: dict | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_zoo(cls, robot: str, method: str = "daft", **kwargs) -> Adapter:
        """Start from a bundled expert (`daftrl zoo list`)."""
        from daftrl.experts import load_expert

        return cls(load_expert(robot), method, **kwargs)

    @classmethod
    def from_expert(cls, spec: str, method: str = "daft", **kwargs) -> Adapter:
        """Start from a zoo name, an expert file or a pretraining run directory."""
        from daftrl.experts import load_expert

        return cls(load_expert(spec), method, **kwargs)

    @classmethod
    def from_sb3(cls, path: str | Path, env: str, method: str = "daft", *, source: str = "auto",
                 replay_buffer: str | Path | None = None, vec_normalize: str | Path | None = None,
                 source_size: int = 100_000, **kwargs) -> Adapter:
        """Start from a Stable-Baselines3 or SBX SAC save (`model.save()`'s zip) trained in `env` (a gymnasium id,
        robot or task): imported as `daftrl expert import` does (docs/adaptation.md, "Bring your own expert"),
        without writing files or measuring its return. D_src is the replay buffer saved beside the zip (or
        `replay_buffer`), else `source_size` transitions of the policy rolled out with the adapter's seed. The
        method's gamma stays 0.99 unless given: pass the save's (`gamma=...`) if it trained with another discount,
        so that Q*_src and the new critics agree."""
        from daftrl.importers import import_sb3

        imported = import_sb3(path, env, source=source, replay_buffer=replay_buffer, vec_normalize=vec_normalize,
                              source_size=source_size, seed=kwargs.get("seed", 0), eval_episodes=0, quiet=True)
        return cls(imported.expert, method, **kwargs)

    @classmethod
    def from_checkpoint(cls, path: str | Path) -> Adapter:
        """Restore an adapter written by `save` (self-contained: no expert file needed), or the adapter of a
        `daftrl adapt` run (its directory or checkpoint), e.g. to deploy what a simulated adaptation learnt."""
        path = checkpoint_file(path)  # an expert directory is refused below, naming from_expert
        kind = checkpoint_kind(path)
        if kind == "adapt":
            arrays, meta = load_arrays(path, kind="adapt")
            return cls._from_arrays(arrays, meta["adapter"], str(path))
        if kind in ("expert", "pretrain", "offline", "actor"):
            raise CheckpointError(f"{path} holds a {kind!r} checkpoint (an expert or its training run), not an "
                                  "adapter: start a new adaptation from it with Adapter.from_expert(path)")
        arrays, meta = load_arrays(path, kind="adapter")
        return cls._from_arrays(arrays, meta, str(path))

    load = from_checkpoint

    # ------------------------------------------------------------------ the control-loop API
    def act(self, obs: np.ndarray, explore: bool = True) -> np.ndarray:
        """Action(s) in [-1, 1] (rescale them to the robot's limits yourself) for one observation (obs_dim,) or a
        batch (n, obs_dim): a sample of pi, or tanh(mean) with explore=False. While fewer than the method's
        `warmup_steps` transitions have been observed, an exploring call returns uniform random actions instead
        (the warm-up of docs/assumptions.md, reading (c); drawn from the adapter's RNG)."""
        batch = self._observations(obs)
        single = np.ndim(obs) == 1
        if explore and self.counters["env_steps"] < self.config.warmup_steps:
            return self.rng.uniform(-1.0, 1.0, (self.act_dim,) if single else (len(batch), self.act_dim)).astype(
                np.float32)
        if explore:
            out = self.method.sample_actions(self.state.actor, batch, self.act_key, self.counters["act_calls"])
            self.counters["act_calls"] += 1
        else:
            out = self.method.mean_actions(self.state.actor, batch)
        out = np.asarray(out)
        return out[0] if single else out

    def _observations(self, obs) -> np.ndarray:
        """`obs` as a finite float32 batch (n, obs_dim); ValueError otherwise."""
        obs = np.asarray(obs, np.float32)
        batch = obs[None] if obs.ndim == 1 else obs
        if batch.ndim != 2 or batch.shape[-1] != self.obs_dim:
            raise ValueError(f"observation has shape {obs.shape}, the policy expects ({self.obs_dim},) or "
                             f"(n, {self.obs_dim})")
        if not np.isfinite(batch).all():
            raise ValueError("observation contains NaN or inf: no action computed (a non-finite input would "
                             "give a non-finite action); check the sensor reading or reset the system")
        return batch

    def observe(self, obs, action, reward: float, next_obs, terminated: bool, truncated: bool) -> None:
        """Record one target transition (the action `act` chose, in [-1, 1], before any rescaling to the robot's
        limits). An episode counts as ended (DAFT's beta decays per episode by default) when `terminated` or
        `truncated` is set.

        Raises ValueError, storing nothing, if a field has the wrong shape or is not finite, or the action lies
        outside [-1, 1]: one NaN in the buffer would reach every later update, and an action the policy cannot
        produce would teach the critics about actions that are never taken. Skip such a transition (and reset if
        the system is unsafe)."""
        obs, next_obs = self._vector("obs", obs, self.obs_dim), self._vector("next_obs", next_obs, self.obs_dim)
        action = self._vector("action", action, self.act_dim)
        if np.abs(action).max() > 1.0:
            raise ValueError(f"action {action} lies outside [-1, 1]; the transition was not stored. Pass the "
                             "action act() returned, before rescaling it to the robot's limits")
        if np.ndim(reward) != 0 or not np.isfinite(reward):
            raise ValueError(f"reward must be one finite number, got {reward!r}; the transition was not stored")
        self.buffer.add(obs, action, float(reward), next_obs, bool(terminated), bool(truncated))
        self.counters["env_steps"] += 1
        if terminated or truncated:
            self.counters["episodes"] += 1

    @staticmethod
    def _vector(name: str, value, size: int) -> np.ndarray:
        a = np.asarray(value, np.float32)
        if a.shape != (size,):
            raise ValueError(f"{name} has shape {a.shape}, expected ({size},) (observe() takes one transition); "
                             "the transition was not stored")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or inf; the transition was not stored (skip it, and reset "
                             "if the system is in an unsafe state)")
        return a

    def ready(self) -> bool:
        return self.method.learns and len(self.buffer) >= max(self.config.learning_starts, self.config.batch_size)

    def update(self, n_steps: int = 1) -> dict | None:
        """Run `n_steps` gradient steps (nothing until the target buffer holds a batch).

        Returns the last step's metrics as device arrays (call `float()` to read; reading syncs)."""
        if not self.ready():
            return None
        for _ in range(n_steps):
            batch = self.buffer.sample(self.rng, self.config.batch_size)
            aux = self.method.host_aux(self.source, self.buffer, self.rng, self.counters)
            self.state, self.last_info = self.method.update(self.state, batch, aux)
            self.counters["updates"] += 1
        return self.last_info

    @property
    def beta(self) -> float | None:
        """The current scheduled beta (methods with a source term)."""
        return self.config.beta(self.counters) if hasattr(self.config, "beta") else None

    def policy(self, obs: np.ndarray) -> np.ndarray:
        """The deterministic policy tanh(mean) for evaluation: `act(obs, explore=False)`."""
        return self.act(obs, explore=False)

    # ------------------------------------------------------------------ persistence
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict]:
        arrays = {**flatten_tree(self.state, "state"), **self.buffer.state_dict()}
        if self.source is not None:
            arrays.update({f"source/{k}": v for k, v in self.source.state_dict().items()})
        meta = {
            "method": self.method_name,
            "config": json_ready(dataclasses.asdict(self.config)),
            "seed": self.seed,
            "counters": dict(self.counters),
            "rng": self.rng.bit_generator.state,
            "expert": self.expert_info,
            # it does not know its target: an Adapter file names its expert's env (an adapt run, its task)
            **describe(self.obs_dim, self.act_dim, self.method.config.hidden, self.expert_info.get("env", ""),
                       "source"),
        }
        return arrays, meta

    def save(self, path: str | Path) -> None:
        """Atomically write everything needed to continue (params, optimiser states, buffers, RNG)."""
        arrays, meta = self.to_arrays()
        save_arrays(path, arrays, kind="adapter", meta=meta)

    @classmethod
    def _from_arrays(cls, arrays: dict, meta: dict, source_name: str = "") -> Adapter:
        from daftrl.algos import method_spec
        from daftrl.configs import config_from_dict

        config = config_from_dict(method_spec(meta["method"], "adapt").config_cls, meta["config"])
        src = {k[len("source/"):]: v for k, v in arrays.items() if k.startswith("source/")}
        source = ReplayBuffer.from_state_dict(src) if src else None
        # a placeholder expert with the right shapes; every array is then restored from the file
        expert = _shape_expert(meta, source)
        self = cls(expert, meta["method"], config, meta["seed"])
        self.state = unflatten_like(self.state, arrays, "state", source_name)
        self.buffer = ReplayBuffer.from_state_dict(arrays)
        self.counters = dict(meta["counters"])
        self.rng.bit_generator.state = meta["rng"]
        self.expert_info = meta["expert"]
        return self


def _shape_expert(meta: dict, source: ReplayBuffer | None):
    from daftrl.experts import Expert
    from daftrl.nn import param_templates

    hidden = tuple(meta["hidden"])
    actor, critic = param_templates(meta["obs_dim"], meta["act_dim"], hidden)
    return Expert(meta["expert"].get("name", "restored"), meta["expert"].get("env", ""), meta["obs_dim"],
                  meta["act_dim"], hidden, actor, critic, float(np.log(0.2)), source)

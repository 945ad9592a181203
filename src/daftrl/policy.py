"""Load a trained actor from any daftrl file (run directory, training checkpoint, actor file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.checkpoint import CheckpointError, load_arrays, unflatten_like


@dataclasses.dataclass
class Policy:
    """A tanh-Gaussian actor with its parameters; `deterministic` is the evaluation action tanh(mean)."""

    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    params: Any

    def __post_init__(self):
        import jax

        from daftrl.nn import TanhGaussianActor

        self.net = TanhGaussianActor(self.act_dim, self.hidden)
        self._mean = jax.jit(lambda p, o: jax.numpy.tanh(self.net.apply(p, o)[0]))

    def deterministic(self, obs: np.ndarray) -> np.ndarray:
        return np.asarray(self._mean(self.params, obs))

    @classmethod
    def from_arrays(cls, arrays, prefix: str, obs_dim: int, act_dim: int, hidden, source: str = "") -> Policy:
        from daftrl.experts import param_templates

        template = param_templates(obs_dim, act_dim, hidden)[0]
        return cls(obs_dim, act_dim, tuple(hidden), unflatten_like(template, arrays, prefix, source))


def load_policy(path: str | Path) -> tuple[Policy, str]:
    """(policy, name of the env it was trained on) from a run dir, checkpoint or actor file."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    arrays, meta = load_arrays(path)
    if "obs_dim" in meta:  # a standalone actor file
        return Policy.from_arrays(arrays, "actor", meta["obs_dim"], meta["act_dim"], meta["hidden"], str(path)), \
            meta.get("env", "")
    cfg = meta.get("config", {})
    if "sac/actor/params/MLP_0/Dense_0/kernel" not in arrays:
        raise CheckpointError(f"{path} holds no actor")
    obs_dim = arrays["sac/actor/params/MLP_0/Dense_0/kernel"].shape[0]
    act_dim = arrays["sac/actor/params/MLP_0/Dense_2/bias"].shape[0] // 2
    return Policy.from_arrays(arrays, "sac/actor", obs_dim, act_dim, cfg["sac"]["hidden"], str(path)), cfg["env"]

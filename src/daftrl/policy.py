"""Load a trained actor from any daftrl file (run directory, training or adapter checkpoint, actor file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.checkpoint import CheckpointError, checkpoint_kind, load_arrays, unflatten_like


@dataclasses.dataclass
class Policy:
    """A tanh-Gaussian actor with its parameters; `deterministic` is the evaluation action tanh(mean)."""

    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    params: Any
    trained_domain: str = "source"
    """The domain it was trained in: "target" for adapt and cotrain runs, a pretraining run's --domain."""

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


KINDS = ("pretrain", "adapt", "cotrain", "adapter", "actor", "expert")
"""Checkpoint kinds a policy loads from."""


def load_policy(path: str | Path) -> tuple[Policy, str]:
    """(policy, name of the env it was trained on) from a run directory or file of any kind in `KINDS`:
    a pretrain, adapt or cotrain run (directory or checkpoint), an `Adapter.save` file, an actor or expert file.

    Adapt runs name their task (recorded in the checkpoint; older ones: the run's config.json), cotrain runs
    theirs (config.json); an adapter file, which does not know its target, names its expert's env (source)."""
    path = Path(path)
    if path.is_dir():
        path = path / "checkpoint.safetensors"
    arrays, meta = load_arrays(path)
    kind = checkpoint_kind(path)
    if kind in ("actor", "expert"):  # standalone files record their sizes
        policy = Policy.from_arrays(arrays, "actor", meta["obs_dim"], meta["act_dim"], meta["hidden"], str(path))
        policy.trained_domain = meta.get("domain", "source")
        return policy, meta.get("env", "")
    if kind in ("adapter", "adapt"):  # Adapter.to_arrays; an adapt checkpoint nests its metadata under "adapter"
        a = meta if kind == "adapter" else meta["adapter"]
        env = a["expert"].get("env", "")
        policy = Policy.from_arrays(arrays, "state/actor", a["obs_dim"], a["act_dim"], a["hidden"], str(path))
        task = (meta.get("task") or _run_config(path).get("task")) if kind == "adapt" else None
        if task:
            env, policy.trained_domain = task, "target"
        return policy, env
    if kind == "pretrain":
        cfg = meta["config"]
        policy = _sized_by_arrays(arrays, "sac/actor", cfg["sac"]["hidden"], path)
        policy.trained_domain = cfg.get("domain", "source")
        return policy, cfg["env"]
    if kind == "cotrain":
        cfg = _run_config(path)
        if not cfg:
            raise CheckpointError(f"{path}: a cotrain checkpoint is read with its run's config.json (network "
                                  "widths, task), which is not next to it; give the run directory")
        policy = _sized_by_arrays(arrays, "state/actor", cfg["method_config"]["hidden"], path)
        policy.trained_domain = "target"
        return policy, cfg["task"]
    raise CheckpointError(f"{path} holds a {kind!r} checkpoint; a policy loads from {', '.join(KINDS)} checkpoints")


def _run_config(checkpoint: Path) -> dict:
    """The saved config of the run directory holding `checkpoint` ({} if it has no config.json)."""
    from daftrl.runs import RunDir

    run = RunDir(checkpoint.parent)
    return run.read_config() if run.config_path.is_file() else {}


def _sized_by_arrays(arrays, prefix: str, hidden, path: Path) -> Policy:
    """The actor under `prefix` of a checkpoint that records only its hidden widths: the observation and
    action sizes are those of its first kernel and last bias."""
    first, last = f"{prefix}/params/MLP_0/Dense_0/kernel", f"{prefix}/params/MLP_0/Dense_{len(hidden)}/bias"
    if first not in arrays or last not in arrays:
        raise CheckpointError(f"{path} holds no actor with {len(hidden)} hidden layers under {prefix}/")
    return Policy.from_arrays(arrays, prefix, arrays[first].shape[0], arrays[last].shape[0] // 2, hidden, str(path))

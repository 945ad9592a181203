"""Load a trained actor from any daftrl file (run directory, training or adapter checkpoint, actor or expert file)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.checkpoint import LAYOUTS, ModelSpec, checkpoint_file, load_arrays, read_spec, unflatten_like


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
    def from_arrays(cls, arrays, spec: ModelSpec, source: str = "") -> Policy:
        """The actor of a checkpoint's arrays, where its kind keeps it (`spec.layout.actor`)."""
        from daftrl.nn import param_templates

        template = param_templates(spec.obs_dim, spec.act_dim, spec.hidden)[0]
        return cls(spec.obs_dim, spec.act_dim, spec.hidden, unflatten_like(template, arrays, spec.layout.actor, source),
                   spec.domain)


KINDS = tuple(LAYOUTS)
"""Checkpoint kinds a policy loads from."""


def load_policy(path: str | Path) -> tuple[Policy, str]:
    """(policy, name of the env it was trained on) from a run directory or file of any kind in `KINDS`:
    a pretrain, adapt or cotrain run (directory or checkpoint), an `Adapter.save` file, an actor or expert file, or
    an expert directory (holding expert.safetensors).

    The env and domain are those the checkpoint records (`daftrl.checkpoint.describe`): an adapt or cotrain run's
    task and the target domain; an adapter file, which does not know its target, names its expert's env (source).
    Checkpoints of earlier versions are read as `daftrl.checkpoint.read_spec` says (older cotrain and adapt
    checkpoints name their task in their run's config.json)."""
    path = checkpoint_file(path)  # a run directory's checkpoint first, else an expert directory's expert
    spec = read_spec(path, run_config=lambda: _run_config(path))
    arrays, _ = load_arrays(path, kind=spec.kind)
    return Policy.from_arrays(arrays, spec, str(path)), spec.env


def _run_config(checkpoint: Path) -> dict:
    """The saved config of the run directory holding `checkpoint` ({} if it has no config.json)."""
    from daftrl.rundir import RunDir

    run = RunDir(checkpoint.parent)
    return run.read_config() if run.config_path.is_file() else {}

"""Source experts: pi*_src, Q*_src (twin critics), temperature and a sample of D_src.

An expert comes from the bundled zoo (`daftrl zoo list`), from a pretraining run (its directory or
checkpoint: D_src is the tail of its replay buffer), or from an expert file written by
`save_expert` (an offline run, `daftrl.offline`, writes one into its directory). Everything goes
through the safe checkpoint code (safetensors, checksums).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from daftrl.checkpoint import (
    EXPERT_FILE,
    LAYOUTS,
    RUN_CHECKPOINT,
    SPEC_FIELDS,
    CheckpointError,
    checkpoint_file,
    checkpoint_kind,
    daftrl_home,
    describe,
    flatten_tree,
    layer_shapes,
    load_arrays,
    read_spec,
    save_arrays,
    unflatten_like,
)
from daftrl.policy import Policy
from daftrl.replay import FIELDS, ReplayBuffer

EXPERT_KINDS = tuple(kind for kind, layout in LAYOUTS.items() if layout.critic)
"""Checkpoint kinds an expert loads from: expert files and pretraining runs."""


@dataclasses.dataclass
class Expert:
    """A pretrained source policy and critic, with the source data DAFT/SGFT need."""

    name: str
    env: str
    """The env it was trained on (robot, task or gymnasium id)."""
    obs_dim: int
    act_dim: int
    hidden: tuple[int, ...]
    actor: Any
    critic: Any
    log_alpha: float
    source: ReplayBuffer | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def policy(self) -> Policy:
        """The expert's actor as a `daftrl.policy.Policy` (deterministic / stochastic actions)."""
        return Policy(self.obs_dim, self.act_dim, self.hidden, self.actor)

    def check_compatible(self, obs_dim: int, act_dim: int, what: str) -> None:
        """Refuse a target whose sizes differ from the expert's (clear message, nothing run)."""
        if (obs_dim, act_dim) != (self.obs_dim, self.act_dim):
            raise ValueError(
                f"expert {self.name!r} (trained on {self.env}) has observation/action sizes "
                f"{self.obs_dim}/{self.act_dim}, but {what} has {obs_dim}/{act_dim}; use an expert of the same robot"
            )


def save_expert(path: str | Path, expert: Expert, source_dtype=np.float16) -> None:
    """Write an expert file; the D_src sample is stored in `source_dtype` (float16 halves the size)."""
    arrays = {**flatten_tree(expert.actor, "actor"), **flatten_tree(expert.critic, "critic"),
              "log_alpha": np.asarray(expert.log_alpha, np.float32)}
    if expert.source is not None:
        order = expert.source.insertion_order()
        data = {k: expert.source.data[k][order] for k in FIELDS}
        for k in FIELDS:
            if k == "next_obs":
                continue
            flag = k in ("terminated", "truncated")
            arrays[f"source/{k}"] = data[k].astype(np.uint8) if flag else data[k].astype(source_dtype)
        # next_obs[i] is obs[i + 1] inside an episode: store only the rows where it is not (episode ends)
        rows = _explicit_next_obs_rows(data["obs"], data["next_obs"])
        arrays["source/next_obs_rows"] = rows.astype(np.int64)
        arrays["source/next_obs_at_rows"] = data["next_obs"][rows].astype(source_dtype)
    meta = {"name": expert.name, **expert.meta,
            **describe(expert.obs_dim, expert.act_dim, expert.hidden, expert.env, "source")}
    save_arrays(path, arrays, kind="expert", meta=meta)


def _explicit_next_obs_rows(obs: np.ndarray, next_obs: np.ndarray) -> np.ndarray:
    """Rows i whose next_obs is not obs[i + 1] (episode boundaries, and the last row)."""
    if len(obs) == 0:
        return np.zeros(0, np.int64)
    same = np.all(next_obs[:-1] == obs[1:], axis=1)
    return np.flatnonzero(np.append(~same, True))


def _source_from(arrays: dict, prefix: str) -> ReplayBuffer | None:
    """D_src of an expert file; next_obs is either stored whole or rebuilt as obs[i + 1] except at the
    rows stored explicitly (`next_obs_rows`, `next_obs_at_rows`), which is exact."""
    if f"{prefix}obs" not in arrays:
        return None
    obs = arrays[f"{prefix}obs"]
    fields = {k: arrays[f"{prefix}{k}"] for k in FIELDS if k != "next_obs"}
    if f"{prefix}next_obs" in arrays:
        fields["next_obs"] = arrays[f"{prefix}next_obs"]
    else:
        rows = arrays[f"{prefix}next_obs_rows"].astype(np.int64)
        if len(obs) and (rows.size == 0 or rows[-1] != len(obs) - 1 or np.any(np.diff(rows) <= 0)):
            raise CheckpointError("expert file: next_obs_rows must be increasing and end at the last row")
        nxt = np.empty_like(obs)
        nxt[:-1] = obs[1:]
        nxt[rows] = arrays[f"{prefix}next_obs_at_rows"]
        fields["next_obs"] = nxt
    buf = ReplayBuffer(obs.shape[1], arrays[f"{prefix}act"].shape[1], len(obs))
    buf.add_many(**{k: v.astype(np.float32) for k, v in fields.items()})
    return buf


def load_expert(spec: str | Path, source_size: int | None = 100_000) -> Expert:
    """An expert from a zoo name, the name of an imported expert (`daftrl expert import`: $DAFTRL_HOME/experts/NAME),
    an expert file, or a pretraining or offline run directory / checkpoint."""
    from daftrl import zoo
    from daftrl.nn import param_templates

    if isinstance(spec, str) and zoo.has(spec):
        return load_expert(zoo.expert_path(spec), source_size)
    if isinstance(spec, str) and "/" not in spec and not Path(spec).exists():
        imported = daftrl_home() / "experts" / spec / "expert.safetensors"  # `daftrl expert import` writes there
        if imported.is_file():
            return load_expert(imported, source_size)
    path = Path(spec)
    if path.is_dir():  # an offline run directory holds its exported expert next to its checkpoint: the expert first
        path = checkpoint_file(path, prefer=(EXPERT_FILE, RUN_CHECKPOINT))
    if not path.exists():
        raise ValueError(f"no expert {str(spec)!r}: give a zoo name ({', '.join(zoo.names()) or 'none bundled'}), "
                         "an imported expert's name, an expert .safetensors file or a pretraining or offline run "
                         "directory")
    kind = checkpoint_kind(path)
    if kind == "offline":
        raise CheckpointError(f"{path} is an offline run's checkpoint: export it first (daftrl.offline.export_expert; "
                              "a finished run writes expert.safetensors beside it) and give that file")
    if kind not in EXPERT_KINDS:
        raise CheckpointError(f"{path} holds a {kind!r} checkpoint, not an expert file or a pretraining checkpoint")
    model, layout = read_spec(path), LAYOUTS[kind]
    arrays, meta = load_arrays(path, kind=kind)
    critic_kernels = layer_shapes({k: a.shape for k, a in arrays.items()}, layout.critic)
    if not critic_kernels:
        raise CheckpointError(f"{path} holds no critic under {layout.critic}/")
    actor_t, critic_t = param_templates(model.obs_dim, model.act_dim, model.hidden, critic_kernels[0][0])
    if layout.replay:  # a training run: D_src is the latest `source_size` transitions of its replay buffer
        replay = ReplayBuffer.from_state_dict(arrays, layout.replay)
        source = _tail(replay, source_size) if source_size else replay
        name, extra = path.parent.name, {"steps": meta["step"], "checkpoint": str(path)}
    else:  # an expert file (`save_expert`)
        source = _source_from(arrays, "source/")
        name, extra = meta["name"], {k: v for k, v in meta.items() if k not in ("name", *SPEC_FIELDS)}
    return Expert(name, model.env, model.obs_dim, model.act_dim, model.hidden,
                  unflatten_like(actor_t, arrays, layout.actor, str(path)),
                  unflatten_like(critic_t, arrays, layout.critic, str(path)),
                  float(arrays[layout.log_alpha]), source, extra)


def _tail(buf: ReplayBuffer, n: int) -> ReplayBuffer:
    """The most recent n transitions of `buf`, contiguous and in time order (episodes stay intact)."""
    n = min(n, len(buf))
    idx = (buf.pos - n + np.arange(n)) % buf.capacity if len(buf) == buf.capacity else np.arange(len(buf) - n, len(buf))
    out = ReplayBuffer(buf.obs_dim, buf.act_dim, n)
    out.add_many(**{k: buf.data[k][idx] for k in FIELDS})
    return out

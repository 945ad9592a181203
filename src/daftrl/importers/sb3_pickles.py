"""The pickles SB3 writes beside a save: the replay buffer (`model.save_replay_buffer`) and VecNormalize's statistics
(`vec_env.save`), read with `daftrl.importers.safe_pickle` (numpy arrays only; every other object an inert record).

A replay buffer becomes daftrl's D_src: SB3 stores, per env, the observation before normalisation, the action
squashed to [-1, 1] (daftrl's convention), the reward, the next observation (the true last one at an episode end),
`dones` and `timeouts` (a time limit). As SB3 bootstraps, terminated = dones and not timeouts, truncated = timeouts.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from daftrl.importers import safe_pickle

BUFFER = "stable_baselines3.common.buffers.ReplayBuffer"
VEC_NORMALIZE = "stable_baselines3.common.vec_env.vec_normalize.VecNormalize"


def _load(path: Path, expected: str, what: str, writer: str) -> dict:
    """The attributes of the `expected` object pickled at `path` (ValueError naming `writer` otherwise)."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"no {what} at {path}: give the file {writer} wrote")
    obj = safe_pickle.load(path.read_bytes(), str(path))
    kind = safe_pickle.class_name(obj)
    if kind != expected:
        raise ValueError(f"{path} holds {kind or type(obj).__name__}, not an SB3 {expected.rsplit('.', 1)[-1]}; give "
                         f"the file {writer} wrote")
    return safe_pickle.attributes(obj)


def _array(attrs: dict, key: str, path: Path) -> np.ndarray:
    value = attrs.get(key)
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiub":
        raise ValueError(f"{path}: the replay buffer has no numeric `{key}` array")
    return np.asarray(value)


def read_replay_buffer(path: str | Path, size: int) -> tuple[dict[str, np.ndarray], dict]:
    """(canonical arrays of D_src, facts for the card): the latest whole episodes of each env's stream in the SB3
    replay buffer at `path`, about `size` transitions in all (`daftrl.datasets.sample_source`). Each stream's last
    transition is marked truncated (the recording stopped there), so no episode runs into the next env's stream."""
    from daftrl.datasets.data import canonical, to_buffer

    path = Path(path).expanduser()
    attrs = _load(path, BUFFER, "replay buffer", "model.save_replay_buffer()")
    if attrs.get("optimize_memory_usage"):
        raise ValueError(f"{path} was saved with optimize_memory_usage=True, which drops the last observation of every "
                         "episode; import with --source rollout instead")
    obs, act, rew, dones = (_array(attrs, k, path) for k in ("observations", "actions", "rewards", "dones"))
    next_obs = _array(attrs, "next_observations", path)
    timeouts = _array(attrs, "timeouts", path) if attrs.get("handle_timeout_termination") else np.zeros_like(dones)
    pos, full = attrs.get("pos"), attrs.get("full")
    if not isinstance(pos, int) or not isinstance(full, bool) or obs.ndim != 3 or act.ndim != 3:
        raise ValueError(f"{path}: not a replay buffer of flat observations and actions (observations {obs.shape})")
    count = len(obs) if full else pos
    if count == 0:
        raise ValueError(f"{path}: the replay buffer is empty; import with --source rollout instead")
    order = (pos + np.arange(count)) % len(obs) if full else np.arange(count)
    n_envs = obs.shape[1]
    streams = []
    for e in range(n_envs):
        done, timeout = dones[order, e].astype(bool), timeouts[order, e].astype(bool)
        truncated = timeout.copy()
        truncated[-1] |= not done[-1]
        stream = to_buffer(canonical({"obs": obs[order, e], "act": act[order, e], "rew": rew[order, e],
                                      "next_obs": next_obs[order, e], "terminated": done & ~timeout,
                                      "truncated": truncated}))
        streams.append(canonical(_latest(stream, max(1, size // n_envs))))
    arrays = {k: np.concatenate([s[k] for s in streams]) for k in streams[0]}
    info = {"from": "replay buffer", "file": str(path), "sha256": _sha256(path), "buffer_transitions": count * n_envs,
            "n_envs": n_envs, "transitions": int(len(arrays["obs"]))}
    return arrays, info


def _latest(stream, n: int):
    """The latest whole episodes of a stream, at most n transitions; its last n if one episode is longer."""
    from daftrl.datasets.data import canonical, sample_source, to_buffer

    try:
        return sample_source(stream, n)
    except ValueError:
        return to_buffer({k: v[-n:] for k, v in canonical(stream).items()})


@dataclasses.dataclass(frozen=True)
class ObservationStatistics:
    """What VecNormalize applied: observations (obs - mean) / sqrt(var + epsilon) clipped to +-clip_obs, rewards
    divided by sqrt(return variance + epsilon) (when norm_reward) and clipped to +-clip_reward."""

    mean: np.ndarray | None
    var: np.ndarray | None
    epsilon: float
    clip_obs: float
    reward_scale: float | None
    clip_reward: float
    file: str
    sha256: str

    def card(self) -> dict:
        return {"file": self.file, "sha256": self.sha256, "observations": self.mean is not None,
                "reward_scale": self.reward_scale, "clip_obs": self.clip_obs, "clip_reward": self.clip_reward,
                "folded": "observation statistics into the first layers; reward scale into the critics and alpha "
                          "(clipping dropped: exact while it was inactive)"}


def read_vec_normalize(path: str | Path) -> ObservationStatistics:
    """The statistics in a file `VecNormalize.save` wrote."""
    path = Path(path).expanduser()
    attrs = _load(path, VEC_NORMALIZE, "VecNormalize statistics", "VecNormalize.save()")
    eps = float(attrs.get("epsilon", 1e-8))
    mean = var = None
    if attrs.get("norm_obs"):
        rms = safe_pickle.attributes(attrs.get("obs_rms"))
        if not rms:
            raise ValueError(f"{path}: observation statistics of a dict observation space; daftrl experts take flat "
                             "observations")
        mean, var = (np.asarray(rms.get(k), np.float64).reshape(-1) for k in ("mean", "var"))
    scale = None
    if attrs.get("norm_reward"):
        ret_var = np.asarray(safe_pickle.attributes(attrs.get("ret_rms")).get("var"), np.float64)
        scale = float(np.sqrt(ret_var.reshape(-1)[0] + eps))
    return ObservationStatistics(mean, var, eps, float(attrs.get("clip_obs", np.inf)), scale,
                                 float(attrs.get("clip_reward", np.inf)), str(path), _sha256(path))


def _sha256(path: Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()

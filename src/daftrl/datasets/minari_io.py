"""Minari datasets: write episodes with Minari's own writer, read a dataset directory into canonical arrays.

A Minari dataset is a directory `<root>/<dataset id>/` with `data/metadata.json` and `data/main_data.hdf5` (or
Arrow files); each episode stores T + 1 observations (the final one included) and T actions, rewards, terminations
and truncations (Minari's docs, "Dataset Standards"). `minari` and `h5py` are imported only here, inside functions.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from daftrl.datasets.data import refuse

METADATA = Path("data") / "metadata.json"


@contextlib.contextmanager
def minari_root(path: Path):
    """Point Minari at `path` (its `MINARI_DATASETS_PATH`) for the duration, so it writes nothing elsewhere."""
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(path)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def default_minari_root() -> Path:
    """Where Minari keeps datasets: $MINARI_DATASETS_PATH, default ~/.minari/datasets (read, never created)."""
    return Path(os.environ.get("MINARI_DATASETS_PATH") or "~/.minari/datasets").expanduser()


def is_minari_dataset(path: Path) -> bool:
    return (path / METADATA).is_file()


def write_minari(root: Path, dataset_id: str, episodes, env, *, ref_min_score: float, ref_max_score: float,
                 description: str, algorithm_name: str, code_permalink: str, requirements: list[str]) -> Path:
    """Write `episodes` (`rollout.Episode`s) as the Minari dataset `dataset_id` under `root`, HDF5 format; its
    directory. Both reference scores are given, so Minari runs no episodes of its own; `env` (a gymnasium env
    built from a registered id) is recorded as the collection and evaluation env."""
    import minari
    from minari.data_collector import EpisodeBuffer

    buffers = [EpisodeBuffer(id=i, observations=e.observations, actions=e.actions, rewards=e.rewards,
                             terminations=e.terminations, truncations=e.truncations) for i, e in enumerate(episodes)]
    with minari_root(root), warnings.catch_warnings():
        # daftrl has no contact address to record; every other field is filled
        warnings.filterwarnings("ignore", message=".*`author_email` is set to None", category=UserWarning)
        minari.create_dataset_from_buffers(
            dataset_id, buffers, env=env, eval_env=env, algorithm_name=algorithm_name, author="daftrl",
            code_permalink=code_permalink, ref_min_score=ref_min_score, ref_max_score=ref_max_score,
            description=description, data_format="hdf5", requirements=requirements)
    return root / dataset_id


def read_minari(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """(arrays keyed by `FIELDS`, Minari's metadata) of the Minari dataset directory `path`, episodes in order.
    Anything Minari cannot read, or episodes that break its format, raise a `DatasetError` naming the dataset.

    Episodes are concatenated, so each must end on its last step and nowhere else: an episode with `terminations` or
    `truncations` set before its last step is refused, and one whose last step has neither flag is read with that
    step marked truncated (what Minari's own `DataCollector` stores for an episode it closes unfinished), so it
    does not run into the next episode."""
    from minari import MinariDataset

    source = str(path)
    try:
        data = MinariDataset(path / "data")
        metadata = dict(data.storage.metadata)
        episodes = list(data.iterate_episodes())
    except (OSError, KeyError, ValueError, TypeError, AssertionError, json.JSONDecodeError) as e:
        raise refuse(source, f"Minari cannot read it ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else e})",
                     "rebuild it, or check it is a complete Minari dataset") from None
    if not episodes:
        raise refuse(source, "holds no episodes", "give a dataset with data")
    for space in ("observation_space", "action_space"):
        if not _is_flat_box(getattr(data, space)):
            raise refuse(source, f"its {space.replace('_', ' ')} is {getattr(data, space)}",
                         "daftrl reads flat Box observations and actions only")
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("obs", "act", "rew", "next_obs", "terminated", "truncated")}
    for i, ep in enumerate(episodes):
        obs, steps = np.asarray(ep.observations), len(ep.rewards)
        lengths = {len(ep.actions), len(ep.terminations), len(ep.truncations)}
        if len(obs) != steps + 1 or lengths != {steps}:
            raise refuse(source, f"episode {i} has {len(obs)} observations, {len(ep.actions)} actions and {steps} "
                         "rewards", "Minari episodes hold T + 1 observations and T of everything else")
        terminated, truncated = _end_flags(ep, i, source)
        parts["obs"].append(obs[:-1])
        parts["next_obs"].append(obs[1:])
        parts["act"].append(np.asarray(ep.actions))
        parts["rew"].append(np.asarray(ep.rewards))
        parts["terminated"].append(terminated)
        parts["truncated"].append(truncated)
    return {k: np.concatenate(v) for k, v in parts.items()}, metadata


def _end_flags(ep, i: int, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(terminations, truncations) of episode `i`, its last step marked truncated if it has neither flag; a
    `DatasetError` if a step before its last has either."""
    terminated, truncated = np.asarray(ep.terminations), np.array(ep.truncations)  # the truncations copied
    steps = len(truncated)
    if steps == 0:
        return terminated, truncated
    for name, flags in (("terminated", terminated), ("truncated", truncated)):
        early = np.flatnonzero(flags[:-1])
        if len(early):
            raise refuse(source, f"episode {i} ({steps} steps) is {name} at step {int(early[0])}, before its last "
                         "step", "split it into separate episodes where they end, or clear that flag")
    if not (terminated[-1] or truncated[-1]):
        truncated[-1] = True
    return terminated, truncated


def _is_flat_box(space) -> bool:
    import gymnasium as gym

    return isinstance(space, gym.spaces.Box) and len(space.shape) == 1


def env_id(metadata: dict) -> str | None:
    """The gymnasium id of the env a Minari dataset was collected in (None if it records none)."""
    spec = metadata.get("env_spec")
    try:
        return json.loads(spec)["id"] if spec else None
    except (TypeError, ValueError, KeyError):
        return None

"""Find and load offline datasets: daftrl's own (in $DAFTRL_HOME/datasets), any Minari dataset, D4RL HDF5 files.

`load_dataset(spec)` takes a Minari dataset id, a dataset directory, or a D4RL-format .hdf5 file. An id is looked up
in daftrl's datasets directory first, then in Minari's own ($MINARI_DATASETS_PATH, default ~/.minari/datasets);
nothing is ever downloaded. Every dataset passes `data.check_arrays` before a buffer is filled, and a daftrl
dataset must also match the checksum its card recorded when it was built.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from daftrl.datasets import d4rl, minari_io
from daftrl.datasets.data import Dataset, check_arrays, checksum, refuse, to_buffer

CARD = "card.json"


def datasets_root() -> Path:
    """Where `build_dataset` writes: $DAFTRL_HOME/datasets (default ~/.daftrl/datasets), a Minari datasets root."""
    from daftrl.checkpoint import daftrl_home

    return daftrl_home() / "datasets"


def locate(spec: str | os.PathLike) -> tuple[str, Path]:
    """("minari", dataset directory) or ("d4rl", file) for a dataset id, directory or file; ValueError if none."""
    path = Path(spec).expanduser()
    if path.is_file():
        if path.parent.name == "data" and minari_io.is_minari_dataset(path.parent.parent):
            return "minari", path.parent.parent  # a Minari dataset's own data/main_data.hdf5
        return "d4rl", path
    if path.is_dir():
        if minari_io.is_minari_dataset(path):
            return "minari", path
        if path.name == "data" and minari_io.is_minari_dataset(path.parent):
            return "minari", path.parent
        raise refuse(str(path), "is a directory but not a Minari dataset (it has no data/metadata.json)",
                     "give a Minari dataset directory, a dataset id or a D4RL .hdf5 file")
    roots = (datasets_root(), minari_io.default_minari_root())
    for root in roots:
        if minari_io.is_minari_dataset(root / str(spec)):
            return "minari", root / str(spec)
    raise ValueError(f"no dataset {str(spec)!r}: it is no file or directory, nor a Minari dataset id under "
                     f"{' or '.join(str(r) for r in roots)}; build one with `daftrl dataset build --robot ROBOT` "
                     "or give a D4RL .hdf5 file")


def read_card(directory: Path) -> dict | None:
    """The card `build_dataset` wrote beside a dataset (None for a dataset daftrl did not build)."""
    path = directory / CARD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        raise refuse(str(path), "is not valid JSON", "rebuild the dataset (`daftrl dataset build --force`)") from None


def load_dataset(spec: str | os.PathLike, robot: str | None = None, obs_dim: int | None = None,
                 act_dim: int | None = None) -> Dataset:
    """A dataset in a `ReplayBuffer` (transitions in collection order) from a Minari id or directory or a D4RL file.

    `robot` (or `obs_dim`/`act_dim`) is what the caller will train: a dataset of another robot, or with other
    observation or action sizes, is refused with a `DatasetError` (a ValueError) before any buffer is filled, as is
    a malformed file (missing keys, inconsistent lengths, NaN/inf, actions outside [-1, 1]; `data.check_arrays`), a
    D4RL file whose next observations do not follow its observations (`d4rl.check_next_obs`), and a daftrl dataset
    whose card lacks its robot or checksum or whose data no longer match that checksum."""
    from daftrl.envs.robots import ROBOTS

    if robot is not None and robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; name one of {', '.join(ROBOTS)}")
    kind, path = locate(spec)
    if kind == "d4rl":
        raw, extra = d4rl.read_d4rl(path)
        name, own, card, meta = str(path), None, None, {"format": "d4rl", "path": str(path), **extra}
    else:
        raw, metadata = minari_io.read_minari(path)
        card = read_card(path)
        name = metadata.get("dataset_id", str(path))
        if card is not None:
            _check_card(card, path, metadata)
        own = card["robot"] if card is not None else _robot_of(metadata)
        meta = {"format": "minari", "path": str(path), "minari": metadata, "card": card}
    if robot is not None and own is not None and own != robot:
        raise refuse(str(path), f"was collected on {own}, not {robot}", f"give a {robot} dataset")
    arrays = check_arrays(raw, str(path), robot or own, obs_dim, act_dim)
    if kind == "d4rl":  # a Minari dataset's next observations are its observations shifted by construction
        d4rl.check_next_obs(arrays, str(path))
    digest = checksum(arrays)
    if card is not None and card["checksum"] != digest:
        raise refuse(str(path), f"its data no longer match the checksum its card recorded "
                     f"({card['checksum'][:12]} vs {digest[:12]})",
                     f"rebuild it: daftrl dataset build --robot {card['robot']} --force")
    return Dataset(name, robot or own, to_buffer(arrays), digest, meta)


def _check_card(card, directory: Path, metadata: dict) -> None:
    """Refuse a card without what loading relies on: the robot and the checksum (both strings)."""
    fields = card if isinstance(card, dict) else {}
    lacking = [k for k in ("checksum", "robot") if not isinstance(fields.get(k), str)]
    if lacking:
        robot = fields["robot"] if "robot" not in lacking else _robot_of(metadata) or "ROBOT"
        raise refuse(str(directory / CARD), f"lacks the {' and the '.join(lacking)} every daftrl card records "
                     "(the data cannot be checked without them)", f"rebuild it: daftrl dataset build --robot {robot} "
                     "--force")


def _robot_of(metadata: dict) -> str | None:
    """The daftrl robot whose stock source env a Minari dataset was collected in: its gymnasium id and the robot's
    keyword arguments (Minari's own Ant-v5 datasets keep the contact forces: not daftrl's 27-dim Ant)."""
    from daftrl.envs.robots import ROBOTS

    env_id = minari_io.env_id(metadata)
    kwargs = (json.loads(metadata["env_spec"]).get("kwargs") or {}) if env_id else {}
    for robot in ROBOTS.values():
        if robot.gym_id == env_id and all(kwargs.get(k) == v for k, v in robot.kwargs):
            return robot.name
    return None


def list_datasets(root: str | os.PathLike | None = None) -> list[dict]:
    """Every Minari dataset under `root` (default `datasets_root()`): its id, directory and card (None if it has
    none), sorted by id. Hidden directories (unfinished builds) are skipped."""
    root = Path(root) if root else datasets_root()
    found = []
    for here, dirs, _ in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        path = Path(here)
        if minari_io.is_minari_dataset(path):
            dirs[:] = []
            found.append({"id": path.relative_to(root).as_posix(), "path": path, "card": read_card(path)})
    return found

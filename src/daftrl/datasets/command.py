"""`daftrl dataset`: its options and what it prints (building and loading are `build.py` and `load.py`)."""

from __future__ import annotations

import dataclasses
import json
from typing import Literal

from tyro.conf import Positional


@dataclasses.dataclass
class DatasetArgs:
    """Offline datasets (docs/datasets.md): `dataset build --robot hopper` rolls out the bundled medium actor
    stochastically in the robot's stock v5 env and writes the Minari dataset daftrl/<robot>/medium-v0 under
    $DAFTRL_HOME/datasets; `dataset list` lists the datasets there; `dataset show NAME` prints one's card and
    Minari metadata (NAME: a dataset id, a dataset directory or a D4RL .hdf5 file)."""

    action: Positional[Literal["build", "list", "show"]] = "list"
    name: Positional[str | None] = None
    """With show: a dataset id (daftrl/hopper/medium-v0), a dataset directory or a D4RL .hdf5 file."""
    robot: str | None = None
    """With build: halfcheetah, hopper, walker or ant."""
    level: Literal["medium"] = "medium"
    """With build: which bundled actor collects the data (medium: about a third of the expert's return)."""
    transitions: int = 1_000_000
    """With build: transitions to collect (D4RL's medium datasets hold 1e6)."""
    seed: int = 0
    """With build: seeds the envs and the action noise; the same seed and transitions give the same data."""
    force: bool = False
    """With build: replace an existing dataset of the same id."""


def run(args: DatasetArgs) -> int:
    """Carry out `daftrl dataset ACTION`; returns the exit code (bad input raises ValueError)."""
    if args.action == "build":
        return _build(args)
    if args.action == "list":
        return _list()
    if not args.name:
        raise ValueError("name a dataset: daftrl dataset show NAME (`daftrl dataset list` lists them)")
    return _show(args.name)


def _build(args: DatasetArgs) -> int:
    from daftrl.datasets.build import build_dataset
    from daftrl.datasets.load import read_card

    if not args.robot:
        raise ValueError("name the robot: daftrl dataset build --robot ROBOT (halfcheetah, hopper, walker, ant)")
    path = build_dataset(args.robot, args.level, args.transitions, args.seed, force=args.force)
    card = read_card(path)
    print(f"wrote {card['dataset_id']} ({path}): {card['transitions']:,} transitions, {card['episodes']} episodes "
          f"({card['terminations']} terminated), mean return {_mean_return(card)}, checksum {card['checksum'][:16]}, "
          f"{card['build_seconds']:.0f} s")
    return 0


def _list() -> int:
    from daftrl.datasets.load import datasets_root, list_datasets

    found = list_datasets()
    if not found:
        print(f"no datasets under {datasets_root()}; build one: daftrl dataset build --robot ROBOT")
        return 0
    print(f"datasets under {datasets_root()}:")
    for entry in found:
        card = entry["card"]
        if card is None:
            print(f"  {entry['id']}  (not built by daftrl: no card)")
            continue
        try:
            print(f"  {entry['id']}  {card['transitions']:>9,} transitions  {card['episodes']:>5} episodes  "
                  f"return {_mean_return(card):>17}  seed {card['seed']}  {card['checksum'][:12]}")
        except (KeyError, TypeError, ValueError):  # one damaged card does not hide the other datasets
            print(f"  {entry['id']}  (its card.json is damaged: rebuild it with daftrl dataset build ... --force)")
    return 0


def _mean_return(card: dict) -> str:
    ret = card["episode_return"]
    return "n/a (no whole episode)" if ret["mean"] is None else f"{ret['mean']:,.1f} ± {ret['std']:,.1f}"


def _show(name: str) -> int:
    """Print a dataset's card (daftrl's own) or its Minari metadata / D4RL attributes, and what it holds."""
    from daftrl.datasets.load import load_dataset

    data = load_dataset(name)
    summary = {"name": data.name, "robot": data.robot, "transitions": len(data), "obs_dim": data.obs_dim,
               "act_dim": data.act_dim, "terminated": int(data.buffer.data["terminated"].sum()),
               "truncated": int(data.buffer.data["truncated"].sum()), "checksum": data.checksum}
    print(json.dumps({"dataset": summary, **data.meta}, indent=2, default=str))
    return 0

"""`daftrl zoo`: its options and what it prints (verifying, exporting and rescoring entries is `build.py`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tyro.conf import Positional


@dataclasses.dataclass
class ZooArgs:
    """Bundled source experts: `zoo list`, `zoo show ROBOT`, `zoo verify [ROBOT]`,
    `zoo export ROBOT --run RUN_DIR` (maintainers: turn a pretraining run into a zoo entry),
    `zoo rescore [ROBOT]` (maintainers: recompute the card's zero-shot returns on every task)."""

    action: Positional[Literal["list", "show", "verify", "export", "rescore"]] = "list"
    robot: Positional[str | None] = None
    run: str | None = None
    """With export: the pretraining run directory."""
    episodes: int = 10
    note: str | None = None
    """With export: a remark stored in card.json (e.g. that an expert is provisional)."""
    source_size: int | None = None
    """With export: rows of D_src to bundle (default: a pretraining run's latest 1e5 transitions, an offline run's
    --source-size; the bundled CQL experts use 50000, docs/zoo.md)."""


def run(args: ZooArgs) -> int:
    """Do what `args` asks; the exit code (1: `verify` found a mismatch)."""
    import daftrl.zoo as bundled
    from daftrl.zoo import build

    robots = [args.robot] if args.robot else bundled.names()
    if args.action == "list":
        build.print_zoo()
    elif args.action == "show":
        build.print_card(args.robot or "")
    elif args.action == "verify":
        return 0 if build.print_verify(robots) else 1
    elif args.action == "export":
        if not (args.robot and args.run):
            raise ValueError("name the robot and the run: daftrl zoo export ROBOT --run RUN_DIR")
        card = build.export(args.run, args.robot, episodes=args.episodes, note=args.note,
                            source_size=args.source_size)
        print(f"exported {args.robot}: source return {card['source_return']['return_mean']:,.1f}")
    else:
        build.print_rescore(robots, args.episodes)
    return 0

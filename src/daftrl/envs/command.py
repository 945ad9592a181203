"""`daftrl tasks`: its options and what it prints (the tasks are `tasks.py`, their descriptions `describe.py`)."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tyro.conf import Positional


@dataclasses.dataclass
class TasksArgs:
    """List the domain-shift tasks (`daftrl tasks`), show what one changes (`tasks show NAME`) or render it
    (`tasks render NAME --out F.png`)."""

    action: Positional[Literal["list", "show", "render"]] = "list"
    name: Positional[str | None] = None
    """Task name (show, render)."""
    family: str | None = None
    """With list: only this family (paper, inverted, gravity, friction, kinematic, morph)."""
    out: str | None = None
    """With render: output PNG path (default <name>.png)."""


def run(args: TasksArgs) -> int:
    """Do what `args` asks; the exit code."""
    from daftrl.envs import describe, render_task

    if args.action == "list":
        describe.print_task_list(args.family)
    elif not args.name:
        raise ValueError(f"name a task: daftrl tasks {args.action} NAME")
    elif args.action == "show":
        describe.print_task(args.name)
    else:
        out = args.out or f"{args.name}.png"
        render_task(args.name, out)
        print(f"wrote {out}")
    return 0

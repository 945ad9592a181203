"""`daftrl report`: its options (the report itself is `report.py`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tyro.conf import Positional


@dataclasses.dataclass
class ReportArgs:
    """Tables, learning curves, rliable aggregates and the runtime figure of a results store, as markdown with
    PNG/SVG figures. `daftrl report results --out docs/results.md` writes the committed docs/results.md."""

    root: Positional[str] = "results"
    """A results store, or one campaign in it (results/<campaign>)."""
    out: str = "report/results.md"
    """Markdown file to write."""
    figures: str | None = None
    """Directory for the figures (default: img/<name of --out> next to it)."""
    reps: int = 2000
    """Bootstrap repetitions for the confidence intervals."""


def run(args: ReportArgs) -> int:
    """Write the report; the exit code."""
    from daftrl.experiments.report import write_report

    write_report(Path(args.root), Path(args.out), Path(args.figures) if args.figures else None, reps=args.reps)
    print(f"wrote {args.out}")
    return 0

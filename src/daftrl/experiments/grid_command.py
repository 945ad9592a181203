"""`daftrl grid`: its options, which jobs they select, and what it prints (the grid itself is `grid.py`)."""

from __future__ import annotations

import dataclasses
import sys
from typing import Literal

from tyro.conf import Positional


@dataclasses.dataclass
class GridArgs:
    """Run an experiment grid in pieces (`grid run`), see where it stands (`grid status`), list its jobs
    (`grid list`), store finished run directories made outside a grid (`grid store RUN_DIR ...`) or rebuild the
    stored records of a run directory with this daftrl (`grid refresh RUN_DIR`: adds the curve's `q` to records
    made before it; replaces a record only if everything it holds is unchanged).

    The grid is a TOML file (docs/experiments.md) or one block given by --tasks/--methods/--seeds. Re-running
    skips runs whose record is in the store, resumes interrupted ones, and stores each record as it finishes:
    commit results/ to keep them across machines."""

    action: Positional[Literal["run", "status", "list", "store", "refresh"]] = "run"
    spec: Positional[str | None] = None
    """Grid TOML file (run, status, list); with store or refresh: the run directory."""
    executor: str = "serial"
    """serial | local (a process per core, pinned) | ray (RAY_ADDRESS or a local Ray instance)."""
    workers: int | None = None
    """local/ray: processes (default: one per usable core)."""
    cpus: str | None = None
    """Cores to use, e.g. 0,1 (local: one worker pinned per core; serial: pin this process)."""
    results: str = "results"
    """The results store (a directory; commit it)."""
    campaign: str | None = None
    """Without a spec: the campaign; with one: only this campaign's blocks. With store: required; with refresh:
    only the record of this campaign (default: the run's record in every campaign of the store)."""
    tasks: list[str] = dataclasses.field(default_factory=list)
    """Without a spec (as --methods, --seeds, --steps, --kind, --label, --option): the one block to run."""
    methods: list[str] = dataclasses.field(default_factory=list)
    seeds: list[int] = dataclasses.field(default_factory=list)
    """Default: 0."""
    steps: int | None = None
    kind: str | None = None
    """adapt (default) | cotrain."""
    label: str | None = None
    """Cell name in the store (default {method}; with store: default the run's method)."""
    option: list[str] = dataclasses.field(default_factory=list)
    """Run or method option name=value (repeatable), e.g. --option learning_starts=10000."""
    deadline: str | None = None
    """run: start no job that would end after this time at its estimated run time (the store's measured wall
    times, as `grid status` estimates them), e.g. when the machine will be reclaimed. HH:MM (local, the next
    such time), +DURATION (+2h, +90m, +1h30m) or an ISO date and time. Running jobs are not stopped."""


def run(args: GridArgs) -> int:
    """Carry out `daftrl grid ACTION`; returns the exit code (143 if runs were interrupted, 1 if some failed)."""
    from daftrl.experiments import grid

    if args.action == "store":
        return store_run(args)
    if args.action == "refresh":
        return refresh_run(args)
    if args.spec:
        spec = spec_of_file(args)
    elif args.tasks and args.methods:
        spec = grid.spec_from_flags(args.campaign, args.tasks, args.methods, args.seeds or [0], args.steps,
                                    args.kind or "adapt", args.label or "{method}", args.option)
    else:
        raise ValueError("name a grid: daftrl grid run|status|list GRID.toml, or --campaign C --tasks ... "
                         "--methods ... [--seeds ...] (see --help)")
    jobs = grid.expand(spec, args.spec or "command line")
    if args.action == "list":
        for job in jobs:
            print(f"{job.run_id}  {job.name()}  {job.run_dir()}")
        return 0
    if args.action == "status":
        print_status(grid.status(jobs, args.results))
        return 0
    from daftrl.experiments.executors import run_grid

    deadline = parse_deadline(args.deadline) if args.deadline else None
    res = run_grid(jobs, args.results, args.executor, args.workers, args.cpus, deadline=deadline)
    print(f"grid: {res['done']} stored, {res['skipped']} already stored"
          + (f" ({len(res['stale'])} of them stale, see above)" if res["stale"] else "")
          + f", {res['identical']} identical, {res['interrupted']} interrupted, {res['busy']} running elsewhere, "
          f"{res['failed']} failed, {res['deferred']} not started before the deadline "
          f"({res['wall_time_s'] / 60:.1f} min); records in {args.results}/")
    for error in res["errors"]:
        print(f"  {error}", file=sys.stderr)
    if res["interrupted"]:
        print("interrupted runs resume when the same command runs again", file=sys.stderr)
        return 143
    return 1 if res["failed"] else 0


SPEC_FLAGS = ("tasks", "methods", "seeds", "steps", "kind", "label", "option")
"""The flags that define a grid's one block on the command line: with a grid file they would be ignored."""


def spec_of_file(args: GridArgs) -> dict:
    """The grid file's specification, with only the blocks of `--campaign` if given (a block's campaign as
    `expand` reads it: its own, else [defaults]', else the file's). ValueError for a flag that defines a block
    on the command line: the file defines them."""
    from daftrl.experiments import grid

    given = [f"--{name}" for name in SPEC_FLAGS if getattr(args, name) not in (None, [])]
    if given:
        raise ValueError(f"{' '.join(given)}: with a grid file ({args.spec}) the blocks come from the file; set them "
                         "there, or leave out the file to run one block from these flags")
    spec = grid.load_spec(args.spec)
    if args.campaign:
        blocks = spec.get("block") or []
        spec["block"] = [b for b in blocks if grid.block_campaign(spec, b) == args.campaign]
        if blocks and not spec["block"]:
            found = sorted({str(grid.block_campaign(spec, b)) for b in blocks})
            raise ValueError(f"--campaign {args.campaign}: no block of {args.spec} is in that campaign (its "
                             f"campaigns: {', '.join(found)})")
    return spec


def parse_deadline(text: str, now: float | None = None) -> float:
    """`--deadline` as a Unix time: HH:MM (local time; tomorrow if that time has passed today), +DURATION
    (e.g. +2h, +90m, +1h30m) or an ISO 8601 date and time (local unless it names its offset)."""
    import datetime as dt
    import re
    import time

    now = time.time() if now is None else now
    text = text.strip()
    rel = re.fullmatch(r"\+(?:(\d+)h)?(?:(\d+)m)?", text)
    if rel and any(rel.groups()):
        return now + 3600 * int(rel[1] or 0) + 60 * int(rel[2] or 0)
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock and int(clock[1]) < 24 and int(clock[2]) < 60:
        today = dt.datetime.fromtimestamp(now).replace(hour=int(clock[1]), minute=int(clock[2]), second=0,
                                                       microsecond=0)
        t = today.timestamp()
        return t if t > now else (today + dt.timedelta(days=1)).timestamp()
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise ValueError(f"--deadline {text!r}: give HH:MM, +DURATION (e.g. +2h30m) or an ISO date and time "
                         "(e.g. 2026-12-05T23:40)") from None


def print_status(rows: list[dict]) -> None:
    """The table of `daftrl grid status`: per cell, runs by state and the core-hours left (`grid.status`)."""
    from rich.console import Console
    from rich.table import Table

    table = Table("campaign", "task", "label", "done", "stale", "running", "failed", "resumable", "pending",
                  "core-h left", title="grid status")
    total, unknown = 0.0, False
    for r in rows:
        hours = r["remaining_core_hours"]
        total += hours or 0.0
        unknown |= hours is None
        table.add_row(r["campaign"], r["task"], r["label"], str(r.get("done", 0) + r.get("finished", 0)),
                      str(r.get("stale", 0)), str(r.get("running", 0)), str(r.get("failed", 0)),
                      str(r.get("interrupted", 0)), str(r.get("pending", 0)), "?" if hours is None else f"{hours:.2f}")
    console = Console(width=None if sys.stdout.isatty() else 160)  # a log file gets whole names
    console.print(table)
    console.print(f"remaining: {total:.1f} core-hours" + (" (+ cells with no finished run to estimate from)"
                                                            if unknown else ""))
    for r in rows:
        for failure in r["failed_errors"]:
            seeds = ", ".join(map(str, failure["seeds"]))
            console.print(f"failed in {r['label']} {r['task']} (seed{'s' if len(failure['seeds']) > 1 else ''} "
                          f"{seeds}): {failure['error']}", markup=False)
    for r in rows:
        for drift in r.get("stale_drift", []):
            seeds = ", ".join(map(str, drift["seeds"]))
            console.print(f"stale in {r['label']} {r['task']} (seed{'s' if len(drift['seeds']) > 1 else ''} "
                          f"{seeds}): {drift['error']}", markup=False)
    if any(r.get("stale") for r in rows):
        console.print("stale: stored records that differ from what the grid would run now (a default changed since "
                      "they were made?); they are kept and count as done; delete a record (and its run directory) "
                      "to run it again", markup=False)


def store_run(args: GridArgs) -> int:
    """`daftrl grid store RUN_DIR --campaign C`: put a finished run made outside a grid into the store."""
    from daftrl.experiments import store

    if not (args.spec and args.campaign):
        raise ValueError("name the run and its campaign: daftrl grid store RUN_DIR --campaign C [--label L] "
                         "[--results results]")
    record = store.record_from_run(args.spec, args.campaign, args.label)
    written = store.write_record(args.results, record)
    print(f"{written}: {store.record_path(args.results, record)} (run {record['run_id']}, final return "
          f"{record['final_return']:,.1f})")
    return 0


def refresh_run(args: GridArgs) -> int:
    """`daftrl grid refresh RUN_DIR [--campaign C] [--results results]`: rebuild the records of the store that hold
    this run directory's run (`store.refresh_record`), in every campaign or in --campaign's. Returns 1 if one was
    refused (it is kept as it was, and the reason is printed)."""
    from daftrl.experiments import store

    if not args.spec:
        raise ValueError("name the run directory: daftrl grid refresh RUN_DIR [--campaign C] [--results results]")
    identity = store.run_dir_identity(args.spec)
    if identity is None:
        raise ValueError(f"{args.spec}: not the directory of an adapt or cotrain run with a checkpoint")
    wanted = store.run_id(identity)
    found = 0
    failed = 0
    for record in store.load_records(args.results):
        if record["run_id"] != wanted or (args.campaign and record["campaign"] != args.campaign):
            continue
        path = store.record_path(args.results, record)
        found += 1
        try:
            print(f"{store.refresh_record(path, args.spec)}: {path} (run {wanted})")
        except store.RecordError as e:
            failed += 1
            print(e, file=sys.stderr)
    if not found:
        raise ValueError(f"{args.spec}: its run {wanted} has no record in {args.results}"
                         + (f" (campaign {args.campaign})" if args.campaign else "") + "; store it with `grid store`")
    return 1 if failed else 0

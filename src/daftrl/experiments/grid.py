"""Experiment grids: tasks x methods x seeds (x options), run in pieces wherever there is a core.

A grid is a TOML file of blocks (docs/experiments.md)::

    campaign = "online"                 # default campaign of every block
    [defaults]                          # options every block starts from
    steps = 100000
    eval_every = 5000

    [[block]]
    tasks = ["halfcheetah-broken-back-thigh", "walker-no-right-thigh"]
    methods = ["ft", "daft"]
    seeds = [0, 1, 2]
    label = "{method}-warmup"           # default "{method}": the cell's name in the results store
    options = { learning_starts = 10000 }   # run and method options, named as the flags (with _)

Each job is one run with a stable id (`store.run_identity`): re-running a grid skips the runs whose record is in
the store, builds the record of runs that finished but were not stored, resumes interrupted runs from their
checkpoints (run dirs: $DAFTRL_HOME/grid/<campaign>/<task>/<label>/s<seed>-<run id>) and never runs one twice at
once (the run directory's lock). Jobs return records; only the driver writes the store. A campaign holds each run
once (under one label); two campaigns may share a run.

The id covers only options that differ from their defaults, so a default changed since a record was made keeps its
id: `drift` compares the stored record's resolved configuration with the job's, and `grid status` / `grid run` show
such records as stale (they are kept: records are committed results).
"""

from __future__ import annotations

import dataclasses
import difflib
import itertools
import json
import string
import time
import tomllib
import traceback
from pathlib import Path
from typing import Any

from daftrl.experiments import store
from daftrl.runs import resolve_budget

KINDS = ("adapt", "cotrain")
BLOCK_KEYS = {"campaign", "kind", "tasks", "methods", "seeds", "label", "options", "steps"}
LABEL_FIELDS = ("method", "task", "seed")
"""The placeholders a label may use: `{method}`, `{task}`, `{seed}`."""
DEFAULT_STEPS = 100_000


class GridError(ValueError):
    """A grid specification that cannot run: the message names the block and the key."""


@dataclasses.dataclass(frozen=True)
class Job:
    """One run of a grid: where its record goes (campaign, label, task, seed) and what it runs."""

    campaign: str
    label: str
    kind: str
    task: str
    method: str
    seed: int
    run_options: dict
    method_options: dict
    run_id: str
    identity: dict
    resolved: dict = dataclasses.field(default_factory=dict)
    """{"config": ..., "method_config": ...}: the full configuration the job runs with now (for `drift`)."""

    @property
    def cell(self) -> tuple[str, str, str]:
        return self.campaign, self.task, self.label

    def run_dir(self) -> Path:
        from daftrl.checkpoint import daftrl_home

        return daftrl_home() / "grid" / self.campaign / self.task / self.label / f"s{self.seed}-{self.run_id}"

    def record_path(self, root: str | Path) -> Path:
        return store.record_path(root, {"campaign": self.campaign, "task": self.task, "label": self.label,
                                        "seed": self.seed})

    def name(self) -> str:
        return f"{self.campaign}/{self.task}/{self.label}/s{self.seed}"


# ----------------------------------------------------------------------------- specification
def load_spec(path: str | Path) -> dict:
    """Parse a grid TOML file (GridError with the file name if it is not valid TOML)."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise GridError(f"grid file {path} not found") from None
    except tomllib.TOMLDecodeError as e:
        raise GridError(f"{path}: not valid TOML ({e})") from None


def expand(spec: dict, where: str = "grid") -> list[Job]:
    """The jobs of a grid specification, validated before anything runs (unknown task, method or option, a
    label used twice for different options: GridError naming the block)."""
    unknown = set(spec) - {"campaign", "defaults", "block"}
    if unknown:
        raise GridError(f"{where}: unknown top-level key(s) {', '.join(sorted(unknown))}; use campaign, "
                        "[defaults] and [[block]]")
    blocks = spec.get("block") or []
    if not blocks:
        raise GridError(f"{where}: no [[block]] to run")
    defaults = spec.get("defaults", {})
    jobs: dict[tuple[str, str], Job] = {}  # (campaign, run id): two campaigns may share a run
    cells: dict[tuple, str] = {}
    for i, raw in enumerate(blocks):
        here = f"{where}, block {i + 1}"
        extra = set(raw) - BLOCK_KEYS
        if extra:
            raise GridError(f"{here}: unknown key(s) {', '.join(sorted(extra))}; run and method options go in "
                            f"`options = {{...}}` (block keys: {', '.join(sorted(BLOCK_KEYS))})")
        block = {**defaults, **raw}
        options = block_options(defaults, raw, here)
        for key in ("tasks", "methods", "seeds"):
            if not isinstance(block.get(key), list) or not block[key]:
                raise GridError(f"{here}: `{key}` must be a non-empty list")
        for task in block["tasks"]:
            for method in block["methods"]:
                for seed in block["seeds"]:
                    job = make_job(block_campaign(spec, raw), block.get("kind", "adapt"), task, method, seed,
                                   options, block.get("label", "{method}"), here)
                    _add(jobs, cells, job, here)
    return list(jobs.values())


def _add(jobs: dict[tuple[str, str], Job], cells: dict[tuple, str], job: Job, where: str) -> None:
    """Add a job to `expand`'s jobs; a job already there (the same run under the same label) is added once.
    GridError for one cell and seed with two configurations, or one run under two labels of a campaign (its
    store would hold the run twice: `store.load_records` refuses that)."""
    if cells.setdefault(job.cell + (job.seed,), job.run_id) != job.run_id:
        raise GridError(f"{where}: {job.name()} is defined twice with different options; give the variants "
                        "different labels (e.g. label = \"{method}-variant\")")
    same = jobs.setdefault((job.campaign, job.run_id), job)
    if same.label != job.label:
        raise GridError(f"{where}: {job.name()} is the same run as {same.name()} (the same options, run "
                        f"{job.run_id}); a campaign holds each run once: drop one of the two, or give the variant "
                        "the options that make it one")


def block_campaign(spec: dict, block: dict) -> str | None:
    """A block's campaign: its own, else the one in [defaults], else the top-level one (`expand`, and the
    blocks `grid run --campaign` selects)."""
    return block.get("campaign") or spec.get("defaults", {}).get("campaign") or spec.get("campaign")


def block_options(defaults: dict, block: dict, where: str = "grid") -> dict:
    """A block's run and method options: those of [defaults] (its option keys, then its `options` table, then its
    `steps`), then the block's own (its `options`, then its `steps`), the block's winning key by key, so a block
    with its own `options` still gets the defaults' `options`."""
    options: dict = {}
    for layer in (defaults, block):
        table = layer.get("options", {})
        if not isinstance(table, dict):
            raise GridError(f"{where}: `options` must be a table, e.g. options = {{ learning_starts = 10000 }}")
        options.update({k: v for k, v in layer.items() if k not in BLOCK_KEYS})
        options.update(table)
        if "steps" in layer:
            options["steps"] = layer["steps"]
    return options


def make_job(campaign: str | None, kind: str, task: str, method: str, seed: int, options: dict, label: str,
             where: str = "grid") -> Job:
    """One job with its options split into run and method options and checked against both configs."""
    from daftrl.configs import json_ready

    if not campaign:
        raise GridError(f"{where}: no campaign (set `campaign = \"name\"` at the top or in the block)")
    if kind not in KINDS:
        raise GridError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    _check_task(task, where)
    options = {k: _per_task(v, task) for k, v in options.items()}
    try:
        run_defaults, method_defaults = store.defaults_for(kind, method, task)
    except ValueError as e:
        raise GridError(f"{where}: {e}") from None
    run_opts, method_opts = {}, {}
    for key, value in options.items():
        if key in ("task", "method", "seed", "run_dir", "resume"):
            raise GridError(f"{where}: {key!r} is set by the grid itself, not in options")
        if key in run_defaults:
            run_opts[key] = value
        elif key in method_defaults:
            method_opts[key] = value
        else:
            close = difflib.get_close_matches(key, [*run_defaults, *method_defaults], n=3)
            raise GridError(f"{where}: {method} has no option {key!r}"
                            + (f" (did you mean {', '.join(close)}?)" if close else ""))
    run_config = {**run_defaults, **run_opts, "task": task, "method": method, "seed": int(seed)}
    if run_config.get("steps") is None and run_config.get("source_steps") is None:  # cotrain: either gives the budget
        run_config["steps"] = DEFAULT_STEPS
    name = label_name(label, method, task, seed, where)
    run_cfg, method_cfg = build_configs(kind, run_config, method_opts, where)
    run_dict = json_ready(dataclasses.asdict(run_cfg))
    method_dict = json_ready(dataclasses.asdict(method_cfg))
    identity = store.run_identity(kind, run_dict, run_defaults, store.non_default(method_dict, method_defaults))
    return Job(campaign, name, kind, task, method, int(seed), run_opts, method_opts, store.run_id(identity), identity,
               {"config": run_dict, "method_config": method_dict})


def label_name(label: str, method: str, task: str, seed: int, where: str = "grid") -> str:
    """A label with its placeholders filled in (LABEL_FIELDS); GridError naming the ones a label may use for any
    other, and for a name that is not plain (it is a directory of the store)."""
    allowed = ", ".join(f"{{{f}}}" for f in LABEL_FIELDS)
    try:
        unknown = [f for _, f, _, _ in string.Formatter().parse(label) if f is not None and f not in LABEL_FIELDS]
        name = None if unknown else label.format(method=method, task=task, seed=seed)
    except (ValueError, IndexError, KeyError, AttributeError) as e:  # "{", "{seed:x}" with a bad spec, ...
        raise GridError(f"{where}: label {label!r} cannot be filled in ({e}); a label may use {allowed}") from None
    if unknown:
        raise GridError(f"{where}: label {label!r} uses {', '.join(f'{{{f}}}' for f in unknown)}, which a label cannot "
                        f"use; a label may use {allowed} (e.g. label = \"{{method}}-variant\")")
    if not store._NAME.match(name):
        raise GridError(f"{where}: label {name!r} is not a plain name (letters, digits, . _ -)")
    return name


def _per_task(value: Any, task: str) -> Any:
    """An option's value for one task: "{robot}" and "{task}" in a string become the task's robot and name (e.g.
    expert = "{robot}-cql", dataset = "daftrl/{robot}/medium-v0"); other values are kept."""
    if not isinstance(value, str) or "{" not in value:
        return value
    from daftrl.envs import TASKS

    return value.replace("{robot}", TASKS[task].robot).replace("{task}", task)


def _check_task(task: str, where: str) -> None:
    from daftrl.envs import TASKS

    try:
        TASKS[task]
    except (KeyError, ValueError) as e:
        raise GridError(f"{where}: {e.args[0] if e.args else e}") from None


def build_configs(kind: str, run_config: dict, method_options: dict, where: str = "grid"):
    """(run config, method config) dataclasses of a job; GridError with the config's own message if invalid."""
    from daftrl.algos import method_spec

    try:
        base = method_spec(run_config["method"], kind).default_config(run_config["task"])
    except ValueError as e:
        raise GridError(f"{where}: {e}") from None
    if kind == "adapt":
        from daftrl.loops import AdaptRunConfig as RunConfig
    else:
        from daftrl.cotrain import CotrainRunConfig as RunConfig
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    try:
        run_cfg = RunConfig(**{k: v for k, v in run_config.items() if k in fields})
        if kind == "cotrain":  # h2o, bc-par, bc-vgdf without a dataset: refused here, not in every worker
            from daftrl.cotrain import check_source

            check_source(method_spec(run_config["method"], kind), run_cfg)
        run_cfg = resolve_budget(run_cfg)
        method_cfg = dataclasses.replace(base, **{k: _tuple_lists(v) for k, v in method_options.items()})
    except (TypeError, ValueError) as e:
        raise GridError(f"{where}: {e}") from None
    return run_cfg, method_cfg


def _tuple_lists(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


# ----------------------------------------------------------------------------- state of a grid
def job_state(job: Job, stored: dict[tuple[str, str], dict]) -> str:
    """done (its record is in the store), running (another process holds its run dir), failed (its last attempt
    raised), interrupted (a checkpoint to resume), finished (finished on this machine, record not yet stored)
    or pending."""
    if (job.campaign, job.run_id) in stored:
        return "done"
    from daftrl.rundir import RunDir

    d = job.run_dir()
    if not d.exists():
        return "pending"
    if RunDir(d).locked():
        return "running"
    if (d / "failed.json").exists():
        return "failed"
    if RunDir(d).finished():
        return "finished"
    if (d / "checkpoint.safetensors").exists():
        return "interrupted"
    return "pending"


def stored_records(root: str | Path) -> dict[tuple[str, str], dict]:
    """(campaign, run id) -> record of every record in the store (empty if the store does not exist yet)."""
    root = Path(root)
    return {(r["campaign"], r["run_id"]): r for r in store.load_records(root)} if root.exists() else {}


def drift(job: Job, record: dict) -> list[str]:
    """How the stored record of a done job differs from what the job would run now, one "section.key: stored X, now
    Y" per option: the run id covers only non-default options, so a default changed since the record was made
    keeps its id, and only this comparison of the resolved configurations shows it. Only options both hold are
    compared (one added since, with a default that keeps behaviour, is not drift); options renamed since are read
    under their new names (`daftrl.configs.RENAMED_OPTIONS`); run-local ones (`store.NOT_IN_ID`) do not count;
    strings are compared as `portable` makes them (a record holds no absolute path)."""
    from daftrl.configs import RENAMED_OPTIONS
    from daftrl.provenance import portable_tree

    found = []
    for section in ("config", "method_config"):
        now, then = job.resolved.get(section, {}), dict(record.get(section) or {})
        for old, new in RENAMED_OPTIONS.items():
            if old in then and old not in now:
                then.update(new(then.pop(old)))
        for key in sorted(set(now) & set(then) - store.NOT_IN_ID):
            a, b = store.canonical(then[key]), store.canonical(portable_tree(now[key]))
            if a != b:
                found.append(f"{section}.{key}: stored {a}, now {b}")
    return found


def stale_records(jobs: list[Job], stored: dict[tuple[str, str], dict]) -> list[str]:
    """One line per done job whose record `drift`s from what the job would run now: "name: its drift"."""
    return [f"{job.name()}: {'; '.join(d)}" for job in jobs
            if (record := stored.get((job.campaign, job.run_id))) and (d := drift(job, record))]


def check_paths(jobs: list[Job], root: str | Path, stored: dict[tuple[str, str], dict]) -> None:
    """GridError if a job's record path holds a record of another run (a label reused for other options)."""
    for job in jobs:
        path = job.record_path(root)
        if (job.campaign, job.run_id) not in stored and path.exists():
            old = store.read_record(path)
            raise GridError(f"{path} holds run {old['run_id']} with options {store.canonical(old['identity'])}, but "
                            f"the grid defines {job.name()} as run {job.run_id} with "
                            f"{store.canonical(job.identity)}: use another label for the new options, or delete "
                            "the old record if it is obsolete")


def status(jobs: list[Job], root: str | Path) -> list[dict]:
    """One row per cell (campaign, task, label): counts per state, how many of its done runs are stale (their
    record `drift`s from what the grid would run now; they count as done too) and the estimated remaining
    core-hours (the sum of `_estimate_hours` over its runs not done; None when one of them has nothing to be
    estimated from)."""
    stored = stored_records(root)
    rows: dict[tuple, dict] = {}
    for job in jobs:
        row = rows.setdefault(job.cell, {"campaign": job.campaign, "task": job.task, "label": job.label,
                                         "kind": job.kind, "stale": 0, "jobs": []})
        state = job_state(job, stored)
        row[state] = row.get(state, 0) + 1
        row["jobs"].append((job, state))
    for row in rows.values():
        left = [j for j, s in row["jobs"] if s not in ("done", "finished")]
        hours = [_estimate_hours(j, stored.values()) for j in left]
        row["remaining_core_hours"] = sum(hours) if None not in hours else None
        row["failed_errors"] = _by_seeds((_failure(j), j.seed) for j, s in row["jobs"] if s == "failed")
        row["stale_drift"] = _by_seeds(("; ".join(d), j.seed) for j, s in row["jobs"] if s == "done"
                                       and (d := drift(j, stored[(j.campaign, j.run_id)])))
        row["stale"] = sum(len(d["seeds"]) for d in row["stale_drift"])
        del row["jobs"]
    return sorted(rows.values(), key=lambda r: (r["campaign"], r["task"], r["label"]))


def _by_seeds(pairs) -> list[dict]:
    """(message, seed) pairs as one {"error": message, "seeds": [...]} per distinct message, in order of first
    appearance: one line per distinct error or drift, with the seeds it concerns."""
    seeds: dict[str, list[int]] = {}
    for message, seed in pairs:
        seeds.setdefault(message, []).append(seed)
    return [{"error": m, "seeds": sorted(s)} for m, s in seeds.items()]


def latest_start(job: Job, deadline: float | None, records) -> float | None:
    """The latest Unix time at which the job may start and still end before `deadline`: the deadline minus its
    estimated time left (`_estimate_hours`: the store's measured wall times, and a started run's own), or the
    deadline itself when there is nothing to estimate from; None without a deadline. The executors ask just before
    a job starts, with the store as it is then: a record stored since the grid began informs the jobs after it."""
    if deadline is None:
        return None
    return deadline - 3600 * (_estimate_hours(job, list(records)) or 0.0)


def _estimate_hours(job: Job, records) -> float | None:
    """A job's remaining wall time in hours. From the store: the finished records most like it (same label and task,
    else same label, else same method, else same kind), their median time per step times its budget, or for a run
    that takes no step (zero-shot: one evaluation) their median wall time. A started run (`_own_pace`: evaluated
    past step 0 and resumable, or running elsewhere) needs only its steps left, at its own pace or, when the store
    has runs of the same label or method, at the slower of the two. None when neither gives an estimate."""
    import statistics

    from daftrl.algos import method_spec

    trains = getattr(method_spec(job.method).method_cls, "learns", True)  # zero-shot: one evaluation, no step
    steps = job.identity["steps"]
    per_step, alike = None, False
    for level, match in enumerate((lambda r: r["label"] == job.label and r["task"] == job.task,
                                   lambda r: r["label"] == job.label,
                                   lambda r: r["kind"] == job.kind and r["method"] == job.method,
                                   lambda r: r["kind"] == job.kind)):
        found = [r for r in records if r.get("wall_time_s") and r["status"] == "finished" and match(r)
                 and bool(r["steps"]) == trains]
        if found and not trains:
            return statistics.median(r["wall_time_s"] for r in found) / 3600
        if found:
            per_step, alike = statistics.median(r["wall_time_s"] / r["steps"] for r in found), level < 3
            break
    own = _own_pace(job, steps) if trains else None
    if own is None:
        return None if per_step is None else per_step * steps / 3600
    done, own_per_step = own
    return max(own_per_step, per_step if alike else 0.0) * max(steps - done, 0) / 3600


def _own_pace(job: Job, steps: int) -> tuple[int, float] | None:
    """(steps done, expected seconds per step for the rest) of a started run, from its evaluation rows' cumulative
    wall time (it carries over resumes: the checkpoint keeps it). A run resumes from its checkpoint, so only the
    evaluations up to the checkpoint's wall time count, unless another process is running it; a run with no
    checkpoint starts again from 0 (None). The pace is that of the last evaluation interval, growing as the
    intervals grow: a least-squares line through the latest half of the intervals that began after
    `learning_starts` (at least 4 of them), when its slope is over 3 standard errors above 0. So a run whose steps
    grow dearer, like BC-VGDF refitting its dynamics model on all the target data it has (docs/cotraining.md), is
    estimated at its trend, while the noise of a shared machine and the jump when updates begin are not taken for
    one. None before two evaluations."""
    import warnings

    import numpy as np

    from daftrl.checkpoint import checkpoint_meta
    from daftrl.rundir import RunDir

    run = RunDir(job.run_dir())
    try:
        running = run.locked()
        if not running and not run.has_checkpoint():
            return None
        until = float("inf") if running else float(checkpoint_meta(run.checkpoint)["wall_time"])
        learning_starts = int(run.read_config().get("method_config", {}).get("learning_starts") or 0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a torn last row of a run being written: skipped
            rows = [(int(r["step"]), float(r["wall_time"])) for r in run.rows("eval")
                    if float(r["wall_time"]) <= until]
    except Exception:  # noqa: BLE001 - an unreadable run is estimated from the store alone
        return None
    intervals = list(itertools.pairwise(rows))
    if not intervals or any(b[0] <= a[0] or b[1] < a[1] for a, b in intervals):
        return None
    paces = np.array([(b[1] - a[1]) / (b[0] - a[0]) for a, b in intervals])
    done, pace = rows[-1][0], float(paces[-1])
    # the trend: intervals that began once learning had started, the latest half of them
    learning = [i for i, (a, _) in enumerate(intervals) if a[0] >= learning_starts]
    window = learning[-max(4, (len(learning) + 1) // 2):]
    if len(window) >= 4 and steps > done:
        mids = np.array([(intervals[i][0][0] + intervals[i][1][0]) / 2 for i in window])
        (slope, _), cov = np.polyfit(mids, paces[window], 1, cov=True)
        if slope > 3 * np.sqrt(cov[0, 0]):  # a clear trend, not the noise of a shared machine
            pace += float(slope) * ((done + steps) / 2 - mids[-1])  # the mean pace over the steps left, on it
    return done, pace


def _failure(job: Job) -> str:
    try:
        return json.loads((job.run_dir() / "failed.json").read_text())["error"]
    except (OSError, ValueError, KeyError):
        return "unknown error"


# ----------------------------------------------------------------------------- running one job
def run_job(job: Job, cpus: str | None = None, root: str | Path | None = None,
            start_by: float | None = None) -> dict:
    """Run (or resume, or just collect) one job in this process; returns {"status": "done", "record": ...},
    {"status": "skipped"} (`root`, a store this process can read, got its record meanwhile, e.g. from another
    grid process), {"status": "deferred"} (the clock is past `start_by`, a Unix time: the job would not finish
    before the grid's deadline, so it does not start), {"status": "interrupted"}, {"status": "busy"} or
    {"status": "failed", "error": ...}. Never raises: a failure is written to the run dir's failed.json and
    returned, so other jobs go on."""
    from daftrl.rundir import RunDir, RunDirBusy

    d = job.run_dir()
    try:
        if root is not None and _stored(job, root):
            return {"status": "skipped", "job": job.name()}
        if start_by is not None and time.time() > start_by and not RunDir(d).finished():
            return {"status": "deferred", "job": job.name()}
        if cpus:
            from daftrl.provenance import apply_cpu_settings

            apply_cpu_settings(cpus)
        check_run_dir(job, _dir_identity(d))
        if not RunDir(d).finished():
            result = _run(job, d)
            if result["status"] != "finished":
                return {"status": "interrupted", "job": job.name()}
        record = store.record_from_run(d, job.campaign, job.label)
        check_run_dir(job, record["identity"])
        (d / "failed.json").unlink(missing_ok=True)
        return {"status": "done", "record": record}
    except RunDirBusy as e:
        return {"status": "busy", "job": job.name(), "error": str(e)}
    except Exception as e:  # noqa: BLE001 - recorded and reported; the other jobs go on
        from daftrl.checkpoint import atomic_write_json

        error = f"{type(e).__name__}: {e}"
        try:
            atomic_write_json(d / "failed.json", {"error": error, "traceback": traceback.format_exc()})
        except OSError:
            pass
        return {"status": "failed", "job": job.name(), "error": error}


def check_run_dir(job: Job, identity: dict | None) -> None:
    """GridError if the job's run directory holds another run than the job's (`identity`, None for a run dir with
    nothing to resume): made when a default had another value (the directory's name holds the run id, which
    covers non-default options only) or copied from elsewhere. Resuming it would finish that other run, and its
    record would be stored under this job's name."""
    if identity is None or store.run_id(identity) == job.run_id:
        return
    raise GridError(f"{job.run_dir()} holds run {store.run_id(identity)} ({store.canonical(identity)}), not this "
                    f"job's run {job.run_id} ({store.canonical(job.identity)}), e.g. made before a default changed: "
                    "delete that stale run directory to run the job again")


def _dir_identity(d: Path) -> dict | None:
    try:
        return store.run_dir_identity(d)
    except Exception:  # noqa: BLE001 - unreadable now (being written?): checked again when its record is built
        return None


def _stored(job: Job, root: str | Path) -> bool:
    path = job.record_path(root)
    try:
        return path.exists() and json.loads(path.read_text()).get("run_id") == job.run_id
    except (OSError, ValueError):
        return False


def _run(job: Job, d: Path) -> dict:
    """Start or resume the job's run under the run directory's lock (taken before anything there is touched:
    another process may be writing its first rows)."""
    from daftrl.rundir import releases_run_locks

    return releases_run_locks(_run_locked)(job, d)


def _run_locked(job: Job, d: Path) -> dict:
    from daftrl.rundir import RunDir

    run = RunDir(d)
    run.lock()  # RunDirBusy if another process runs it: nothing here is touched then
    if run.finished():  # finished by another process since `run_job` looked: nothing to resume
        return {"status": "finished"}
    run_config = {**store.defaults_for(job.kind, job.method, job.task)[0], **job.run_options, "task": job.task,
                  "method": job.method, "seed": job.seed, "steps": job.identity["steps"]}
    run_cfg, method_cfg = build_configs(job.kind, run_config, job.method_options)
    resume = (d / "checkpoint.safetensors").is_file()
    if not resume:
        run.discard_partial()  # killed before its first checkpoint: start over (nothing else to keep)
    (d / "failed.json").unlink(missing_ok=True)
    run_cfg = dataclasses.replace(run_cfg, run_dir=str(d), resume=resume)
    if job.kind == "adapt":
        from daftrl.loops import adapt

        return adapt(run_cfg, None if resume else method_cfg, quiet=True)
    from daftrl.cotrain import cotrain

    return cotrain(run_cfg, None if resume else method_cfg, quiet=True)


def spec_from_flags(campaign: str | None, tasks: list[str], methods: list[str], seeds: list[int],
                    steps: int | None, kind: str, label: str, options: list[str]) -> dict:
    """A one-block grid specification from command-line flags; `options` are `name=value` pairs whose values
    are read as TOML (numbers, true/false, "strings", [lists])."""
    parsed = {}
    for item in options:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise GridError(f"--option {item!r}: write name=value, e.g. --option learning_starts=10000")
        try:
            parsed[name.strip().replace("-", "_")] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            parsed[name.strip().replace("-", "_")] = value  # a bare word: a string
    block = {"kind": kind, "tasks": tasks, "methods": methods, "seeds": seeds, "label": label, "options": parsed}
    if steps is not None:
        block["steps"] = steps
    return {"campaign": campaign, "block": [block]}

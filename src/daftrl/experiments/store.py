"""The results store: one small JSON record per finished run, committed to the repository.

Layout: `results/<campaign>/<task>/<label>/s<seed>.json`, where `label` names a cell of the campaign (the method,
or the method and a variant, e.g. `ft-fresh-critics`). A record holds the run's resolved configuration, the
expert's identity, the evaluation curve, the final return, wall times and provenance (docs/experiments.md
lists the fields), and never an absolute path of the machine it was made on. Checkpoints and full logs stay in
`$DAFTRL_HOME`; the store is what travels between machines, so a campaign grows in pieces wherever it runs.

Every record has a stable `run_id`, a hash of what decides its result (kind, task, method, seed, budget and
every option that differs from its default): re-running a grid skips runs whose id is in the store. Records are
validated on write and on read; a second record for the same run id or the same path is compared, and a
conflict is reported, never overwritten.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
from pathlib import Path
from typing import Any

from daftrl.provenance import committed_provenance, portable, portable_tree

SCHEMA_VERSION = 1
FINAL_FRACTION = 0.9
"""The final return is the mean of the evaluations at steps >= FINAL_FRACTION * budget (the last 10 %)."""

ALWAYS_IN_ID = ("kind", "task", "method", "seed", "steps")
"""Run options that are part of the run id whatever their value; other options enter only when not default."""
NOT_IN_ID = frozenset({"run_dir", "resume", "tensorboard", "logger", "checkpoint_every", "log_every", "cpus"})
"""Run options that do not change a run's result (resuming is bit-exact), so they never enter its id."""

REQUIRED = {
    "schema_version": int, "run_id": str, "identity": dict, "campaign": str, "label": str, "kind": str,
    "task": str, "method": str, "seed": int, "status": str, "budget_steps": int, "steps": int, "config": dict,
    "method_config": dict, "overrides": dict, "curve": list, "final_return": float, "provenance": dict,
}
OPTIONAL_NUMBERS = ("zero_shot", "wall_time_s", "eval_time_s", "train_time_s", "updates_per_s",
                    "projected_wall_time_s")
CURVE_FIELDS = ("step", "return_mean", "return_std", "returns", "wall_time", "train_return", "falls",
                "train_episodes", "q")
"""The fields of a curve point (docs/experiments.md). `q` (the mean of the learner's Q logged on its training
batches, one every `log_every` steps, since the previous evaluation) came later: a record without it is as valid,
and `refresh_record` adds it."""
TRAIN_FIELDS = ("q",)
"""The curve fields taken from the training rows of the run's log (the others are its evaluation row's)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_RECORD_FILE = re.compile(r"^s-?[0-9]+\.json$")
"""A record's file name (`record_path`): other files in the store (a summary, a note) are not records."""


class RecordError(ValueError):
    """A record is malformed, or conflicts with one already in the store."""


# ----------------------------------------------------------------------------- identity
def canonical(obj: Any) -> str:
    """The JSON text a hash is taken of: sorted keys, no whitespace, tuples as lists."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=list)


def non_default(values: dict, defaults: dict) -> dict:
    """The entries of `values` that differ from `defaults` (compared as JSON, so (1, 2) equals [1, 2])."""
    norm = lambda v: json.loads(json.dumps(v, default=list))  # noqa: E731
    return {k: v for k, v in sorted(values.items()) if k not in defaults or norm(v) != norm(defaults[k])}


def run_identity(kind: str, run_config: dict, run_defaults: dict, method_overrides: dict) -> dict:
    """What decides a run's result: its kind, task, method, seed and budget, the run options that differ from
    their defaults (without those in NOT_IN_ID) and the method options that differ from the method's defaults.
    Comparing with defaults keeps ids stable when a new option is added with a default that keeps behaviour.
    Strings are taken as `portable` writes them, so an expert or dataset given as a path has the same id on every
    machine (a zoo name or dataset id is unchanged by it: the ids of runs that name them stay as they were)."""
    full = {"kind": kind, **run_config}
    ident = {k: full[k] for k in ALWAYS_IN_ID if k in full}
    rest = {k: v for k, v in run_config.items() if k not in NOT_IN_ID and k not in ident}
    ident["options"] = portable_tree(non_default(rest, run_defaults))
    ident["method_options"] = portable_tree(dict(sorted(method_overrides.items())))
    return ident


def run_id(identity: dict) -> str:
    """12 hex digits of the SHA-256 of the canonical identity."""
    return hashlib.sha256(canonical(identity).encode()).hexdigest()[:12]


# ----------------------------------------------------------------------------- validation
def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def validate(record: dict, where: str = "record") -> dict:
    """Check a record's schema version, fields, types and that every number is finite; returns it.
    RecordError naming the field and `where` otherwise."""
    if not isinstance(record, dict):
        raise RecordError(f"{where}: a record is a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(f"{where}: schema_version {version!r}, this daftrl reads {SCHEMA_VERSION}; write it with "
                          "a matching version of daftrl (or migrate the file)")
    for key, typ in REQUIRED.items():
        value = record.get(key)
        ok = _finite(value) if typ is float else isinstance(value, typ) and not (typ is int and isinstance(value, bool))
        if not ok:
            raise RecordError(f"{where}: field {key!r} must be {'a finite number' if typ is float else typ.__name__}, "
                              f"got {value!r}")
    for key in ("campaign", "label", "task"):
        if not _NAME.match(record[key]):
            raise RecordError(f"{where}: {key} {record[key]!r} is not a plain name (letters, digits, . _ -)")
    if record["status"] not in ("finished", "partial"):
        raise RecordError(f"{where}: status {record['status']!r} is neither 'finished' nor 'partial'")
    for key in OPTIONAL_NUMBERS:
        if record.get(key) is not None and not _finite(record[key]):
            raise RecordError(f"{where}: field {key!r} must be a finite number or null, got {record[key]!r}")
    if not record["curve"]:
        raise RecordError(f"{where}: the curve is empty (a record needs at least the final evaluation)")
    last = -1
    for i, point in enumerate(record["curve"]):
        if not _finite(point.get("step")) or not _finite(point.get("return_mean")):
            raise RecordError(f"{where}: curve[{i}] needs a finite step and return_mean, got {point!r}")
        if point["step"] <= last:
            raise RecordError(f"{where}: curve steps must increase (curve[{i}] is at {point['step']} after {last})")
        last = point["step"]
        for key in CURVE_FIELDS[2:]:
            value = point.get(key)
            values = value if isinstance(value, list) else [value]
            if value is not None and not all(_finite(v) for v in values):
                raise RecordError(f"{where}: curve[{i}].{key} is not finite: {value!r}")
    if record["run_id"] != run_id(record.get("identity", {})):
        raise RecordError(f"{where}: run_id {record['run_id']} does not match its identity (the file was edited)")
    return record


# ----------------------------------------------------------------------------- reading and writing
def record_path(root: str | os.PathLike, record: dict) -> Path:
    return Path(root) / record["campaign"] / record["task"] / record["label"] / f"s{record['seed']}.json"


def read_record(path: str | os.PathLike) -> dict:
    path = Path(path)
    try:
        record = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise RecordError(f"{path}: not valid JSON ({e}); restore it from git") from None
    return validate(record, str(path))


def load_records(root: str | os.PathLike) -> list[dict]:
    """Every record under `root` (a store, a campaign or a task directory), validated, sorted by path: the files
    named as records are (`s<seed>.json`), so another file kept beside them (a summary.json) is no record and is not
    read. RecordError if a record file is malformed, sits at the wrong path, or two files of one campaign hold the
    same run (campaigns are separate collections: the same run may be in two, e.g. a study and the main grid)."""
    root = Path(root)
    if not root.exists():
        raise RecordError(f"{root}: no such results directory")
    records, seen = [], {}
    for path in sorted(p for p in root.rglob("s*.json") if _RECORD_FILE.match(p.name)):
        record = read_record(path)
        if not path.as_posix().endswith(record_path("", record).as_posix()):
            raise RecordError(f"{path}: holds {record_path('', record)}; move it there (the path is the record's "
                              "campaign/task/label/seed)")
        key = (record["campaign"], record["run_id"])
        if key in seen:
            raise RecordError(f"duplicate run {record['run_id']} in campaign {record['campaign']}: {seen[key]} and "
                              f"{path} hold the same run; delete one")
        seen[key] = path
        records.append(record)
    return records


def same_result(a: dict, b: dict) -> bool:
    """Two records of one run agree on what it produced (the curve and final return; not times or machines)."""
    strip = lambda c: [{k: p.get(k) for k in ("step", "return_mean", "returns")} for p in c]  # noqa: E731
    return strip(a["curve"]) == strip(b["curve"]) and a["final_return"] == b["final_return"]


def write_record(root: str | os.PathLike, record: dict) -> str:
    """Validate and store `record` atomically. Returns "written", or "identical" if the store already holds
    this run with the same result (nothing is written). RecordError if the path holds another run (a different
    configuration under the same label and seed) or the same run with a different result."""
    from daftrl.checkpoint import atomic_write_bytes

    validate(record, f"record of {record.get('label')}/{record.get('task')}/s{record.get('seed')}")
    path = record_path(root, record)
    if path.exists():
        old = read_record(path)
        if old["run_id"] != record["run_id"]:
            raise RecordError(
                f"{path} already holds run {old['run_id']} (options {canonical(old['identity'])}); this run "
                f"{record['run_id']} (options {canonical(record['identity'])}) is another configuration under the "
                "same label: give it its own label, or delete the old record if it is obsolete")
        if not same_result(old, record):
            raise RecordError(
                f"{path}: run {record['run_id']} is already stored with a different result (final return "
                f"{old['final_return']:.3f} from commit {old['provenance'].get('git_commit')}, now "
                f"{record['final_return']:.3f} from {record['provenance'].get('git_commit')}); kept the stored one. "
                "Check what changed between the two commits or machines before replacing it by hand")
        return "identical"
    atomic_write_bytes(path, dumps(record).encode())
    return "written"


PORTABLE_FIELDS = ("provenance", "resumes")
"""Record fields that depend on the checkout that builds the record (a command's paths inside it are written
relative, `portable`), not on the run: `refresh_record` keeps the stored ones."""


def refresh_record(path: str | os.PathLike, run_dir: str | os.PathLike) -> str:
    """Add to the record stored at `path` the curve fields added since it was made (`TRAIN_FIELDS`: `q`), rebuilt
    from its run directory with this daftrl, and replace the file (atomically). Only if the rebuilt record holds the
    stored one: every field equal (floats exactly), its curve points equal once the `TRAIN_FIELDS` a stored point
    lacks are left out, except `PORTABLE_FIELDS`, which are kept as stored. Returns "refreshed", or "identical" when
    the file already reads as the refreshed record would be written (nothing is written). RecordError naming the
    first field that differs otherwise (another run, a run directory that changed, or a record made by code that
    builds records otherwise): the file is left as it was."""
    from daftrl.checkpoint import atomic_write_bytes

    path = Path(path)
    stored = read_record(path)
    fresh = json.loads(dumps(record_from_run(run_dir, stored["campaign"], stored["label"])))  # as a file holds it
    comparable = {k: (stored[k] if k in PORTABLE_FIELDS and k in stored else v) for k, v in fresh.items()}
    if len(fresh["curve"]) == len(stored["curve"]):
        comparable["curve"] = [{k: v for k, v in new.items() if k in old or k not in TRAIN_FIELDS}
                               for old, new in zip(stored["curve"], fresh["curve"], strict=True)]
    difference = _first_difference(stored, comparable)
    if difference is not None:
        raise RecordError(f"{path}: not refreshed from {run_dir}: {difference}; the stored record is kept")
    refreshed = {**stored, "curve": [{**new, **old} for old, new in zip(stored["curve"], fresh["curve"], strict=True)]}
    text = dumps(validate(refreshed, str(path)))
    if path.read_text() == text:
        return "identical"
    atomic_write_bytes(path, text.encode())
    return "refreshed"


def _first_difference(stored: Any, rebuilt: Any, where: str = "") -> str | None:
    """Where `stored` and `rebuilt` (JSON values) first differ, as "field X differs: stored ..., rebuilt ..."; None
    if they are equal (numbers by value, floats exactly; true is not 1)."""
    if isinstance(stored, dict) and isinstance(rebuilt, dict):
        for key in sorted(set(stored) | set(rebuilt)):
            name = f"{where}.{key}" if where else key
            if key not in stored or key not in rebuilt:
                side = "stored record" if key not in stored else "rebuilt record"
                return f"field {name} is missing from the {side}"
            difference = _first_difference(stored[key], rebuilt[key], name)
            if difference is not None:
                return difference
        return None
    if isinstance(stored, list) and isinstance(rebuilt, list) and len(stored) == len(rebuilt):
        for i, (a, b) in enumerate(zip(stored, rebuilt, strict=True)):
            difference = _first_difference(a, b, f"{where}[{i}]")
            if difference is not None:
                return difference
        return None
    if stored == rebuilt and isinstance(stored, bool) == isinstance(rebuilt, bool):
        return None
    a, b = json.dumps(stored), json.dumps(rebuilt)
    start = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, start - 30) if isinstance(stored, str) and isinstance(rebuilt, str) else 0
    shorten = lambda t: ("..." if start else "") + (t[start:start + 80] + "..." if len(t) > start + 80  # noqa: E731
                                                     else t[start:])
    return f"field {where or 'record'} differs: stored {shorten(a)}, rebuilt {shorten(b)}"


def dumps(record: dict) -> str:
    """A record as JSON text: one line per top-level field and per curve point (small, and readable in diffs)."""
    lines = []
    for key in sorted(record):
        value = record[key]
        if key == "curve":
            points = ",\n".join("    " + json.dumps(p, sort_keys=True) for p in value)
            lines.append(f'  "curve": [\n{points}\n  ]')
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(value, sort_keys=True)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


# ----------------------------------------------------------------------------- building a record from a run
def portable_provenance(prov: dict) -> dict:
    """A record's provenance: the fields of `provenance.committed_provenance(prov)` that a record keeps (no host
    name)."""
    prov = committed_provenance(prov)
    machine = prov.get("machine", {})
    return {"git_commit": prov.get("git_commit"), "date": prov.get("date"), "command": prov.get("command"),
            "python": prov.get("python"), "versions": prov.get("versions", {}),
            "machine": {"cpu": machine.get("cpu"), "cores": machine.get("cores")}}


def final_return(curve: list[dict], budget: int) -> float:
    """Mean return of the evaluations in the last 10 % of the budget (FINAL_FRACTION); the last evaluation
    if none lies there (a run stopped early)."""
    tail = [p["return_mean"] for p in curve if p["step"] >= FINAL_FRACTION * budget]
    return float(sum(tail) / len(tail)) if tail else float(curve[-1]["return_mean"])


def expert_identity(name: str | None) -> dict | None:
    """Zoo name, checksum of its weights and source return, for a bundled expert; the name alone otherwise."""
    if not name:
        return None
    from daftrl import zoo

    if not zoo.has(name):
        return {"name": portable(name), "checksum": None, "source_return": None}
    card = zoo.card(name)
    return {"name": name, "checksum": card.get("sha256", {}).get("expert.safetensors"),
            "source_return": card.get("source_return", {}).get("return_mean")}


def record_from_run(run_dir: str | os.PathLike, campaign: str, label: str | None = None) -> dict:
    """The record of a finished `daftrl adapt` or `daftrl cotrain` run directory (RecordError if it has not
    finished)."""
    from daftrl.checkpoint import checkpoint_kind
    from daftrl.rundir import RunDir

    if not (Path(run_dir) / "config.json").is_file():
        raise RecordError(f"{run_dir} is not a daftrl run directory (no config.json)")
    run = RunDir(run_dir)
    if not run.finished():
        raise RecordError(f"{run.path} has no finished result.json: finish the run (`--resume`) before storing it")
    doc = json.loads(run.config_path.read_text())
    kind = checkpoint_kind(run.checkpoint)
    if kind not in ("adapt", "cotrain"):
        raise RecordError(f"{run.path} holds a {kind!r} run; the store keeps adapt and cotrain runs")
    config, method_config, overrides, identity = _identity_of(kind, doc)
    result = json.loads(run.result_path.read_text())
    rows = run.rows()
    curve = curve_of(rows)
    budget = int(config["steps"])
    check_complete(curve, int(result["steps"]), int(config["eval_every"]), str(run.path))
    evals = [p for p in curve if p["step"] > 0]
    eval_times = [r.get("eval_seconds") for r in rows if r.get("kind") == "eval"]
    eval_time = sum(eval_times) if eval_times and None not in eval_times else None
    wall = float(result["wall_time"])
    train_time = wall - eval_time if eval_time is not None else None
    if kind == "adapt":  # one update per target step once the buffer holds a batch
        start = max(int(method_config.get("learning_starts", 0)), int(method_config.get("batch_size", 1)))
        updates = max(0, int(result["steps"]) - start + 1) if config["method"] != "zero-shot" else 0
    elif result.get("updates") is not None:  # an offline source (--dataset): the loop counts its updates
        updates = int(result["updates"])
    else:  # one update per source step
        updates = int(result.get("source_steps") or 0)
    expert = result.get("expert") or {}
    record = {
        "schema_version": SCHEMA_VERSION, "run_id": run_id(identity), "identity": identity,
        "campaign": campaign, "label": label or config["method"], "kind": kind, "task": config["task"],
        "robot": _robot(config["task"]), "method": config["method"], "seed": int(config["seed"]),
        "status": "finished", "budget_steps": budget, "steps": int(result["steps"]),
        "config": {k: (portable(v) if isinstance(v, str) else v) for k, v in config.items()
                   if k not in NOT_IN_ID},
        "method_config": method_config, "overrides": overrides,
        "expert": expert_identity(config.get("expert") or (expert.get("name") if kind == "adapt" else None)),
        "dataset": ({"name": str(result["dataset"]), "checksum": str(result.get("dataset_checksum"))}
                    if result.get("dataset") else None),
        "curve": curve, "zero_shot": curve[0]["return_mean"] if curve[0]["step"] == 0 else None,
        "final_return": final_return(curve, budget) if evals or budget == 0 else curve[-1]["return_mean"],
        "wall_time_s": wall, "eval_time_s": eval_time, "train_time_s": train_time,
        "updates_per_s": updates / train_time if train_time and updates else None,
        "projected_wall_time_s": None,
        "provenance": portable_provenance(doc["provenance"]),
        "resumes": [portable_provenance(r) for r in doc.get("resumes", [])],
        "note": None,
    }
    return validate(record, str(run.path))


def run_dir_identity(run_dir: str | os.PathLike) -> dict | None:
    """The identity (`run_identity`) of the run a run directory holds, from its config.json and its checkpoint's
    kind, as its record will have it; None before its first checkpoint (such a run starts over) or for a run the
    store does not keep."""
    from daftrl.checkpoint import checkpoint_kind
    from daftrl.rundir import RunDir

    run = RunDir(run_dir)
    if not (run.config_path.is_file() and run.has_checkpoint()):
        return None
    kind = checkpoint_kind(run.checkpoint)
    if kind not in ("adapt", "cotrain"):
        return None
    return _identity_of(kind, json.loads(run.config_path.read_text()))[3]


def _identity_of(kind: str, doc: dict) -> tuple[dict, dict, dict, dict]:
    """(run config, method config, non-default method options, identity) of a run's config.json document."""
    config = dict(doc["config"])
    method_config = config.pop("method_config", {})
    run_defaults, method_defaults = defaults_for(kind, config["method"], config["task"])
    overrides = non_default(method_config, method_defaults)
    return config, method_config, overrides, run_identity(kind, config, run_defaults, overrides)


def check_complete(curve: list[dict], steps: int, every: int, where: str) -> None:
    """RecordError unless the run evaluated at step 0, every `every` steps and at its last step: a missing row
    means its log lost rows, and such a run is not stored."""
    expected = sorted({0, *range(every, steps + 1, every), steps})
    found = [p["step"] for p in curve]
    if found != expected:
        missing = sorted(set(expected) - set(found))[:5]
        raise RecordError(f"{where}: its evaluations are incomplete (missing steps {missing}...; found "
                          f"{len(found)} of {len(expected)}): the log lost rows, so the run is not stored; delete the "
                          "run directory and run it again")


def curve_of(rows: list[dict]) -> list[dict]:
    """A record's curve from a run's log rows (metrics.jsonl, in order): one point per evaluation row, with its
    evaluation fields and `q` = `mean_q` of the training rows since the previous evaluation."""
    evals = [r for r in rows if r.get("kind") == "eval"]
    trains = [r for r in rows if r.get("kind") == "train"]
    curve, previous = [], None
    for row in evals:
        point = {k: row.get(k) for k in CURVE_FIELDS if k not in TRAIN_FIELDS}
        point["q"] = mean_q(trains, previous, row["step"])
        curve.append(point)
        previous = row["step"]
    return curve


def mean_q(train_rows: list[dict], after: int | None, upto: int) -> float | None:
    """Mean of the `q` (the critic's mean Q on its batch) of the training rows logged at steps in (`after`, `upto`]
    (`after` None: the first evaluation, which has none before it); None when none of them has a `q` (step 0, a
    zero-shot run, a method that logs no Q)."""
    if after is None:
        return None
    values = [float(r["q"]) for r in train_rows if after < r.get("step", -1) <= upto and r.get("q") is not None]
    return float(sum(values) / len(values)) if values else None


def _robot(task: str) -> str | None:
    try:
        from daftrl.envs import TASKS

        return TASKS[task].robot
    except Exception:  # noqa: BLE001 - tasks outside the suite (custom envs in tests) have no robot
        return None


def defaults_for(kind: str, method: str, task: str) -> tuple[dict, dict]:
    """(run-option defaults, method-option defaults for this task) of a `daftrl adapt`/`cotrain` run."""
    from daftrl.algos import method_spec
    from daftrl.configs import json_ready

    method_default = method_spec(method, kind).default_config(task)
    if kind == "adapt":
        from daftrl.loops import AdaptRunConfig as RunConfig
    else:
        from daftrl.cotrain import CotrainRunConfig as RunConfig
    run_default = {f.name: f.default for f in dataclasses.fields(RunConfig)}
    return json_ready(run_default), json_ready(dataclasses.asdict(method_default))

"""Runtime for `daftrl report` (the DAFT paper's Figure 3): hours per run for the full budget per task, label and
machine, measured for finished runs and projected linearly to the budget for partial ones, with the ratio to the
campaign's reference label on the same task and the same machine, never across machines.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from daftrl.experiments.compare import REFERENCE
from daftrl.experiments.run_metrics import partial


def machine(record: Mapping) -> str:
    """The machine a record ran on, from its provenance: "<cpu> (<n> cores)", without the brackets when the core
    count is missing; <cpu> is "unknown machine" when the CPU is."""
    machine = (record.get("provenance") or {}).get("machine") or {}
    cpu = machine.get("cpu") or "unknown machine"
    return f"{cpu} ({machine['cores']} cores)" if machine.get("cores") else cpu


@dataclasses.dataclass(frozen=True)
class RuntimeRow:
    """Hours per run for the full budget of a (task, label) measured (or projected) on one machine."""

    task: str
    label: str
    projected: bool
    machine: str
    budget: int
    n: int
    hours: float
    train_hours: float | None
    updates_per_s: float | None
    vs_reference: float | None = None  # hours / the reference label's hours on the same machine
    across_machines: bool = False  # the reference label was only measured on another machine


def _runtime_values(record: Mapping) -> tuple[float, float | None] | None:
    """(hours, training hours) for the full budget: measured for a finished run, projected for a partial one (its
    training time scaled linearly to the budget); None without a time."""
    wall = record.get("projected_wall_time_s") if partial(record) else record.get("wall_time_s")
    if wall is None:
        return None
    train = record.get("train_time_s")
    if train is not None and partial(record):
        train = train * record["budget_steps"] / record["steps"] if record["steps"] > 0 else None
    return wall / 3600, None if train is None else train / 3600


def runtime_table(records: Sequence[Mapping], reference: str = REFERENCE) -> list[RuntimeRow]:
    """Mean hours per run over seeds per (task, label, measured/projected, machine, budget), with the ratio to the
    reference label on the same task and the same machine (never across machines)."""
    groups: dict[tuple, list[tuple[Mapping, tuple[float, float | None]]]] = {}
    for r in records:
        if r["method"] == "zero-shot":  # never trains: nothing to time
            continue
        if (values := _runtime_values(r)) is not None:
            key = (r["task"], r["label"], partial(r), machine(r), r["budget_steps"])
            groups.setdefault(key, []).append((r, values))
    rows = []
    for (task, label, projected, host, budget), group in sorted(groups.items()):
        trains = [t for _, (_, t) in group if t is not None]
        rates = [r["updates_per_s"] for r, _ in group if r.get("updates_per_s") is not None]
        rows.append(RuntimeRow(task, label, projected, host, budget, len(group),
                               hours=float(np.mean([h for _, (h, _) in group])),
                               train_hours=float(np.mean(trains)) if trains else None,
                               updates_per_s=float(np.mean(rates)) if rates else None))
    out = []
    for row in rows:
        refs = [r for r in rows if r.task == row.task and r.label == reference and r.budget == row.budget]
        same = sorted((r for r in refs if r.machine == row.machine), key=lambda r: r.projected)
        out.append(dataclasses.replace(row, vs_reference=row.hours / same[0].hours if same else None,
                                       across_machines=bool(refs) and not same))
    return out

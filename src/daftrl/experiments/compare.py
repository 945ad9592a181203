"""Labels set against each other for `daftrl report`, from the records of a campaign.

1. each campaign's reference label (`reference_label`: DAFT, under the label it runs as in that campaign);
2. one task's labels side by side (`final_table`): mean final return and 95 % t-interval over seeds, finished and
   partial runs apart;
3. the reference against each other label, task by task, on a `Metric` (`compare`): the difference of means with
   its 95 % Welch t-interval (Welch 1947) and its verdict (`daftrl.experiments.stats`);
4. what enters an across-task comparison (`select_comparison`, `score_matrices`): the labels, the tasks they all
   cover and the same number of seeds per cell, for the rliable aggregates of Agarwal et al. 2021
   (`daftrl.experiments.stats.aggregate`).

Records are grouped and iterated in sorted order, so the same records give the same tables.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

from daftrl.experiments.paper import PAPER_TABLE2_CAMPAIGN
from daftrl.experiments.run_metrics import Metric, RunSummary, partial, summarise_run
from daftrl.experiments.stats import t_interval, verdict, welch_interval

REFERENCE = "daft"  # the label DAFT runs under: the default reference of a campaign (`reference_label`)
REFERENCES: Mapping[str, str] = {PAPER_TABLE2_CAMPAIGN: "daft-cql"}
"""Campaigns whose DAFT runs have another label than REFERENCE: campaign -> that label (offline-source: DAFT from
the CQL expert). A campaign's reference is what its 'against each label' section, its probabilities of improvement
and its runtime ratios are taken against."""


def reference_label(campaign: str) -> str:
    """The label a campaign's records are compared against: REFERENCES[campaign], REFERENCE ("daft") otherwise."""
    return REFERENCES.get(campaign, REFERENCE)


def groups(records: Sequence[Mapping]) -> dict[tuple[str, bool], list[Mapping]]:
    """Records of one task by (label, partial), sorted; finished and partial runs never share a group."""
    out: dict[tuple[str, bool], list[Mapping]] = {}
    for r in sorted(records, key=lambda r: (r["label"], partial(r), r["seed"], r["run_id"])):
        out.setdefault((r["label"], partial(r)), []).append(r)
    return out


@dataclasses.dataclass(frozen=True)
class FinalRow:
    """One row of a task's final-return table: a label's finished (or partial) runs."""

    label: str
    partial: bool
    runs: tuple[RunSummary, ...]
    mean: float
    lo: float | None
    hi: float | None


def final_table(records: Sequence[Mapping]) -> list[FinalRow]:
    """Final returns per (label, finished/partial) of one task's records: mean and 95 % t-interval over seeds."""
    rows = []
    for (label, is_partial), group in groups(records).items():
        runs = tuple(summarise_run(r) for r in group)
        rows.append(FinalRow(label, is_partial, runs, *t_interval([run.final for run in runs])))
    return rows


# ---------------------------------------------------------------------------------- reference vs a label, per task


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The reference label against another one on one task and metric."""

    diff: float | None  # mean of the reference minus mean of the other label
    lo: float | None  # its 95 % Welch t-interval (None with fewer than 2 values on a side)
    hi: float | None
    word: str  # `verdict` from the reference's side: "better" means fewer falls for a lower-is-better metric
    n_reference: int  # finished runs with a value
    n_other: int
    same: bool = False  # every one of those runs, on both sides, has the same value (e.g. 0 falls)


def compare(records: Sequence[Mapping], reference: str, metric: Metric) -> dict[tuple[str, str], Comparison]:
    """{(other label, task): Comparison} for every label other than `reference` with a run on the task: the
    difference of the means of `metric` over the finished runs that have it (not zero-shot runs for a
    `learning_only` metric), its 95 % Welch t-interval (`welch_interval`) and the verdict, turned round for a metric
    where lower is better."""
    values: dict[tuple[str, str], list[float]] = {}
    present = set()
    for r in records:
        present.add((r["label"], r["task"]))
        skip = partial(r) or (metric.learning_only and r["method"] == "zero-shot")
        value = None if skip else metric.value(summarise_run(r))
        if value is not None:
            values.setdefault((r["label"], r["task"]), []).append(float(value))
    out = {}
    for label, task in sorted(present):
        if label == reference:
            continue
        ref, other = values.get((reference, task), []), values.get((label, task), [])
        diff, lo, hi = welch_interval(ref, other)
        word = verdict(lo, hi) if metric.higher_is_better or lo is None or hi is None else verdict(-hi, -lo)
        same = bool(ref and other) and len(set(ref) | set(other)) == 1
        out[(label, task)] = Comparison(None if math.isnan(diff) else diff, lo, hi, word, len(ref), len(other), same)
    return out


# ---------------------------------------------------------------------------------------------------- across tasks


def select_comparison(coverage: Mapping[str, set[str]], reference: str = REFERENCE,
                      ) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """The (labels, tasks) of an across-task comparison, given the tasks each label has finished runs on: every
    label entering must cover every task entering. Among task sets of >= 2 tasks shared by >= 2 labels, prefer one
    that keeps `reference`, then the most (label, task) cells, then the most tasks; None if there is none."""
    tasks = sorted(set().union(*coverage.values())) if coverage else []
    best: tuple[tuple, tuple[str, ...], tuple[str, ...]] | None = None
    for k in range(len(tasks), 1, -1):
        for subset in itertools.combinations(tasks, k):
            labels = tuple(sorted(label for label, ts in coverage.items() if ts.issuperset(subset)))
            key = (reference in labels, len(labels) * k, k)
            if len(labels) >= 2 and (best is None or key > best[0]):
                best = (key, labels, subset)
    return None if best is None else (best[1], best[2])


def score_matrices(finals: Mapping[tuple[str, str], Sequence[tuple[int, float]]], labels: Sequence[str],
                   tasks: Sequence[str]) -> tuple[dict[str, np.ndarray], int]:
    """(runs x tasks) matrices of final returns per label from {(label, task): [(seed, final)]}: the first n seeds
    (sorted) of every cell, n = the smallest cell. Returns the matrices and n."""
    n = min(len(finals[label, task]) for label in labels for task in tasks)
    matrices = {label: np.array([[v for _, v in sorted(finals[label, task])[:n]] for task in tasks]).T
                for label in labels}
    return matrices, n

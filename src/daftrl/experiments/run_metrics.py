"""What run records yield for `daftrl report`: the numbers of one run, its learning curve, and the references a
task's returns are normalised with.

1. one record (`summarise_run`): the final return, the return after EARLY_STEPS target steps (`return_at`), the area
   under the return curve divided by the budget (`normalised_auc`), the mean training-episode return and the falls
   during training, the per-task columns of the DAFT paper's Figure 2; a `Metric` is one of those numbers, which
   labels are compared on (`daftrl.experiments.compare`);
2. the curves of several seeds (`mean_curve`): their mean with a 95 % Student t-interval band
   (`daftrl.experiments.stats.t_interval`);
3. a task's references (`task_reference`) and the scores they give: the expert-normalised score (0 = the expert
   zero-shot in the target domain, 100 = the expert in its source domain) and the D4RL-normalised one (Fu et al.
   2020, "D4RL: Datasets for deep data-driven reinforcement learning"; `daftrl.evaluate.D4RL_REFERENCE`).

A record is a dict of the results store (`daftrl.experiments.store`); a curve its list of evaluation points.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from daftrl.experiments.stats import t_interval

EARLY_STEPS = (10_000, 20_000)  # early-phase columns: the return after this many target steps
MIN_POINTS = 3  # evaluations a curve needs for early-phase returns and its area

Curve = Sequence[Mapping]


def _points(curve: Curve) -> list[tuple[int, float]]:
    """(step, return_mean) of the evaluations that have a return, sorted by step."""
    return sorted((int(p["step"]), float(p["return_mean"])) for p in curve if p.get("return_mean") is not None)


def return_at(curve: Curve, step: int) -> float | None:
    """The evaluation at `step`, or the nearest one before it; None if the curve stops before `step` or is too
    coarse to say (fewer than MIN_POINTS evaluations, e.g. a migrated record holding only its first and last)."""
    points = _points(curve)
    if len(points) < MIN_POINTS or points[-1][0] < step:
        return None
    before = [ret for s, ret in points if s <= step]
    return before[-1] if before else None


def normalised_auc(curve: Curve, budget: int) -> float | None:
    """Area under the return curve over [0, budget] (trapezoid rule) divided by the budget, i.e. the mean return
    over the budget; None unless the curve covers [0, budget] with at least MIN_POINTS evaluations."""
    points = _points(curve)
    if budget <= 0 or len(points) < MIN_POINTS or points[0][0] > 0 or points[-1][0] < budget:
        return None
    steps, returns = (np.array(v, dtype=float) for v in zip(*points, strict=True))
    grid = np.union1d(steps[steps <= budget], [float(budget)])
    return float(np.trapezoid(np.interp(grid, steps, returns), grid) / budget)


def mean_train_return(curve: Curve) -> float | None:
    """Mean of the logged training-episode returns over the curve points that have one."""
    values = [p["train_return"] for p in curve if p.get("train_return") is not None]
    return float(np.mean(values)) if values else None


def total_falls(curve: Curve) -> int | None:
    """Terminations during training: the cumulative `falls` of the last curve point."""
    return max(curve, key=lambda p: p["step"]).get("falls") if curve else None


@dataclasses.dataclass(frozen=True)
class RunSummary:
    """The per-run numbers of the final-return table."""

    seed: int
    steps: int
    final: float
    early: tuple[float | None, ...]  # return at EARLY_STEPS
    auc: float | None
    train_return: float | None
    falls: int | None


def summarise_run(record: Mapping) -> RunSummary:
    """Final return, early-phase returns, normalised AUC, mean training return and falls of one record."""
    curve = record.get("curve") or []
    return RunSummary(seed=record["seed"], steps=record["steps"], final=float(record["final_return"]),
                      early=tuple(return_at(curve, s) for s in EARLY_STEPS),
                      auc=normalised_auc(curve, record["budget_steps"]), train_return=mean_train_return(curve),
                      falls=total_falls(curve))


def partial(record: Mapping) -> bool:
    """Whether the record is of a partial run (status "partial"): one reported at the step it reached, short of
    its budget."""
    return record.get("status") == "partial"


def mean_curve(curves: Sequence[Curve]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(steps, mean, lo, hi) over seeds at the steps every curve evaluated; lo/hi = 95 % t-interval, None for one
    curve. Raises ValueError for no curves (there is no mean of nothing to plot)."""
    if not curves:
        raise ValueError("mean_curve needs at least one curve (a label with no runs has nothing to average)")
    per_curve = [dict(_points(c)) for c in curves]
    steps = sorted(set.intersection(*(set(p) for p in per_curve)))
    stats = [t_interval([p[s] for p in per_curve]) for s in steps]
    mean = np.array([m for m, _, _ in stats])
    if len(curves) < 2:
        return np.array(steps), mean, None, None
    return np.array(steps), mean, np.array([lo for _, lo, _ in stats]), np.array([hi for _, _, hi in stats])


@dataclasses.dataclass(frozen=True)
class Metric:
    """A per-run number (of `RunSummary`) that labels are compared on, task by task."""

    name: str
    value: Callable[[RunSummary], float | None]
    higher_is_better: bool = True
    learning_only: bool = True  # a zero-shot run (no learning phase) has no value


# ----------------------------------------------------------------------------------------------- normalised scores


def normalised_score(final: float, zero_shot: float | None, source_return: float | None) -> float | None:
    """100 (final - zero_shot) / (source_return - zero_shot): 0 = the expert zero-shot in the target domain,
    100 = the expert in its source domain. None without both references or when they coincide."""
    if zero_shot is None or source_return is None or source_return == zero_shot:
        return None
    return 100.0 * (final - zero_shot) / (source_return - zero_shot)


@dataclasses.dataclass(frozen=True)
class TaskReference:
    """The references a task's scores are normalised with."""

    zero_shot: float | None  # mean of the records' zero-shot returns
    n_zero_shot: int
    source_return: float | None  # the expert's return in its source domain (None if the records disagree)
    experts: tuple[str, ...]
    robot: str | None


def task_reference(records: Sequence[Mapping]) -> TaskReference:
    """Zero-shot (mean over the adaptation records that have one: a co-training run's step-0 evaluation is an
    untrained policy, not the expert), the expert's source return, expert names and robot."""
    zero = [float(r["zero_shot"]) for r in records if r["kind"] == "adapt" and r.get("zero_shot") is not None]
    experts = [r["expert"] for r in records if r.get("expert")]
    sources = {float(e["source_return"]) for e in experts if e.get("source_return") is not None}
    names = sorted({e["name"] + (f" (`{e['checksum'][:12]}`)" if e.get("checksum") else "") for e in experts})
    robots = sorted({r["robot"] for r in records if r.get("robot")})
    return TaskReference(zero_shot=float(np.mean(zero)) if zero else None, n_zero_shot=len(zero),
                         source_return=sources.pop() if len(sources) == 1 else None, experts=tuple(names),
                         robot=robots[0] if len(robots) == 1 else None)


def d4rl_score(final: float, robot: str | None) -> float | None:
    """D4RL-normalised score 100 (final - random) / (expert - random) with `daftrl.evaluate.D4RL_REFERENCE`."""
    from daftrl.evaluate import normalized_score

    return normalized_score(robot, final)

"""Statistics of `daftrl report`, on plain numbers and score matrices (nothing here knows a run record).

1. over seeds: the mean with a two-sided Student t-interval (`t_interval`);
2. one label against another: the difference of means with its Welch t-interval (`welch_interval`, Welch-Satterthwaite
   degrees of freedom `welch_df`; Welch 1947, "The generalization of 'Student's' problem when several different
   population variances are involved", Biometrika 34) and the word for it (`verdict`: better / worse / level);
3. across tasks: the IQM and mean of (runs x tasks) score matrices with stratified-bootstrap 95 % intervals
   (`aggregate`), performance profiles and the probability of improvement (Agarwal et al. 2021, "Deep reinforcement
   learning at the edge of the statistical precipice", NeurIPS; computed with `rliable`).

Deterministic for the same inputs: the bootstrap is seeded (rliable draws from numpy's global RNG, which is seeded
here and restored afterwards), which keeps the report byte-for-byte deterministic.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

CONFIDENCE = 0.95
DASH = "—"  # missing data: also the verdict of a difference without an interval


def t_interval(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float | None, float | None]:
    """Mean and two-sided Student t-interval over seeds: mean -+ t_{(1+c)/2, n-1} s / sqrt(n), the quantile from
    scipy. A single value has no interval (None, None)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    mean = float(x.mean())
    if x.size < 2:
        return mean, None, None
    half = float(stats.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


# --------------------------------------------------------------------------------------- one label against another


def welch_df(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Welch-Satterthwaite degrees of freedom of the difference of two means with unequal variances:
    (s_a^2/n_a + s_b^2/n_b)^2 / ((s_a^2/n_a)^2/(n_a-1) + (s_b^2/n_b)^2/(n_b-1)) (Welch 1947, "The generalization
    of 'Student's' problem when several different population variances are involved", Biometrika 34). It lies
    between min(n_a, n_b) - 1 and n_a + n_b - 2, the latter when the variances and sizes are equal. None with fewer
    than 2 values on a side or when both sample variances are zero (0/0)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.size < 2 or y.size < 2:
        return None
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    if va + vb == 0:
        return None
    return float((va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1)))


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE,
                   ) -> tuple[float, float | None, float | None]:
    """Difference of means mean(a) - mean(b) and its two-sided Welch t-interval (Welch 1947): the difference -+
    t_{(1+c)/2, df} sqrt(s_a^2/n_a + s_b^2/n_b), sample variances with ddof=1, df = `welch_df` (Welch-Satterthwaite),
    the quantile from scipy. No interval (None, None) with fewer than 2 values on a side. When both sample variances
    are zero the standard error is 0 and the interval is the point [difference, difference] (the limit of the
    interval whatever df in its range), e.g. [0, 0] for identical constant samples."""
    from scipy import stats

    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    diff = float(x.mean() - y.mean()) if x.size and y.size else math.nan
    if x.size < 2 or y.size < 2:
        return diff, None, None
    se = math.sqrt(x.var(ddof=1) / x.size + y.var(ddof=1) / y.size)
    df = welch_df(x, y)
    if df is None:
        return diff, diff, diff
    half = float(stats.t.ppf(0.5 + confidence / 2, df) * se)
    return diff, diff - half, diff + half


def verdict(lo: float | None, hi: float | None) -> str:
    """The word for an interval of a difference: "better" if it lies entirely above 0, "worse" if entirely below,
    "level" if it contains 0 (endpoints included), DASH without an interval."""
    if lo is None or hi is None:
        return DASH
    return "better" if lo > 0 else "worse" if hi < 0 else "level"


# ------------------------------------------------------------------------------------------ across tasks (rliable)


@contextlib.contextmanager
def _global_seed(seed: int) -> Iterator[None]:
    """Seed numpy's global RNG (rliable's stratified bootstrap draws from it) and restore its state afterwards."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _interval(scores: np.ndarray | list[np.ndarray], func: Callable[..., np.ndarray], reps: int, seed: int,
              ) -> tuple[np.ndarray, np.ndarray]:
    """rliable's stratified-bootstrap percentile interval of `func` on one score matrix (or list of matrices,
    resampled independently), from a fixed seed: (point estimates, 2 x k interval)."""
    from rliable import library

    with _global_seed(seed):
        point, interval = library.get_interval_estimates({"x": scores}, func, reps=reps,
                                                         confidence_interval_size=CONFIDENCE)
    return np.asarray(point["x"]), np.asarray(interval["x"])


def iqm(x: np.ndarray) -> float:
    """Interquartile mean of all runs x tasks: the 25 % trimmed mean, computed exactly as rliable's
    `aggregate_iqm` (scipy's `trim_mean`) does, without scipy's per-call overhead (the bootstrap calls it
    thousands of times)."""
    a = np.ravel(x)
    lo = int(0.25 * a.size)
    hi = a.size - lo
    return float(np.mean(np.partition(a, (lo, hi - 1))[lo:hi]))


def mean_improvement_probability(x: np.ndarray, y: np.ndarray) -> float:
    """P(X > Y) + P(X = Y) / 2 per task (the Mann-Whitney U / (n m) of rliable's `probability_of_improvement`,
    counted directly instead of through scipy), averaged over tasks; x, y: (runs x tasks)."""
    a, b = np.asarray(x)[:, None, :], np.asarray(y)[None, :, :]
    per_task = ((a > b).sum(axis=(0, 1)) + 0.5 * (a == b).sum(axis=(0, 1))) / (a.shape[0] * b.shape[1])
    return float(np.mean(per_task))


def aggregate(scores: Mapping[str, np.ndarray], reps: int = 2000, seed: int = 0,
              ) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM and mean of each label's (runs x tasks) score matrix with 95 % stratified-bootstrap intervals
    (Agarwal et al. 2021): {label: {"IQM" | "mean": (point, lo, hi)}}. Every label is resampled from the same
    seed, so its interval does not depend on which other labels are compared."""
    def func(x: np.ndarray) -> np.ndarray:
        return np.array([iqm(x), np.mean(x)])

    out = {}
    for label in sorted(scores):
        point, interval = _interval(scores[label], func, reps, seed)
        out[label] = {name: (float(point[i]), float(interval[0, i]), float(interval[1, i]))
                      for i, name in enumerate(("IQM", "mean"))}
    return out


def probability_of_improvement(x: np.ndarray, y: np.ndarray, reps: int = 2000, seed: int = 0,
                               ) -> tuple[float, float, float]:
    """P(X > Y): the Mann-Whitney probability that a run of X beats a run of Y on a task, averaged over tasks,
    with a 95 % bootstrap interval (runs of X and Y resampled independently per task; Agarwal et al. 2021)."""
    def func(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([mean_improvement_probability(a, b)])

    point, interval = _interval([x, y], func, reps, seed)
    return float(point[0]), float(interval[0, 0]), float(interval[1, 0])


def performance_profiles(scores: Mapping[str, np.ndarray], taus: np.ndarray, reps: int = 2000, seed: int = 0,
                         ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Score distributions (Agarwal et al. 2021): the fraction of all runs x tasks with a score above each tau, with
    95 % stratified-bootstrap bands: {label: (profile, lo, hi)}."""
    from rliable import library

    def fraction_above(x: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
        return (x[..., None] > thresholds).mean(axis=(0, 1))  # rliable's score distribution, vectorised over taus

    out = {}
    for label in sorted(scores):
        with _global_seed(seed):
            profile, band = library.create_performance_profile({label: scores[label]}, taus, reps=reps,
                                                               custom_profile_func=fraction_above,
                                                               confidence_interval_size=CONFIDENCE)
        out[label] = (np.asarray(profile[label]), np.asarray(band[label][0]), np.asarray(band[label][1]))
    return out

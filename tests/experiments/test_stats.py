"""`daftrl.experiments.stats`: Student and Welch t-intervals, verdicts, and the rliable aggregates (IQM, mean,
probability of improvement, performance profiles) with their seeded bootstrap."""

import math

import numpy as np
import pytest

from daftrl.experiments.stats import (
    DASH,
    aggregate,
    iqm,
    mean_improvement_probability,
    performance_profiles,
    probability_of_improvement,
    t_interval,
    verdict,
    welch_df,
    welch_interval,
)


def test_t_interval_matches_hand_computed_quantiles():
    mean, lo, hi = t_interval([1, 2, 3, 4])
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2
    assert mean == 2.5 and lo == pytest.approx(2.5 - half, rel=1e-9) and hi == pytest.approx(2.5 + half, rel=1e-9)
    values = list(range(12))  # 11 degrees of freedom: beyond the old hand-typed table
    mean, lo, hi = t_interval(values)
    half = 2.200985160082949 * np.std(values, ddof=1) / math.sqrt(12)
    assert mean == 5.5 and hi - mean == pytest.approx(half, rel=1e-9) and mean - lo == pytest.approx(half, rel=1e-9)
    assert t_interval([7.0]) == (7.0, None, None)


def test_welch_interval_matches_the_textbook_formulas_and_scipy():
    from scipy import stats

    a, b = [1310.0, 1450.0, 1185.0, 1620.0], [905.0, 1280.0]
    va, vb = np.var(a, ddof=1) / 4, np.var(b, ddof=1) / 2  # squared standard errors of the two means
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 1)  # Welch-Satterthwaite
    half = stats.t.ppf(0.975, df) * math.sqrt(va + vb)
    diff = np.mean(a) - np.mean(b)
    assert welch_df(a, b) == pytest.approx(df, rel=1e-12)
    got = welch_interval(a, b)
    assert got == pytest.approx((diff, diff - half, diff + half), rel=1e-12)
    scipy_test = stats.ttest_ind(a, b, equal_var=False)  # an independent implementation
    assert welch_df(a, b) == pytest.approx(scipy_test.df, rel=1e-9)
    assert got[1:] == pytest.approx(tuple(scipy_test.confidence_interval(0.95)), rel=1e-9)
    assert welch_interval(a, b, 0.9)[2] < got[2]  # a lower confidence, a narrower interval
    lo, hi = welch_interval(b, a)[1:]  # swapping the sides mirrors the interval
    assert (lo, hi) == pytest.approx((-got[2], -got[1]), rel=1e-12)


def test_welch_df_with_equal_variances_and_sizes_is_students():
    from scipy import stats

    a, b = [1.0, 2.0, 3.0, 4.0], [11.0, 12.0, 13.0, 14.0]  # equal sample variances and sizes
    assert welch_df(a, b) == pytest.approx(4 + 4 - 2)
    half = stats.t.ppf(0.975, 6) * math.sqrt(2 * np.var(a, ddof=1) / 4)  # pooled Student interval
    assert welch_interval(a, b) == pytest.approx((-10.0, -10.0 - half, -10.0 + half))
    assert welch_df([1.0, 2.0, 3.0], [5.0, 9.0]) < 3  # unequal: fewer than n1 + n2 - 2
    assert welch_df([7.0, 7.0, 7.0], [1.0, 2.0, 3.0]) == pytest.approx(2.0)  # a constant side: n_other - 1
    diff, lo, hi = welch_interval([7.0, 7.0, 7.0], [1.0, 2.0, 3.0])
    assert diff == pytest.approx(5.0) and hi - diff == pytest.approx(stats.t.ppf(0.975, 2) / math.sqrt(3))


def test_verdicts_and_undefined_intervals():
    assert verdict(1.0, 2.0) == "better" and verdict(-2.0, -1.0) == "worse"
    assert verdict(-1.0, 1.0) == "level" and verdict(0.0, 1.0) == "level"  # 0 included: level
    assert verdict(None, None) == DASH
    for a, b in [([5.0], [1.0, 2.0]), ([1.0, 2.0], [5.0]), ([], [1.0, 2.0])]:  # a side with < 2 runs
        assert welch_interval(a, b)[1:] == (None, None)
        assert verdict(*welch_interval(a, b)[1:]) == DASH
    assert welch_interval([5.0], [1.0, 2.0])[0] == pytest.approx(3.5)
    assert welch_df([3.0, 3.0], [3.0, 3.0]) is None  # both variances zero: 0/0
    assert welch_interval([3.0, 3.0], [3.0, 3.0]) == (0.0, 0.0, 0.0)  # identical constants
    assert verdict(*welch_interval([3.0, 3.0], [3.0, 3.0])[1:]) == "level"
    assert welch_interval([5.0, 5.0], [3.0, 3.0, 3.0]) == (2.0, 2.0, 2.0)  # the limit: a point
    assert verdict(*welch_interval([5.0, 5.0], [3.0, 3.0, 3.0])[1:]) == "better"


def test_iqm_and_mean_of_a_known_matrix():
    scores = np.array([0, 1, 2, 3, 4, 5, 6, 100], dtype=float).reshape(4, 2)
    stats = aggregate({"x": scores}, reps=300)["x"]
    assert stats["IQM"][0] == pytest.approx(3.5)  # the middle half: 2, 3, 4, 5
    assert stats["mean"][0] == pytest.approx(121 / 8)
    for point, lo, hi in stats.values():
        assert lo <= point <= hi


@pytest.mark.parametrize("shape_x, shape_y", [((5, 3), (5, 3)), ((4, 2), (6, 2)), ((1, 8), (3, 8)), ((7, 1), (2, 1))])
def test_iqm_and_improvement_probability_equal_rliables(shape_x, shape_y):
    from rliable import metrics

    rng = np.random.default_rng(sum(shape_x + shape_y))
    x = rng.integers(0, 4, size=shape_x).astype(float)  # small integers: many ties within and across labels
    y = rng.integers(0, 4, size=shape_y).astype(float)
    for m in (x, y, rng.normal(size=shape_x)):
        assert iqm(m) == float(metrics.aggregate_iqm(m))
    assert mean_improvement_probability(x, y) == pytest.approx(metrics.probability_of_improvement(x, y),
                                                                       abs=1e-12)
    assert mean_improvement_probability(x, x) == pytest.approx(0.5)


def test_bootstrap_is_seeded_and_leaves_the_global_rng_alone():
    rng = np.random.default_rng(1)
    scores = {"a": rng.normal(size=(5, 3)), "b": rng.normal(size=(5, 3))}
    np.random.seed(123)
    first = aggregate(scores, reps=200, seed=4)
    after = np.random.rand()
    np.random.seed(999)
    assert aggregate(scores, reps=200, seed=4) == first
    assert aggregate({"a": scores["a"]}, reps=200, seed=4)["a"] == first["a"]  # independent of other labels
    np.random.seed(123)
    aggregate(scores, reps=200, seed=4)
    assert np.random.rand() == after  # global state restored
    assert aggregate(scores, reps=200, seed=5) != first


def test_probability_of_improvement_when_one_label_dominates():
    rng = np.random.default_rng(0)
    ft = rng.normal(size=(4, 3))
    p, lo, hi = probability_of_improvement(ft + 100.0, ft, reps=200)
    assert p == pytest.approx(1.0) and lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    p, lo, hi = probability_of_improvement(ft, ft + 100.0, reps=200)
    assert p == pytest.approx(0.0)


def test_performance_profile_is_the_fraction_above_each_threshold():
    scores = {"x": np.array([[0.0, 10.0], [20.0, 30.0]])}
    profile, lo, hi = performance_profiles(scores, np.array([-1.0, 5.0, 25.0, 30.0]), reps=100)["x"]
    np.testing.assert_allclose(profile, [1.0, 0.75, 0.25, 0.0])
    assert np.all(lo <= profile) and np.all(profile <= hi)

"""`daftrl.experiments.run_metrics`: the numbers of one run's curve (return at a step, normalised area under the
curve, training return, falls) and the expert-normalised score."""

import pytest
from test_report import BUDGET, linear_curve  # the synthetic curves of tests/experiments/test_report.py

from daftrl.experiments.run_metrics import (
    mean_curve,
    mean_train_return,
    normalised_auc,
    normalised_score,
    return_at,
    total_falls,
)


def test_curve_summaries():
    curve = linear_curve(0.0, 1000.0, every=5000)
    assert return_at(curve, 10_000) == 100.0
    assert return_at(linear_curve(0.0, 1000.0, every=3000), 10_000) == pytest.approx(90.0)  # step 9000
    assert return_at(linear_curve(0.0, 1000.0, last=9000, every=3000), 10_000) is None  # never got there
    assert normalised_auc(curve, BUDGET) == pytest.approx(500.0)
    assert normalised_auc(linear_curve(0.0, 1000.0, last=50_000), BUDGET) is None
    assert mean_train_return(curve) == pytest.approx(5.0)
    assert total_falls(curve) == 10
    bare = [{"step": 0, "return_mean": 1.0, "train_return": None, "falls": None}]
    assert mean_train_return(bare) is None and total_falls(bare) is None


def test_normalised_score_is_0_at_zero_shot_and_100_at_source():
    assert normalised_score(200.0, 200.0, 1200.0) == 0.0
    assert normalised_score(1200.0, 200.0, 1200.0) == 100.0
    assert normalised_score(700.0, 200.0, 1200.0) == 50.0
    assert normalised_score(700.0, None, 1200.0) is None and normalised_score(1.0, 5.0, 5.0) is None


def test_mean_curve_over_seeds_at_common_steps():
    a, b = linear_curve(0.0, 1000.0, every=5000), linear_curve(0.0, 2000.0, every=10_000)
    steps, mean, lo, hi = mean_curve([a, b])
    assert list(steps) == list(range(0, BUDGET + 1, 10_000))  # only the steps both curves evaluated
    assert mean[-1] == pytest.approx(1500.0) and lo[-1] < 1500.0 < hi[-1]
    steps, mean, lo, hi = mean_curve([a])
    assert lo is None and hi is None and mean[-1] == pytest.approx(1000.0)
    with pytest.raises(ValueError, match="at least one curve"):
        mean_curve([])

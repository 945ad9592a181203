"""`daftrl bench grid`'s evaluation share is read from the records' measured times."""

import pytest
from test_store import record

from daftrl.experiments import store
from daftrl.experiments.bench_grid import evaluation_share


def test_evaluation_share_is_the_median_over_runs_of_one_spacing(tmp_path):
    for seed, (ev, wall) in enumerate([(10.0, 100.0), (30.0, 100.0), (20.0, 100.0)]):
        r = record(seed=seed)
        r.update(eval_time_s=ev, wall_time_s=wall, config={"eval_every": 2000, "eval_episodes": 10})
        store.write_record(tmp_path, r)
    untimed = record(seed=9)  # a record without a measured evaluation time is left out
    store.write_record(tmp_path, untimed)
    (row,) = evaluation_share(tmp_path)
    assert row["runs"] == 3 and row["eval_every"] == 2000
    assert row["median_share"] == pytest.approx(0.2) and (row["min_share"], row["max_share"]) == (0.1, 0.3)

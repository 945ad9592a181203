"""`daftrl bench cotrain` end to end on a tiny budget (slow: compiles every method twice)."""

from __future__ import annotations

import json

import pytest

from daftrl.experiments.bench_cotrain import CotrainBenchArgs, run_cotrain_bench


@pytest.mark.slow
def test_bench_cotrain_times_and_counts_flops(tmp_path):
    out = tmp_path / "bench.json"
    res = run_cotrain_bench(CotrainBenchArgs(methods=("sac-mix", "par", "vgdf"), source_size=300, target_size=300,
                                             updates=4, rounds=1, out=str(out)))
    assert json.loads(out.read_text())["ms_per_update"] == res["ms_per_update"]
    assert set(res["ms_per_update"]) == {"sac", "sac-mix", "par", "vgdf"}
    assert all(t > 0 for t in res["ms_per_update"].values())
    f = res["flops_per_update"]
    # SAC-mix does the SAC update on twice the rows; PAR adds its encoders; VGDF two actors and the model
    assert 1.8 < f["sac-mix"] / f["sac"] < 2.2 and f["par"] > f["sac-mix"] and f["vgdf"] > f["par"]
    floor = res["vgdf_protocol_flop_floor"]
    assert floor["min_model_minibatch_steps"] > 1_000_000 and floor["vs_sac_mix"] > f["vgdf"] / f["sac-mix"]

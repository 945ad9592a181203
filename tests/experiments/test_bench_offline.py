"""`daftrl bench offline` end to end on a tiny budget (slow: compiles CQL and SAC at each size)."""

from __future__ import annotations

import json

import pytest

from daftrl.experiments.bench_offline import OfflineBenchArgs, run_offline_bench, summary


@pytest.mark.slow
def test_bench_offline_times_cql_against_sac_and_counts_flops(tmp_path):
    out = tmp_path / "bench.json"
    res = run_offline_bench(OfflineBenchArgs(hidden=("16,16", "16,16,16"), dataset_size=500, chunk=3, calls=1,
                                             rounds=1, out=str(out)))
    assert json.loads(out.read_text())["sizes"] == res["sizes"]
    two, three = res["sizes"]
    assert (two["hidden"], three["hidden"]) == ([16, 16], [16, 16, 16])
    for size in res["sizes"]:
        assert set(size["updates_per_s"]) == {"sac", "cql"} and all(r > 0 for r in size["updates_per_s"].values())
        # CQL evaluates both critics on 3 x 10 proposed actions per state besides the SAC losses
        assert size["mflop_per_update"]["cql"] > 5 * size["mflop_per_update"]["sac"]
        assert size["cost_vs_sac"]["sac"] == 1.0
    assert three["mflop_per_update"]["cql"] > two["mflop_per_update"]["cql"]
    assert "cql" in summary(res) and "x a SAC update" in summary(res)

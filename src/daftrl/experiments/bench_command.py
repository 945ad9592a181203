"""`daftrl bench`: which benchmark, its options, and what it prints (the benchmarks are the `bench*.py` modules)."""

from __future__ import annotations

import tyro


def run(argv: list[str]) -> int:
    """Parse `bench NAME ...`, run that benchmark, print its summary and where its JSON went; the exit code."""
    from daftrl.experiments import bench, bench_cotrain, bench_grid, bench_offline

    benchmarks = {"sac": (bench.BenchArgs, bench.run_bench, bench.sac_summary),
                  "adapt": (bench.AdaptBenchArgs, bench.run_adapt_bench, bench.adapt_summary),
                  "cotrain": (bench_cotrain.CotrainBenchArgs, bench_cotrain.run_cotrain_bench, bench_cotrain.summary),
                  "offline": (bench_offline.OfflineBenchArgs, bench_offline.run_offline_bench, bench_offline.summary),
                  "grid": (bench_grid.GridBenchArgs, bench_grid.run_grid_bench, bench_grid.summary)}
    args = tyro.extras.subcommand_cli_from_dict({name: b[0] for name, b in benchmarks.items()}, args=argv,
                                                prog="daftrl bench", description="Measure speed; results go to "
                                                "benchmarks/results/ (docs/benchmarks.md).")
    _, run_bench, summary = next(b for b in benchmarks.values() if type(args) is b[0])
    print(summary(run_bench(args)))
    print(f"wrote {args.out}")
    return 0

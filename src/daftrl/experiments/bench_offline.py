"""`daftrl bench offline`: what an offline method's update costs, measured, never typed in.

In one run, on this machine: the updates/s of each offline method (CQL) and of a SAC update with the same networks
and batch, all through the offline loop's own compiled chunk (`daftrl.offline.offline_updates`: minibatches drawn
on the device from the whole dataset, `chunk` updates per call), timed round-robin so every learner sees the same
machine conditions; XLA's FLOP count of one update; and the fraction of the matmul peak measured in the same run
(`daftrl.experiments.bench.matmul_peak`). The result also says what 1e5 and 1e6 updates take on one core at the
measured rate. Results go to benchmarks/results/bench_offline.json with provenance (docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import statistics
import time

import numpy as np


@dataclasses.dataclass
class OfflineBenchArgs:
    """Cost of an offline (CQL) update against a SAC update with the same networks, per network size."""

    hidden: tuple[str, ...] = ("256,256", "256,256,256")
    """Network sizes to measure, as comma-separated widths (CQL's reference uses 3 x 256; daftrl's SAC 2 x 256)."""
    batch_size: int = 256
    chunk: int = 50
    """Updates per compiled call (the offline loop's --updates-per-call)."""
    calls: int = 4
    """Compiled calls per timed repetition."""
    rounds: int = 5
    """Round-robin rounds; the median per learner is reported."""
    dataset_size: int = 100_000
    """Rows of the synthetic dataset (HalfCheetah sizes: 17-dim observations, 6-dim actions)."""
    out: str = "benchmarks/results/bench_offline.json"


def _learners(hidden: tuple[int, ...], batch_size: int) -> dict:
    """name -> (method, its offline chunk): every offline method of the registry, and SAC as the baseline."""
    from daftrl.algos import method_specs
    from daftrl.offline import offline_updates
    from daftrl.sac import SAC, SACConfig

    out = {"sac": SAC(SACConfig(hidden=hidden, batch_size=batch_size), 17, 6)}
    for spec in method_specs("offline"):
        config = spec.config_cls()
        changes = {"hidden": hidden, "batch_size": batch_size}
        if hasattr(config, "policy_eval_start"):
            changes["policy_eval_start"] = 0  # time the steady state, not the behaviour-cloning warm-up
        out[spec.name] = spec.method_cls(dataclasses.replace(config, **changes), 17, 6)
    return {name: (m, offline_updates(m, batch_size)) for name, m in out.items()}


def _dataset(n: int):
    import jax

    from daftrl.replay import Batch

    rng = np.random.default_rng(0)
    arrays = (rng.normal(size=(n, 17)), rng.uniform(-1, 1, (n, 6)), rng.normal(size=n), rng.normal(size=(n, 17)),
              np.zeros(n))
    return Batch(*(jax.device_put(np.asarray(a, np.float32)) for a in arrays))


def measure(hidden: tuple[int, ...], args: OfflineBenchArgs, peak: float) -> dict:
    """Updates/s (median of the rounds) and FLOPs per update of each learner at one network size."""
    import jax

    from daftrl.experiments.bench_cotrain import compiled_flops
    from daftrl.offline import sample_minibatch

    data = _dataset(args.dataset_size)
    learners = _learners(hidden, args.batch_size)
    states, flops = {}, {}
    for name, (method, chunk) in learners.items():
        state = method.init(0)
        flops[name] = compiled_flops(jax.jit(lambda s, d, m=method: m._update(s, sample_minibatch(s, d,
                                                                                                  args.batch_size))),
                                     state, data)
        state, _ = chunk(state, data, args.chunk)  # compile and warm up
        states[name] = jax.block_until_ready(state)
    rates: dict[str, list[float]] = {name: [] for name in learners}
    for _ in range(args.rounds):
        for name, (_, chunk) in learners.items():
            t = time.perf_counter()
            state = states[name]
            for _ in range(args.calls):
                state, _ = chunk(state, data, args.chunk)
            states[name] = jax.block_until_ready(state)
            rates[name].append(args.calls * args.chunk / (time.perf_counter() - t))
    med = {name: statistics.median(r) for name, r in rates.items()}
    out = {"hidden": list(hidden), "batch_size": args.batch_size, "updates_per_s": med, "all": rates,
           "mflop_per_update": {n: f / 1e6 for n, f in flops.items() if f},
           "fraction_of_peak": {n: med[n] * flops[n] / 1e9 / peak for n in med if flops.get(n)},
           "cost_vs_sac": {n: med["sac"] / med[n] for n in med},
           "hours_on_one_core": {n: {"1e5_updates": 1e5 / med[n] / 3600, "1e6_updates": 1e6 / med[n] / 3600}
                                 for n in med if n != "sac"}}
    return out


def run_offline_bench(args: OfflineBenchArgs) -> dict:
    from daftrl.checkpoint import atomic_write_json
    from daftrl.experiments.bench import matmul_peak
    from daftrl.provenance import committed_provenance

    print("matmul peak ...", flush=True)
    peak = matmul_peak(args.rounds)
    sizes = []
    for text in args.hidden:
        hidden = tuple(int(w) for w in text.split(","))
        print(f"offline updates, hidden {hidden} (round-robin with SAC) ...", flush=True)
        sizes.append(measure(hidden, args, peak["peak"]))
    result = {"benchmark": "offline", "matmul_gflops": peak, "sizes": sizes, "provenance": committed_provenance()}
    atomic_write_json(args.out, result)  # parent directories included
    return result


def summary(res: dict) -> str:
    """What `daftrl bench offline` prints about a `run_offline_bench` result."""
    lines = []
    for size in res["sizes"]:
        for name, rate in size["updates_per_s"].items():
            frac = size["fraction_of_peak"].get(name)
            line = f"hidden {size['hidden']} {name}: {rate:,.1f} updates/s"
            if name != "sac":
                hours = size["hours_on_one_core"][name]
                line += (f" ({size['cost_vs_sac'][name]:.1f}x a SAC update; 1e5 updates {hours['1e5_updates']:.1f} h,"
                         f" 1e6 {hours['1e6_updates']:.1f} h)")
            if frac is not None:
                line += f", {100 * frac:.0f}% of the matmul peak"
            lines.append(line)
    return "\n".join(lines)

"""`daftrl bench cotrain`: the per-update cost of each co-training baseline relative to plain SAC.

One co-training iteration's learning work is what is timed: sampling a source and a target minibatch
from replay buffers, the method's jitted update, and its host-side `periodic` work (VGDF refits its
dynamics ensemble every 250 updates: that cost is amortised over the iterations it covers). All
methods run round-robin in the same process, so each sees the same machine conditions; the median over
rounds is reported. References, in the same run:

- `sac`: one plain SAC update on `batch_size` rows (the FT/DAFT-style update);
- `sac-mix`: SAC on `batch_size` source + `batch_size` target rows (the co-training data volume).

Also recorded: the FLOPs of each compiled update (XLA cost analysis) and VGDF's FLOP floor over a
whole protocol run (the fewest model epochs its early stopping allows), which bounds what any faithful
implementation can reach relative to SAC-mix.

The buffers hold real transitions of the task (random actions in both domains); the target buffer is
`target_size` transitions, i.e. the point of a run at which the model refit is timed. For the offline-source
methods (H2O, BC-PAR, BC-VGDF: `MethodSpec.needs_dataset`) the source buffer stands for the dataset: their update
is timed exactly as in `daftrl cotrain METHOD --dataset D`, where each target step is followed by 10 of them.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from pathlib import Path

import numpy as np


def _cotrain_methods() -> tuple[str, ...]:
    from daftrl.algos import method_names

    return method_names("cotrain")


@dataclasses.dataclass
class CotrainBenchArgs:
    """Cost of one co-training update of each method relative to plain SAC (same run, interleaved)."""

    methods: tuple[str, ...] = dataclasses.field(default_factory=_cotrain_methods)
    """Default: every registered co-training method (daftrl.algos)."""
    task: str = "halfcheetah-broken-back-thigh"
    batch_size: int = 128
    """Rows per domain."""
    updates: int = 500
    """Iterations per timed block (VGDF: 2 model refits per block at the default 250)."""
    rounds: int = 5
    source_size: int = 50_000
    target_size: int = 20_000
    """Target transitions in the buffer when timing (a VGDF refit costs about linearly in this)."""
    out: str = "benchmarks/results/bench_cotrain.json"


def _fill(handle, size: int, seed: int):
    """A replay buffer with `size` transitions of uniform-random actions in `handle`'s env."""
    from daftrl.envs.collect import Collector
    from daftrl.replay import ReplayBuffer

    buf = ReplayBuffer(handle.obs_dim, handle.act_dim, size)
    rng = np.random.default_rng(seed)
    col = Collector(handle.make(), seed=seed)
    for _ in range(size):
        buf.add(*col.step(rng.uniform(-1, 1, handle.act_dim).astype(np.float32)))
    return buf


def _method_config(name: str, config_cls, batch_size: int):
    """The method's defaults with every schedule switched on (warm-ups/gates over), so the timed
    update is the steady-state one."""
    cfg = dataclasses.replace(config_cls(), batch_size=batch_size)
    steady = {"warmup": 0, "gate_start": 0}
    return dataclasses.replace(cfg, **{k: v for k, v in steady.items() if hasattr(cfg, k)})


def compiled_flops(jitted, *args) -> float | None:
    """FLOPs of one call of a jitted function, from XLA's cost analysis of the compiled program."""
    analysis = jitted.lower(*args).compile().cost_analysis()
    analysis = analysis[0] if isinstance(analysis, list) else analysis
    return float(analysis["flops"]) if analysis and "flops" in analysis else None


def _vgdf_floor(vgdf, model_step_flops: float, update_flops: dict, source_steps: int, target_every: int) -> dict:
    """VGDF's FLOPs per iteration over a whole protocol run, at the fewest model epochs early stopping
    allows, relative to SAC-mix: a bound no implementation of the reference algorithm can beat."""
    steps = vgdf.min_model_steps(source_steps, target_every)
    per_it = update_flops["vgdf"] + steps * model_step_flops / source_steps
    return {"source_steps": source_steps, "target_every": target_every, "min_model_minibatch_steps": steps,
            "model_step_flops": model_step_flops, "flops_per_iteration": per_it,
            "vs_sac_mix": per_it / update_flops["sac-mix"] if update_flops.get("sac-mix") else None}


def run_cotrain_bench(args: CotrainBenchArgs) -> dict:
    import jax

    from daftrl.algos import method_spec
    from daftrl.algos.mix import SACMixConfig
    from daftrl.checkpoint import atomic_write_json
    from daftrl.envs.factory import resolve_env
    from daftrl.monitor import progress_bar
    from daftrl.provenance import committed_provenance
    from daftrl.sac import SAC

    source, target = resolve_env(args.task, "source"), resolve_env(args.task, "target")
    print(f"collecting {args.source_size:,} source and {args.target_size:,} target transitions ...", flush=True)
    src_buf, tar_buf = _fill(source, args.source_size, 0), _fill(target, args.target_size, 1)
    rng = np.random.default_rng(0)
    B = args.batch_size

    def sac_block(sac, state, n):
        for _ in range(n):
            state, info = sac.update(state, tar_buf.sample(rng, B))
        return state, info

    periodic_s = {name: 0.0 for name in args.methods}

    def method_block(name, method, state, n, start, timed):
        for i in range(n):
            src = src_buf.sample(rng, method.method_config.source_batch_size or B)
            state, info = method.update(state, tar_buf.sample(rng, B), {"src": src})
            t = time.perf_counter()
            state, _ = method.periodic(state, tar_buf, rng, start + i + 1)  # a model refit syncs by itself
            periodic_s[name] += (time.perf_counter() - t) * timed
        return state, info

    sac = SAC(SACMixConfig(batch_size=B).sac_config(), target.obs_dim, target.act_dim)
    runners = {"sac": [sac, sac.init(0), 0]}
    for name in args.methods:
        spec = method_spec(name, "cotrain")
        cls, config_cls = spec.method_cls, spec.config_cls
        method = cls(_method_config(name, config_cls, B), target.obs_dim, target.act_dim)
        runners[name] = [method, method.init(0), 0]
    flops = {"sac": compiled_flops(sac.update, runners["sac"][1], tar_buf.sample(rng, B))}
    for name in args.methods:
        method, state, _ = runners[name]
        src = src_buf.sample(rng, method.method_config.source_batch_size or B)
        flops[name] = compiled_flops(method.update, state, tar_buf.sample(rng, B), {"src": src})
    floor = None
    if "vgdf" in runners:
        vgdf, state, _ = runners["vgdf"]
        model = state.extra["model"]
        M, d_in, d_out = vgdf.dynamics.members, vgdf.dynamics.in_dim, vgdf.dynamics.out_dim
        mb = vgdf.method_config.model_batch_size
        model_flops = compiled_flops(vgdf.dynamics.train_step, model["params"], model["opt"],
                             np.zeros((M, mb, d_in), np.float32), np.zeros((M, mb, d_out), np.float32),
                             np.ones((M, mb), np.float32))
        floor = _vgdf_floor(vgdf, model_flops, flops, 1_000_000, 10)
    times: dict[str, list[float]] = {name: [] for name in runners}
    progress, task = progress_bar("bench cotrain", (args.rounds + 1) * len(runners))
    with progress:
        for r in range(args.rounds + 1):  # round 0 compiles and warms up; not timed
            for name, run in runners.items():
                method, state, done = run
                t = time.perf_counter()
                if name == "sac":
                    state, info = sac_block(method, state, args.updates)
                else:
                    state, info = method_block(name, method, state, args.updates, done, r > 0)
                jax.block_until_ready(info)
                if r:
                    times[name].append((time.perf_counter() - t) / args.updates)
                run[1], run[2] = state, done + args.updates
                progress.advance(task)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    result = {
        "benchmark": "cotrain", "task": args.task, "batch_size_per_domain": B, "updates_per_block": args.updates,
        "target_size": args.target_size, "ms_per_update": ms,
        "all_ms": {k: [1e3 * x for x in v] for k, v in times.items()},
        "cost_vs_sac": {name: ms[name] / ms["sac"] for name in ms},
        "periodic_ms_per_update": {k: 1e3 * v / (args.rounds * args.updates) for k, v in periodic_s.items()},
        "cost_vs_sac_mix": {name: ms[name] / ms["sac-mix"] for name in ms} if "sac-mix" in ms else None,
        "flops_per_update": flops,
        "vgdf_protocol_flop_floor": floor,
        "provenance": committed_provenance(),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out, result)
    return result


def summary(res: dict) -> str:
    """What `daftrl bench cotrain` prints about a `run_cotrain_bench` result."""
    return (f"ms per update: {({k: round(v, 2) for k, v in res['ms_per_update'].items()})}\n"
            f"cost vs SAC: {({k: round(v, 2) for k, v in res['cost_vs_sac'].items()})}")

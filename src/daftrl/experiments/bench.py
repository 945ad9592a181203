"""`daftrl bench sac`: throughput of the SAC core, measured, never typed in.

What is measured, in one run, on this machine:
- jitted update throughput (updates/s) at batch 128 and 256, median over repetitions;
- achieved GFLOP/s = XLA cost-analysis FLOPs per update x updates/s, next to a matmul peak measured
  in the same run (a jitted chain of 256-wide matmuls, the shape of our layers, and one large GEMM);
- end-to-end env steps/s of the real pretraining loop on HalfCheetah-v5 with one update per step;
- with the `bench` extra installed: Stable-Baselines3 and SBX SAC with the same hyperparameters in
  the same run, interleaved round-robin with ours, and the ratios.

Results go to benchmarks/results/ as JSON with provenance.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


@dataclasses.dataclass
class BenchArgs:
    """Measure update throughput, FLOP efficiency and end-to-end steps/s of the SAC core."""

    env: str = "HalfCheetah-v5"
    batch_sizes: tuple[int, ...] = (128, 256)
    updates: int = 200
    """Updates per timed repetition."""
    reps: int = 5
    """Repetitions (the median is reported)."""
    e2e_steps: int = 3000
    """Timed env steps per end-to-end repetition (after learning starts)."""
    e2e_batch: int = 256
    rounds: int = 3
    """Round-robin rounds of the end-to-end comparison."""
    external: bool = True
    """Also run SB3 and SBX (if installed) in the same rounds."""
    out: str = "benchmarks/results/bench_sac.json"


def _timed(fn, reps: int) -> list[float]:
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return times


def update_throughput(batch_size: int, updates: int, reps: int, obs_dim: int = 17, act_dim: int = 6) -> dict:
    """Updates/s of the jitted SAC update (HalfCheetah sizes) and XLA's FLOP count per update."""
    import jax

    from daftrl.replay import Batch
    from daftrl.sac import SAC, SACConfig

    sac = SAC(SACConfig(batch_size=batch_size), obs_dim, act_dim)
    rng = np.random.default_rng(0)
    n = 4096
    data = Batch(rng.normal(size=(n, obs_dim)).astype(np.float32), rng.uniform(-1, 1, (n, act_dim)).astype(np.float32),
                 rng.normal(size=n).astype(np.float32), rng.normal(size=(n, obs_dim)).astype(np.float32),
                 np.zeros(n, np.float32))
    batches = [Batch(*(x[idx] for x in data)) for idx in rng.integers(0, n, (updates, batch_size))]
    state = sac.init(0)
    flops = sac.update.lower(state, batches[0]).compile().cost_analysis()
    flops = (flops[0] if isinstance(flops, list) else flops).get("flops", float("nan"))
    holder = {"s": state}

    def run():
        s = holder["s"]
        for b in batches:
            s, _ = sac.update(s, b)
        jax.block_until_ready(s)
        holder["s"] = s

    run()  # compile + warm up
    rates = [updates / t for t in _timed(run, reps)]
    med = statistics.median(rates)
    return {"batch_size": batch_size, "updates_per_s": med, "updates_per_s_all": rates,
            "mflop_per_update": flops / 1e6, "gflops": med * flops / 1e9}


def matmul_peak(reps: int) -> dict:
    """GFLOP/s of (a) 64 chained (256x256)@(256x256) matmuls in one jit, (b) one 2048^3 GEMM."""
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    ws = jax.random.normal(key, (64, 256, 256), jnp.float32) / 16.0
    x0 = jax.random.normal(key, (256, 256), jnp.float32)

    @jax.jit
    def chain(x):
        return jax.lax.scan(lambda h, w: (jnp.tanh(h @ w), None), x, ws)[0]

    big = jax.random.normal(key, (2048, 2048), jnp.float32)
    gemm = jax.jit(lambda a: a @ a)
    out = {}
    for name, fn, arg, flops in (("chain256", chain, x0, 64 * 2 * 256**3), ("gemm2048", gemm, big, 2 * 2048**3)):
        jax.block_until_ready(fn(arg))
        times = _timed(lambda fn=fn, arg=arg: jax.block_until_ready(fn(arg)), max(reps, 5))
        out[name] = flops / statistics.median(times) / 1e9
    out["peak"] = max(out["chain256"], out["gemm2048"])
    return out


# ------------------------------------------------------------------ end-to-end, one process per measurement
E2E_LEARNING_STARTS = 1000


def _e2e_daftrl(env: str, steps: int, batch: int) -> float:
    from daftrl.loops import PretrainConfig, pretrain
    from daftrl.rundir import RunDir
    from daftrl.sac import SACConfig

    with tempfile.TemporaryDirectory() as tmp:
        cfg = PretrainConfig(env=env, steps=E2E_LEARNING_STARTS + 1000 + steps, sac=SACConfig(batch_size=batch),
                             warmup_steps=E2E_LEARNING_STARTS, eval_every=10**9, checkpoint_every=10**9,
                             log_every=max(100, steps // 6), save_actors=False, run_dir=tmp)
        pretrain(cfg, quiet=True)
        rows = [r for r in RunDir(tmp).rows("train") if r["step"] > E2E_LEARNING_STARTS + 1000]
        return statistics.median(r["sps"] for r in rows)


def _e2e_sb3(env: str, steps: int, batch: int, flavour: str) -> float:
    import gymnasium as gym

    if flavour == "sbx":
        from sbx import SAC
    else:
        import torch
        from stable_baselines3 import SAC

        torch.set_num_threads(os.cpu_count() or 1)
    from stable_baselines3.common.callbacks import BaseCallback

    class Clock(BaseCallback):
        def __init__(self):
            super().__init__()
            self.marks = {}

        def _on_step(self) -> bool:
            if self.num_timesteps in (E2E_LEARNING_STARTS + 1000, E2E_LEARNING_STARTS + 1000 + steps):
                self.marks[self.num_timesteps] = time.perf_counter()
            return True

    model = SAC("MlpPolicy", gym.make(env), learning_rate=3e-4, buffer_size=1_000_000, batch_size=batch,
                learning_starts=E2E_LEARNING_STARTS, tau=0.005, gamma=0.99, train_freq=1, gradient_steps=1,
                ent_coef=0.2, policy_kwargs={"net_arch": [256, 256]}, seed=0, verbose=0)
    clock = Clock()
    model.learn(total_timesteps=E2E_LEARNING_STARTS + 1000 + steps, callback=clock)
    a, b = sorted(clock.marks.values())
    return steps / (b - a)


def _e2e_worker() -> None:
    """Entry for a measurement subprocess: argv = impl env steps batch; prints steps/s."""
    impl, env, steps, batch = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    rate = _e2e_daftrl(env, steps, batch) if impl == "daftrl" else _e2e_sb3(env, steps, batch, impl)
    print(json.dumps({"steps_per_s": rate}))


def _available(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def end_to_end(args: BenchArgs) -> dict:
    impls = ["daftrl"]
    if args.external:
        impls += [name for name, mod in (("sbx", "sbx"), ("sb3", "stable_baselines3")) if _available(mod)]
    rates: dict[str, list[float]] = {i: [] for i in impls}
    for rnd in range(args.rounds):
        for impl in impls:
            out = subprocess.run([sys.executable, "-m", "daftrl.experiments.bench", "--e2e-worker", impl, args.env,
                                  str(args.e2e_steps), str(args.e2e_batch)], capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"{impl} benchmark failed:\n{out.stderr[-2000:]}")
            rates[impl].append(json.loads(out.stdout.strip().splitlines()[-1])["steps_per_s"])
            print(f"  round {rnd + 1}/{args.rounds} {impl:>6}: {rates[impl][-1]:7.1f} steps/s", flush=True)
    med = {i: statistics.median(r) for i, r in rates.items()}
    res = {"env": args.env, "batch_size": args.e2e_batch, "utd": 1, "steps_per_s": med, "all": rates}
    res["ratios"] = {f"daftrl/{i}": med["daftrl"] / med[i] for i in impls if i != "daftrl"}
    if not args.external or len(impls) == 1:
        res["external_note"] = "SB3/SBX not installed: `pip install -e .[bench]` to compare"
    return res


def run_bench(args: BenchArgs) -> dict:
    from daftrl.provenance import committed_provenance

    print("matmul peak ...", flush=True)
    peak = matmul_peak(args.reps)
    updates = []
    for b in args.batch_sizes:
        print(f"SAC update throughput, batch {b} ...", flush=True)
        u = update_throughput(b, args.updates, args.reps)
        u["fraction_of_peak"] = u["gflops"] / peak["peak"]
        updates.append(u)
    print("end-to-end steps/s ...", flush=True)
    e2e = end_to_end(args)
    result = {"benchmark": "sac", "matmul_gflops": peak, "update": updates, "end_to_end": e2e,
              "provenance": committed_provenance()}
    from daftrl.checkpoint import atomic_write_json

    atomic_write_json(args.out, result)  # parent directories included
    return result


# ------------------------------------------------------------------ adaptation methods
def _updating_adapt_methods() -> tuple[str, ...]:
    """Every registered adaptation method that updates (zero-shot has no update to time)."""
    from daftrl.algos import method_specs

    return tuple(s.name for s in method_specs("adapt") if s.method_cls.learns)


@dataclasses.dataclass
class AdaptBenchArgs:
    """Cost of one update of each adaptation method relative to FT (same run, interleaved), and the
    wall time of the adapt loop on HalfCheetah (measured on a slice, extrapolated to 1e5 steps, or
    --full-steps for a real run)."""

    methods: tuple[str, ...] = dataclasses.field(default_factory=_updating_adapt_methods)
    """Default: every adaptation method that updates (the registry, daftrl.algos)."""
    batch_size: int = 128
    updates: int = 200
    rounds: int = 7
    """Round-robin rounds; the median per method is reported."""
    task: str = "halfcheetah-broken-back-thigh"
    loop_steps: int = 3000
    """Timed adapt-loop steps per method (no evaluation), extrapolated to 1e5."""
    full_steps: int = 0
    """If > 0: also run a real DAFT adaptation of this many steps (eval every 1e3, 10 episodes)."""
    out: str = "benchmarks/results/bench_adapt.json"


def _halfcheetah_expert(obs_dim: int = 17, act_dim: int = 6, n_source: int = 20_000):
    """Shapes of a HalfCheetah expert (random weights: cost does not depend on the values)."""
    from daftrl.experts import Expert
    from daftrl.replay import ReplayBuffer
    from daftrl.sac import SAC, SACConfig

    state = SAC(SACConfig(), obs_dim, act_dim).init(0)
    rng = np.random.default_rng(0)
    src = ReplayBuffer(obs_dim, act_dim, n_source)
    src.add_many(obs=rng.normal(size=(n_source, obs_dim)), act=rng.uniform(-1, 1, (n_source, act_dim)),
                 rew=rng.normal(size=n_source), next_obs=rng.normal(size=(n_source, obs_dim)),
                 terminated=np.zeros(n_source), truncated=(np.arange(n_source) % 1000 == 999).astype(float))
    return Expert("bench", "halfcheetah", obs_dim, act_dim, (256, 256), state.actor, state.critic,
                  float(np.log(0.2)), src)


def adapt_update_costs(args: AdaptBenchArgs) -> dict:
    """Updates/s per method, timed round-robin so every method sees the same machine conditions."""
    import jax

    from daftrl.adapter import Adapter
    from daftrl.experiments.bench_cotrain import compiled_flops

    expert = _halfcheetah_expert()
    adapters = {}
    for m in args.methods:
        a = Adapter(expert, m, batch_size=args.batch_size, learning_starts=args.batch_size, buffer_size=50_000)
        rng = np.random.default_rng(1)
        for _ in range(2 * args.batch_size):
            a.observe(rng.normal(size=17), rng.uniform(-1, 1, 6), 0.0, rng.normal(size=17), False, False)
        jax.block_until_ready(a.update(3))  # compile
        adapters[m] = a
    flops = {}
    for m, a in adapters.items():  # XLA's FLOP count of one compiled update (what the ratio should approach)
        batch = a.buffer.sample(np.random.default_rng(0), args.batch_size)
        aux = a.method.host_aux(a.source, a.buffer, np.random.default_rng(0), a.counters)
        flops[m] = compiled_flops(a.method.update, a.state, batch, aux)
    rates: dict[str, list[float]] = {m: [] for m in args.methods}
    for _ in range(args.rounds):
        for m, a in adapters.items():
            t = time.perf_counter()
            jax.block_until_ready(a.update(args.updates))
            rates[m].append(args.updates / (time.perf_counter() - t))
    med = {m: statistics.median(r) for m, r in rates.items()}
    return {"batch_size": args.batch_size, "updates_per_s": med, "all": rates,
            "cost_vs_ft": {m: med["ft"] / med[m] for m in med} if "ft" in med else None,
            "flops_per_update": flops,
            "flops_vs_ft": {m: flops[m] / flops["ft"] for m in flops} if flops.get("ft") else None}


def adapt_loop_rate(method: str, args: AdaptBenchArgs) -> float:
    """Target steps/s of the real adapt loop (act, env step, observe, update), no evaluation."""
    from daftrl.loops import AdaptRunConfig, adapt
    from daftrl.rundir import RunDir

    with tempfile.TemporaryDirectory() as tmp:
        cfg = AdaptRunConfig(task=args.task, method=method, steps=args.loop_steps, eval_every=10**9,
                             eval_episodes=1, checkpoint_every=10**9, log_every=max(100, args.loop_steps // 6),
                             run_dir=tmp)
        adapt(cfg, target=None, expert=_halfcheetah_expert(), quiet=True)
        rows = RunDir(tmp).rows("train")[1:]  # skip the window with compilation
        return statistics.median(r["sps"] for r in rows)


def run_adapt_bench(args: AdaptBenchArgs) -> dict:
    from daftrl.checkpoint import atomic_write_json
    from daftrl.provenance import committed_provenance

    print("update cost per method (interleaved) ...", flush=True)
    costs = adapt_update_costs(args)
    loop = {}
    for m in ("ft", "daft"):
        print(f"adapt loop {m} on {args.task} ...", flush=True)
        rate = adapt_loop_rate(m, args)
        loop[m] = {"steps_per_s": rate, "minutes_per_1e5_steps": 1e5 / rate / 60}
    result = {"benchmark": "adapt", "update": costs, "loop": loop, "provenance": committed_provenance()}
    if args.full_steps:
        from daftrl.loops import AdaptRunConfig, adapt

        with tempfile.TemporaryDirectory() as tmp:
            print(f"full DAFT run, {args.full_steps} steps ...", flush=True)
            res = adapt(AdaptRunConfig(task=args.task, method="daft", steps=args.full_steps, run_dir=tmp),
                        expert=_halfcheetah_expert(), quiet=True)
            result["full_run"] = {"steps": args.full_steps, "wall_time_s": res["wall_time"],
                                  "note": "includes evaluation every 1e3 steps (10 episodes)"}
    atomic_write_json(args.out, result)  # parent directories included
    return result



def sac_summary(res: dict) -> str:
    """What `daftrl bench sac` prints about a `run_bench` result."""
    lines = [f"update B={u['batch_size']}: {u['updates_per_s']:.0f} updates/s, {u['gflops']:.0f} GFLOP/s "
             f"({100 * u['fraction_of_peak']:.0f}% of measured peak {res['matmul_gflops']['peak']:.0f})"
             for u in res["update"]]
    e2e = res["end_to_end"]
    lines.append(f"end-to-end steps/s: {({k: round(v, 1) for k, v in e2e['steps_per_s'].items()})} "
                 f"ratios: {({k: round(v, 2) for k, v in e2e['ratios'].items()})}")
    return "\n".join(lines)


def adapt_summary(res: dict) -> str:
    """What `daftrl bench adapt` prints about a `run_adapt_bench` result."""
    loop = {k: f"{v['steps_per_s']:.0f} steps/s, {v['minutes_per_1e5_steps']:.1f} min/1e5"
            for k, v in res["loop"].items()}
    return (f"update cost vs FT: {({k: round(v, 2) for k, v in res['update']['cost_vs_ft'].items()})}\n"
            f"adapt loop: {loop}")


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "--e2e-worker":
    _e2e_worker()

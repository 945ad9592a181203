"""Dispatch probe: what a separate compiled call costs per SAC update, against K updates in one call.

Why: the offline-source co-training loop (the dataset loop) makes K = 10 SAC updates per target-environment
step, each a separate jitted `sac.update` call on a freshly sampled minibatch. `sac.update_many` runs K updates
in one compiled call (a `lax.scan` over K stacked minibatches). If the call itself is a large share of the
per-update cost, the loop should batch its 10 updates per target step into one `update_many` call.

What: a SAC learner at HalfCheetah sizes (obs_dim 17, act_dim 6) and the dataset loop's batch size (256), on a
replay buffer of 20,000 transitions. Each round times, one after the other:

    single  K single `sac.update` calls, each on a fresh `buffer.sample(rng, B)`, repeated CALLS times
    many    one `sac.update_many` call on `buffer.sample(rng, B, K)`, repeated CALLS times
    sample  `buffer.sample(rng, B)` alone, CALLS * K times (the host sampling inside `single`)

`single` and `many` include their host sampling, as in the loop. Printed: the median over the interleaved
rounds of the time per update (per minibatch for `sample`), in ms, and the ratio many/single (well below 1:
batching pays; near 1: the call overhead does not matter).

Run, on one otherwise idle core:

    taskset -c 1 .venv/bin/python benchmarks/probes/dispatch.py
    taskset -c 1 .venv/bin/python benchmarks/probes/dispatch.py --out dispatch.json
    taskset -c 1 .venv/bin/python benchmarks/probes/dispatch.py --rounds 1 --calls 2   # a quick check
"""

from __future__ import annotations

import argparse
import os
import time

import jax
import numpy as np

from daftrl.checkpoint import atomic_write_json
from daftrl.provenance import provenance
from daftrl.replay import ReplayBuffer
from daftrl.sac import SAC, SACConfig

OBS_DIM, ACT_DIM = 17, 6  # HalfCheetah
UPDATES_PER_STEP = 10  # K: the dataset loop's updates per target-environment step
CAPACITY, FILL = 200_000, 20_000  # replay buffer size and the number of transitions stored in it
WARMUP = 5  # untimed update + update_many pairs (compilation included) before the rounds


def filled_buffer(rng: np.random.Generator) -> ReplayBuffer:
    """A replay buffer holding FILL copies of one random transition (sampling cost does not depend on content)."""
    buf = ReplayBuffer(OBS_DIM, ACT_DIM, CAPACITY)
    obs = rng.normal(size=(OBS_DIM,)).astype(np.float32)
    act = np.zeros(ACT_DIM, np.float32)
    for _ in range(FILL):
        buf.add(obs, act, 0.0, obs, False, False)
    return buf


def measure(batch_size: int, rounds: int, calls: int) -> dict[str, list[float]]:
    """Seconds per update (`single`, `many`) and per sampled minibatch (`sample`), one value per round."""
    k = UPDATES_PER_STEP
    rng = np.random.default_rng(0)
    sac = SAC(SACConfig(batch_size=batch_size), OBS_DIM, ACT_DIM)
    buf = filled_buffer(rng)

    state = sac.init(0)
    batch, batches = buf.sample(rng, batch_size), buf.sample(rng, batch_size, k)
    for _ in range(WARMUP):
        state, _ = sac.update(state, batch)
        state, _ = sac.update_many(state, batches)
    jax.block_until_ready(state)

    n_updates = calls * k
    times: dict[str, list[float]] = {"single": [], "many": [], "sample": []}
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(n_updates):
            state, _ = sac.update(state, buf.sample(rng, batch_size))
        jax.block_until_ready(state)
        times["single"].append((time.perf_counter() - start) / n_updates)

        start = time.perf_counter()
        for _ in range(calls):
            state, _ = sac.update_many(state, buf.sample(rng, batch_size, k))
        jax.block_until_ready(state)
        times["many"].append((time.perf_counter() - start) / n_updates)

        start = time.perf_counter()
        for _ in range(n_updates):
            buf.sample(rng, batch_size)
        times["sample"].append((time.perf_counter() - start) / n_updates)
    return times


def machine_info() -> dict:
    """Commit, command line, date, package versions (jax, ...), CPU model and the cores this process may use."""
    return {**provenance(), "cpu_affinity": sorted(os.sched_getaffinity(0))}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch-size", type=int, default=256, help="minibatch size B (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds; medians over them (default: %(default)s)")
    p.add_argument("--calls", type=int, default=20,
                   help=f"update_many calls per round, i.e. {UPDATES_PER_STEP} x as many single updates "
                        "(default: %(default)s)")
    p.add_argument("--out", metavar="FILE.json", help="also write the numbers and machine info to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    times = measure(args.batch_size, args.rounds, args.calls)
    median_ms = {name: float(np.median(v)) * 1e3 for name, v in times.items()}
    ratio = median_ms["many"] / median_ms["single"]

    print(f"single  {median_ms['single']:.3f} ms per update ({UPDATES_PER_STEP} sac.update calls, sampling included)")
    print(f"many    {median_ms['many']:.3f} ms per update (1 sac.update_many call, sampling included)")
    print(f"sample  {median_ms['sample']:.3f} ms per minibatch (host sampling alone)")
    print(f"many/single time ratio {ratio:.3f}")

    if args.out:
        atomic_write_json(args.out, {
            "probe": "dispatch",
            "params": {"obs_dim": OBS_DIM, "act_dim": ACT_DIM, "batch_size": args.batch_size,
                       "updates_per_step": UPDATES_PER_STEP, "rounds": args.rounds, "calls": args.calls,
                       "buffer_capacity": CAPACITY, "buffer_fill": FILL, "warmup": WARMUP},
            "seconds_per_round": times,
            "median_ms": median_ms,
            "many_over_single": ratio,
            "machine": machine_info(),
        })
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

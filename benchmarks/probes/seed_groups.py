"""Seed-group probe: per-seed SAC update throughput of N independent seeds run together in one process.

Why: runs are one seed per process, one process per core. If one compiled call that updates N seeds' train
states does more seed-updates per second than N separate processes' worth of single updates, several seeds per
process could raise runs per core-hour.

What: a SAC learner at HalfCheetah sizes (obs_dim 17, act_dim 6), N = 2, 4, 8 independent train states (seeds
0..N-1) stacked along a leading axis, each with its own minibatch of B random transitions, updated by one jitted
call (state donated) in three ways:

    vmap      jax.jit(jax.vmap(sac._update)) over the stacked states and batches (batched matmuls)
    lax.map   jax.lax.map over the seeds inside one jit (one compiled loop, a seed at a time)
    unrolled  a Python loop over the seeds inside one jit (N copies of the update in one program)

against N = 1: plain `sac.update` calls on one state (`solo`). The batches are fixed device arrays, so this is
the update alone, without host sampling. Each round measures every (variant, N): a fresh jit, 10 untimed calls
(compilation included), then REPS timed repetitions of max(40, 160 // N) calls; the round's rate is the median
over its repetitions. Rounds are interleaved (solo and every variant and N once per round) so slow drifts in
machine load hit all alike. Printed: the median over rounds, in seed-updates/s, and its ratio to solo (above
1.0x: grouped seeds get more updates per core-second than one seed per process).

Every seed's batch has B transitions, shape (B, ...).

Run, on one otherwise idle core (the optional argument is the batch size B, default 128):

    taskset -c 1 .venv/bin/python benchmarks/probes/seed_groups.py 128
    taskset -c 1 .venv/bin/python benchmarks/probes/seed_groups.py 256 --out seed_groups_b256.json
    taskset -c 1 .venv/bin/python benchmarks/probes/seed_groups.py --rounds 1 --reps 1 --seeds 2   # a quick check
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from daftrl.checkpoint import atomic_write_json
from daftrl.provenance import provenance
from daftrl.replay import Batch
from daftrl.sac import SAC, SACConfig

OBS_DIM, ACT_DIM = 17, 6  # HalfCheetah
WARMUP_CALLS = 10


def calls_per_rep(n_seeds: int) -> int:
    """Timed calls per repetition: 160 seed-updates, but at least 40 calls."""
    return max(40, 160 // n_seeds)


def random_batch(rng: np.random.Generator, lead: tuple[int, ...], batch_size: int) -> Batch:
    """Random transitions of shape (*lead, batch_size, ...) on the device."""
    shape = (*lead, batch_size)

    def normal(*feature: int) -> jax.Array:
        return jnp.asarray(rng.normal(size=shape + feature).astype(np.float32))

    return Batch(obs=normal(OBS_DIM), act=jnp.tanh(normal(ACT_DIM)), rew=normal(), next_obs=normal(OBS_DIM),
                 terminated=jnp.zeros(shape))


def stack(trees):
    """Stack a list of identically shaped pytrees along a new leading axis."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def take(tree, i: int):
    """Element i along the leading axis of every leaf of a pytree."""
    return jax.tree.map(lambda x: x[i], tree)


# Each variant: (sac, N) -> a jitted update of N stacked train states on N stacked batches, with the
# signature of sac.update: (states, batches) -> (states, infos), states donated.

def vmapped(sac: SAC, n_seeds: int) -> Callable:
    return jax.jit(jax.vmap(sac._update), donate_argnums=0)


def lax_mapped(sac: SAC, n_seeds: int) -> Callable:
    def update_all(states, batches):
        return jax.lax.map(lambda state_batch: sac._update(*state_batch), (states, batches))

    return jax.jit(update_all, donate_argnums=0)


def unrolled(sac: SAC, n_seeds: int) -> Callable:
    def update_all(states, batches):
        outs = [sac._update(take(states, i), take(batches, i)) for i in range(n_seeds)]
        return stack([state for state, _ in outs]), stack([info for _, info in outs])

    return jax.jit(update_all, donate_argnums=0)


VARIANTS = {"vmap": vmapped, "lax.map": lax_mapped, "unrolled": unrolled}


def seed_updates_per_second(update: Callable, state, batch: Batch, n_seeds: int, reps: int) -> float:
    """Median over `reps` timed repetitions, after WARMUP_CALLS untimed calls."""
    for _ in range(WARMUP_CALLS):
        state, _ = update(state, batch)
    jax.block_until_ready(state)
    calls = calls_per_rep(n_seeds)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(calls):
            state, _ = update(state, batch)
        jax.block_until_ready(state)
        rates.append(calls * n_seeds / (time.perf_counter() - start))
    return float(np.median(rates))


def measure(batch_size: int, seeds: list[int], rounds: int, reps: int) -> dict[tuple[str, int], list[float]]:
    """(variant, N) -> seed-updates/s, one value per round; ("solo", 1) is the N = 1 baseline."""
    sac = SAC(SACConfig(batch_size=batch_size), OBS_DIM, ACT_DIM)
    rng = np.random.default_rng(0)
    rates: dict[tuple[str, int], list[float]] = {("solo", 1): []}
    for _ in range(rounds):
        solo_batch = random_batch(rng, (), batch_size)
        rates[("solo", 1)].append(seed_updates_per_second(sac.update, sac.init(0), solo_batch, 1, reps))
        for n in seeds:
            for name, make in VARIANTS.items():
                states = stack([sac.init(seed) for seed in range(n)])
                batches = random_batch(rng, (n,), batch_size)
                rates.setdefault((name, n), []).append(seed_updates_per_second(make(sac, n), states, batches, n, reps))
    return rates


def machine_info() -> dict:
    """Commit, command line, date, package versions (jax, ...), CPU model and the cores this process may use."""
    return {**provenance(), "cpu_affinity": sorted(os.sched_getaffinity(0))}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("batch_size", nargs="?", type=int, default=128, help="minibatch size B per seed (default: 128)")
    p.add_argument("--seeds", type=int, nargs="+", default=[2, 4, 8], metavar="N",
                   help="numbers of seeds per process to try (default: 2 4 8)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds; medians over them (default: %(default)s)")
    p.add_argument("--reps", type=int, default=5,
                   help="timed repetitions per (variant, N) and round; medians over them (default: %(default)s)")
    p.add_argument("--out", metavar="FILE.json", help="also write the numbers and machine info to this JSON file")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rates = measure(args.batch_size, args.seeds, args.rounds, args.reps)
    solo = float(np.median(rates[("solo", 1)]))
    rows = []
    for (name, n), per_round in rates.items():
        median = float(np.median(per_round))
        rows.append({"variant": name, "n_seeds": n, "per_round": per_round, "median": median,
                     "ratio_to_solo": median / solo})
        print(f"{name:9s} N={n}: {median:6.0f} seed-updates/s  {median / solo:.2f}x", flush=True)

    if args.out:
        atomic_write_json(args.out, {
            "probe": "seed_groups",
            "params": {"obs_dim": OBS_DIM, "act_dim": ACT_DIM, "batch_size": args.batch_size, "seeds": args.seeds,
                       "rounds": args.rounds, "reps": args.reps, "warmup_calls": WARMUP_CALLS,
                       "calls_per_rep": {n: calls_per_rep(n) for n in [1, *args.seeds]}},
            "seed_updates_per_second": rows,
            "machine": machine_info(),
        })
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

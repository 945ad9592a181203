"""Build daftrl's offline datasets: the bundled medium actor rolled out stochastically in the robot's stock v5 env.

`build_dataset("hopper")` writes the Minari dataset `daftrl/hopper/medium-v0` under $DAFTRL_HOME/datasets with
Minari's own writer, and `card.json` beside its `data/` (what was built from what, the checksum of the canonical
arrays, the episode returns). The build happens in a hidden temporary directory in the same root and is renamed into
place only after the written data were read back and matched the checksum, so a crash leaves nothing that loads.

Reference scores (Minari's `ref_min_score`/`ref_max_score`, for `minari.get_normalized_score`) are given, so Minari
runs no episodes of its own: the maximum is the expert's source return from the zoo card (10 deterministic
episodes), the minimum is D4RL's random-policy return of the robot (`daftrl.evaluate.D4RL_REFERENCE`; the zoo card
records no random return).
"""

from __future__ import annotations

import datetime
import shutil
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

from daftrl.datasets.data import canonical, checksum, episode_returns
from daftrl.datasets.rollout import ROLLOUT_ENVS, Episode

FORMAT = "daftrl-dataset"
VERSION = 1
LEVELS = {"medium": "medium_actor.safetensors"}
"""Dataset level -> the zoo file of the actor that collects it."""
VERSIONED = ("daftrl", "numpy", "gymnasium", "mujoco", "minari", "h5py")
"""Packages whose versions a card records (what the data depend on; the build runs no JAX)."""
REF_RULE = ("ref_max_score: the zoo expert's source return (card.json source_return.return_mean); ref_min_score: "
            "D4RL's random-policy return of the robot (d4rl/infos.py)")


def dataset_id(robot: str, level: str = "medium") -> str:
    return f"daftrl/{robot}/{level}-v0"


def episodes_to_arrays(episodes: list[Episode]) -> dict[str, np.ndarray]:
    """The canonical arrays of consecutive episodes (`obs`/`next_obs` are each episode's rows 0..T-1 and 1..T)."""
    return canonical({
        "obs": np.concatenate([e.observations[:-1] for e in episodes]),
        "act": np.concatenate([e.actions for e in episodes]),
        "rew": np.concatenate([e.rewards for e in episodes]),
        "next_obs": np.concatenate([e.observations[1:] for e in episodes]),
        "terminated": np.concatenate([e.terminations for e in episodes]),
        "truncated": np.concatenate([e.truncations for e in episodes]),
    })


def _check_request(robot: str, level: str, transitions: int) -> None:
    from daftrl import zoo
    from daftrl.envs.robots import ROBOTS

    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; datasets are built for {', '.join(ROBOTS)}")
    zoo.check(robot)
    if level not in LEVELS:
        raise ValueError(f"unknown dataset level {level!r}; daftrl builds {', '.join(LEVELS)}")
    if transitions <= 0:
        raise ValueError(f"--transitions must be positive, got {transitions}")


def _actor(robot: str, level: str) -> tuple[Path, str]:
    """The zoo actor file of a level and its SHA-256, refused if it differs from what the zoo card recorded."""
    from daftrl import zoo
    from daftrl.checkpoint import file_sha256

    path = zoo.ZOO_DIR / robot / LEVELS[level]
    digest, recorded = file_sha256(path), zoo.card(robot)["sha256"].get(LEVELS[level])
    if digest != recorded:
        raise ValueError(f"{path} does not match its zoo card's checksum; restore it (`daftrl zoo verify {robot}`)")
    return path, digest


def build_dataset(robot: str, level: str = "medium", transitions: int = 1_000_000, seed: int = 0,
                  root: str | Path | None = None, progress: bool = True, force: bool = False) -> Path:
    """Roll out the zoo's `level` actor of `robot` stochastically for `transitions` steps and write the Minari
    dataset `daftrl/<robot>/<level>-v0` under `root` (default $DAFTRL_HOME/datasets); returns its directory.

    Deterministic: the same seed and transitions give the same data (the card's `checksum`). An existing dataset is
    replaced only with `force`. See the module doc for atomicity and the reference scores."""
    from daftrl import zoo
    from daftrl.checkpoint import atomic_write_json
    from daftrl.datasets.load import datasets_root
    from daftrl.datasets.minari_io import read_minari
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import D4RL_REFERENCE

    _check_request(robot, level, transitions)
    root = Path(root) if root else datasets_root()
    name = dataset_id(robot, level)
    final = root / name
    if final.exists() and not force:
        raise FileExistsError(f"{final} exists; load it, or rebuild it with --force")
    actor_path, actor_sha = _actor(robot, level)
    zoo_card = zoo.card(robot)
    source = resolve_env(robot, "source")
    started = time.perf_counter()
    episodes = _collect(actor_path, source.make, transitions, seed, progress, name)
    arrays = episodes_to_arrays(episodes)
    refs = (D4RL_REFERENCE[robot][0], zoo_card["source_return"]["return_mean"])
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".build-"))
    try:
        path = _write(tmp, name, episodes, source, refs)
        if checksum(canonical(read_minari(path)[0])) != checksum(arrays):
            raise RuntimeError(f"{name}: the written dataset does not read back as the collected data")
        card = _card(name, robot, level, seed, episodes, arrays, actor_sha, zoo_card, refs,
                     time.perf_counter() - started)
        atomic_write_json(path / "card.json", card)
        _install(tmp, root, name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _collect(actor_path: Path, make_env, transitions: int, seed: int, progress: bool, name: str) -> list[Episode]:
    """`rollout.rollout` with a rich progress bar (steps, steps/s, ETA) when `progress` and on a terminal."""
    from daftrl.datasets.rollout import NumpyActor, rollout

    actor = NumpyActor.from_file(actor_path)
    if not progress:
        return rollout(actor, make_env, transitions, seed)
    from daftrl.monitor import progress_bar

    bar, task = progress_bar(name, transitions)
    t0 = time.perf_counter()

    def on_step(steps: int, episodes: int) -> None:
        if steps % (64 * ROLLOUT_ENVS) == 0:
            rate = steps / max(time.perf_counter() - t0, 1e-9)
            bar.update(task, completed=min(steps, transitions), rate=f"{rate:,.0f} steps/s",
                       status=f"{episodes} episodes")

    with bar:
        episodes = rollout(actor, make_env, transitions, seed, on_step=on_step)
        bar.update(task, completed=transitions, status=f"{len(episodes)} episodes")
    return episodes


def _write(tmp: Path, name: str, episodes: list[Episode], source, refs: tuple[float, float]) -> Path:
    """Write the Minari dataset (and its namespace) under the temporary root `tmp`; its directory."""
    import gymnasium
    import mujoco
    from minari.namespace import create_namespace

    from daftrl.datasets.minari_io import minari_root, write_minari
    from daftrl.provenance import git_commit
    from daftrl.version import __version__

    with minari_root(tmp):
        create_namespace("daftrl", description="Offline datasets built by daftrl from its bundled actors "
                                               "(docs/datasets.md)")
    env = source.make()
    try:
        return write_minari(
            tmp, name, episodes, env, ref_min_score=refs[0], ref_max_score=refs[1],
            description=f"{source.robot} {name.split('/')[-1]}: daftrl's bundled medium actor (about a third of the "
                        f"expert's return) sampled stochastically in {env.spec.id}; not D4RL's data",
            algorithm_name="daftrl SAC medium actor, a ~ pi(.|s)",
            code_permalink=f"daftrl {__version__} (git {git_commit()}), daftrl.datasets.build",
            requirements=[f"gymnasium=={gymnasium.__version__}", f"mujoco=={mujoco.__version__}"])
    finally:
        env.close()


def _return_stats(returns: np.ndarray) -> dict:
    """Mean, std, min and max of the episodes that ended on their own (None each when there is none)."""
    stats = {name: float(f(returns)) if len(returns) else None
             for name, f in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))}
    return {**stats, "episodes": len(returns), "of": "the episodes that ended on their own (a cut last episode is "
                                                     "left out)"}


def _install(tmp: Path, root: Path, name: str) -> None:
    """Move the dataset built under `tmp` to `root` (replacing an older build) with one rename each, after copying
    the Minari namespace files `root` lacks."""
    for meta in sorted(tmp.rglob("namespace_metadata.json")):
        target = root / meta.relative_to(tmp)
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(meta, target)
    final, old = root / name, tmp / ".replaced"
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        final.rename(old)
    try:
        (tmp / name).rename(final)
    except BaseException:
        if old.exists():
            old.rename(final)  # keep the previous build rather than nothing
        raise


def _card(name, robot, level, seed, episodes, arrays, actor_sha, zoo_card, refs, seconds) -> dict:
    """What the dataset is, how it was built and how to check it (written as card.json beside `data/`)."""
    from daftrl.envs.robots import ROBOTS
    from daftrl.provenance import cpu_model, git_commit

    cut = episodes[-1].cut
    returns = episode_returns(arrays)[: len(episodes) - 1 if cut else None]
    return {
        "format": FORMAT,
        "version": VERSION,
        "dataset_id": name,
        "robot": robot,
        "level": level,
        "env": {"id": ROBOTS[robot].gym_id, "kwargs": dict(ROBOTS[robot].kwargs)},
        "transitions": int(len(arrays["rew"])),
        "episodes": len(episodes),
        "terminations": int(arrays["terminated"].sum()),
        "cut_last_episode": cut,
        "seed": seed,
        "rollout": {"envs": ROLLOUT_ENVS, "actions": "a ~ pi(.|s): tanh-Gaussian sample, float64 actor, numpy "
                                                     "PCG64 noise (SeedSequence(seed)), stored as float32"},
        "actor": {"file": f"zoo/{robot}/{LEVELS[level]}", "sha256": actor_sha,
                  "from_step": zoo_card["medium_actor"]["from_step"],
                  "deterministic_return": zoo_card["medium_actor"]["source_return"]["return_mean"]},
        "checksum": checksum(arrays),
        "checksum_of": "the canonical arrays: obs, act, rew, next_obs float32; terminated, truncated bool "
                       "(daftrl.datasets.data.checksum)",
        "episode_return": _return_stats(returns),
        "ref_min_score": refs[0],
        "ref_max_score": refs[1],
        "ref_scores_rule": REF_RULE,
        "versions": {package: version(package) for package in VERSIONED},
        "git_commit": git_commit(),
        "cpu": cpu_model(),
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "build_seconds": round(seconds, 1),
    }

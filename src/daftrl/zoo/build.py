"""Build, describe and verify the bundled experts (`daftrl zoo export | list | show | verify`).

A zoo entry `src/daftrl/zoo/<robot>/` holds:
- `expert.safetensors`: actor, twin critics, temperature, and the latest 1e5 transitions of the
  expert's replay buffer as D_src (float16 observations/actions/rewards);
- `medium_actor.safetensors`: an actor from the same run at about a third of the expert's return;
- `card.json`: training steps, wall time, hyperparameters, git commit, source return, zero-shot
  return on each of the robot's target tasks (all families), and the SHA-256 of every file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path

from daftrl.zoo import ZOO_DIR

FILES = ("expert.safetensors", "medium_actor.safetensors")


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


HEADLINE_FAMILIES = ("paper", "inverted")  # the zero-shot returns `zoo list` shows


def robot_tasks(robot: str, families: tuple[str, ...] | None = None) -> list[str]:
    """Every target task of a robot (the zero-shot entries of its card): the paper tasks and the
    inverted-action task first, then the ODRL families; `families` keeps only those families."""
    from daftrl.envs import TASKS

    mine = [name for name, t in TASKS.items() if t.robot == robot and (families is None or t.family in families)]
    return sorted(mine, key=lambda n: (TASKS[n].family not in HEADLINE_FAMILIES, TASKS[n].family != "paper"))


def zero_shot_returns(policy, robot: str, episodes: int, progress: bool = True) -> dict[str, dict]:
    """The deterministic return of `policy` (unchanged) on each of the robot's target tasks."""
    from rich.progress import Progress

    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate

    tasks, out = robot_tasks(robot), {}
    with Progress(disable=not progress, transient=True) as bar:
        job = bar.add_task(f"zero-shot {robot}", total=len(tasks))
        for task in tasks:
            out[task] = evaluate(policy.deterministic, resolve_env(task, "target").make, episodes, 0, robot).as_dict()
            bar.advance(job)
    return out


def pick_medium(run_dir: Path, expert_return: float, fraction: float) -> Path:
    """The saved actor whose evaluation return is closest to `fraction` of the expert's."""
    from daftrl.checkpoint import load_arrays

    best, best_gap = None, float("inf")
    for path in sorted((run_dir / "actors").glob("step_*.safetensors")):
        _, meta = load_arrays(path, kind="actor")
        gap = abs(meta["eval"]["return_mean"] - fraction * expert_return)
        if gap < best_gap:
            best, best_gap = path, gap
    if best is None:
        raise ValueError(f"{run_dir} has no saved actors (pretrain with --save-actors)")
    return best


@contextlib.contextmanager
def _snapshot(run_dir: Path):
    """A private view of the run's checkpoint (hard link, else copy) and config: the expert's arrays and
    the card's step count then come from the same checkpoint even while the run keeps training."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory(dir=run_dir, prefix=".export-") as tmp:
        snap = Path(tmp)
        try:
            os.link(run_dir / "checkpoint.safetensors", snap / "checkpoint.safetensors")
        except OSError:
            shutil.copyfile(run_dir / "checkpoint.safetensors", snap / "checkpoint.safetensors")
        shutil.copyfile(run_dir / "config.json", snap / "config.json")
        yield snap


def _check_export(run_dir: Path, robot: str) -> None:
    """Refuse, before anything is written, a robot daftrl does not know or a run that is not a pretraining run."""
    from daftrl.checkpoint import checkpoint_kind
    from daftrl.envs.factory import ROBOTS

    if robot not in ROBOTS:
        raise ValueError(f"unknown robot {robot!r}; a zoo entry is one of {', '.join(ROBOTS)}")
    if not ((run_dir / "checkpoint.safetensors").is_file() and (run_dir / "config.json").is_file()):
        raise ValueError(f"{run_dir} is not a pretraining run directory (no checkpoint.safetensors and config.json); "
                         "give --run the directory of a `daftrl pretrain` run")
    kind = checkpoint_kind(run_dir / "checkpoint.safetensors")
    if kind != "pretrain":
        raise ValueError(f"{run_dir} holds a {kind!r} run, not a pretraining run")


def export(run_dir: str | Path, robot: str, source_size: int = 100_000, medium_fraction: float = 1 / 3,
           episodes: int = 10, out_dir: Path | None = None, note: str | None = None) -> dict:
    """Turn a finished (or checkpointed) pretraining run into a zoo entry; returns the card. The entry's
    directory is created only when its first file is written, after every evaluation."""
    from daftrl.checkpoint import atomic_write_bytes, atomic_write_json, load_arrays
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.experts import load_expert, save_expert
    from daftrl.policy import load_policy
    from daftrl.runs import RunDir, provenance

    run_dir = Path(run_dir)
    _check_export(run_dir, robot)
    out = Path(out_dir or ZOO_DIR / robot)
    with _snapshot(run_dir) as snap:  # a running pretraining may replace its checkpoint meanwhile
        expert = load_expert(snap, source_size)
        _, ckpt_meta = load_arrays(snap / "checkpoint.safetensors", kind="pretrain")
        config = RunDir(snap).read_config()  # the config and provenance that go with that checkpoint
        started, resumes = RunDir(snap).read_provenance()
    expert.name, expert.env = robot, robot
    source = resolve_env(robot, "source")
    expert.check_compatible(source.obs_dim, source.act_dim, f"robot {robot!r}")
    policy = expert.policy()
    src_eval = evaluate(policy.deterministic, source.make, episodes, 0, robot)
    zero_shot = zero_shot_returns(policy, robot, episodes)
    medium_path = pick_medium(run_dir, src_eval.mean, medium_fraction)
    medium, _ = load_policy(medium_path)
    medium_eval = evaluate(medium.deterministic, source.make, episodes, 0, robot)
    save_expert(out / "expert.safetensors", expert)
    atomic_write_bytes(out / "medium_actor.safetensors", medium_path.read_bytes())
    card = {
        "robot": robot,
        "source_env": robot,
        "obs_dim": expert.obs_dim,
        "act_dim": expert.act_dim,
        "steps": ckpt_meta["step"],
        "wall_time_hours": ckpt_meta["wall_time"] / 3600,
        "hyperparameters": config,
        "trained_with": started,
        "resumed_with": resumes,
        "source_return": src_eval.as_dict(),
        "zero_shot_return": zero_shot,
        "medium_actor": {"from_step": int(medium_path.stem.split("_")[1]), "source_return": medium_eval.as_dict()},
        "source_data": {"transitions": len(expert.source), "dtype": "float16",
                        "what": "the latest transitions of the replay buffer"},
        "exported_by": provenance(),
        "note": note,
        "sha256": {f: sha256(out / f) for f in FILES},
    }
    atomic_write_json(out / "card.json", card)
    return card


def rescore(robot: str, episodes: int = 10, prov: dict | None = None) -> dict:
    """Recompute a bundled expert's zero-shot returns on every target task of its robot (e.g. after
    tasks were added) and rewrite its card; the weight files and their checksums are untouched.
    `prov`: the provenance to record (default: now); rescoring several robots passes the one taken
    before the first card changed, which would otherwise mark the later ones as from a dirty tree."""
    from daftrl.checkpoint import atomic_write_json
    from daftrl.experts import load_expert
    from daftrl.runs import provenance
    from daftrl.zoo import card

    c = card(robot)
    expert = load_expert(robot)
    policy = expert.policy()
    c["zero_shot_return"] = zero_shot_returns(policy, robot, episodes)
    c["zero_shot_by"] = prov or provenance()
    atomic_write_json(ZOO_DIR / robot / "card.json", c)
    return c


def verify(robot: str, episodes: int = 3) -> list[str]:
    """Problems with a zoo entry (empty list = fine): checksums, shapes vs tasks, a short evaluation."""
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.experts import load_expert
    from daftrl.policy import load_policy
    from daftrl.zoo import card

    problems = []
    c = card(robot)
    for f in FILES:
        if sha256(ZOO_DIR / robot / f) != c["sha256"][f]:
            problems.append(f"{robot}/{f}: checksum differs from card.json")
    expert = load_expert(robot)
    medium, _ = load_policy(ZOO_DIR / robot / "medium_actor.safetensors")
    for task in [robot, *robot_tasks(robot)]:
        h = resolve_env(task, "source" if task == robot else "target")
        for what, p in (("expert", expert), ("medium", medium)):
            o, a = p.obs_dim, p.act_dim
            if (o, a) != (h.obs_dim, h.act_dim):
                problems.append(f"{robot} {what} sizes {o}/{a} do not match {task} ({h.obs_dim}/{h.act_dim})")
    if not problems:
        policy = expert.policy()
        ret = evaluate(policy.deterministic, resolve_env(robot).make, episodes, 0, robot).mean
        ref = c["source_return"]["return_mean"]
        if ret < 0.8 * ref - 100:
            problems.append(f"{robot}: source return {ret:,.0f} far below the card's {ref:,.0f}")
    return problems


def print_zoo() -> None:
    """The table `daftrl zoo list` prints: each bundled expert's steps, source return and headline zero-shot returns."""
    from rich.console import Console
    from rich.table import Table

    from daftrl import zoo

    table = Table("robot", "steps", "source return", "zero-shot returns", title="daftrl zoo")
    for name in zoo.names():
        c = zoo.card(name)
        shown = [t for t in robot_tasks(name, HEADLINE_FAMILIES) if t in c["zero_shot_return"]]
        returns = ", ".join(f"{t}: {c['zero_shot_return'][t]['return_mean']:,.0f}" for t in shown)
        more = len(c["zero_shot_return"]) - len(shown)
        table.add_row(name, f"{c['steps']:,}", f"{c['source_return']['return_mean']:,.0f}",
                      returns + (f" (+{more} more: zoo show {name})" if more else ""))
    Console().print(table if zoo.names() else "no bundled experts")


def print_card(robot: str) -> None:
    """A bundled expert's card.json, as `daftrl zoo show ROBOT` prints it (ValueError naming the bundled ones)."""
    from rich.console import Console

    from daftrl.zoo import card

    Console().print_json(data=card(robot))


def print_verify(robots: list[str], episodes: int = 3) -> bool:
    """`verify` each robot, printing one line per robot (`daftrl zoo verify`); True if all are fine."""
    fine = True
    for name in robots:
        problems = verify(name, episodes)
        fine &= not problems
        print(f"{name}: " + ("; ".join(problems) or "ok"))
    return fine


def print_rescore(robots: list[str], episodes: int = 10) -> None:
    """`rescore` each robot, printing one line per robot (`daftrl zoo rescore`)."""
    from daftrl.runs import provenance

    prov = provenance()  # before any card changes
    for name in robots:
        c = rescore(name, episodes=episodes, prov=prov)
        print(f"{name}: zero-shot returns on {len(c['zero_shot_return'])} tasks written to its card")

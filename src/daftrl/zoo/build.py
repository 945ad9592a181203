"""Build, describe and verify the bundled experts (`daftrl zoo export | list | show | verify`).

A zoo entry `src/daftrl/zoo/<robot>/` (a pretraining run's expert) holds:
- `expert.safetensors`: actor, twin critics, temperature, and the latest 1e5 transitions of the
  expert's replay buffer as D_src (float16 observations/actions/rewards);
- `medium_actor.safetensors`: an actor from the same run at about a third of the expert's return;
- `card.json`: training steps, wall time, hyperparameters, git commit, source return, zero-shot
  return on each of the robot's target tasks (all families), and the SHA-256 of every file.

An offline run's expert (e.g. CQL on a medium dataset) is the entry `src/daftrl/zoo/<robot>-<method>/`: its
`expert.safetensors` (D_src: the dataset's latest whole episodes) and `card.json`, which also names the dataset
and its checksum (`export_offline`).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from daftrl.checkpoint import file_sha256
from daftrl.zoo import ZOO_DIR

FILES = ("expert.safetensors", "medium_actor.safetensors")




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


def _run_kind(run_dir: Path) -> str:
    """The kind of the run in `run_dir` (pretrain or offline); ValueError for anything else."""
    from daftrl.checkpoint import checkpoint_kind

    if not ((run_dir / "checkpoint.safetensors").is_file() and (run_dir / "config.json").is_file()):
        raise ValueError(f"{run_dir} is not a run directory (no checkpoint.safetensors and config.json); give --run "
                         "the directory of a `daftrl pretrain` or `daftrl offline` run")
    kind = checkpoint_kind(run_dir / "checkpoint.safetensors")
    if kind not in ("pretrain", "offline"):
        raise ValueError(f"{run_dir} holds a {kind!r} run, not a pretraining or offline run")
    return kind


def _check_name(name: str, kind: str, method: str | None = None) -> str:
    """The robot of a zoo entry `name`: a robot for a pretraining run's expert, ROBOT-METHOD (e.g. hopper-cql) for
    an offline run's; ValueError otherwise, before anything is written."""
    from daftrl.envs.factory import ROBOTS

    if kind == "pretrain":
        if name not in ROBOTS:
            raise ValueError(f"unknown robot {name!r}; a pretraining run's zoo entry is one of {', '.join(ROBOTS)}")
        return name
    robot, _, suffix = name.rpartition("-")
    if robot not in ROBOTS or suffix != method:
        raise ValueError(f"an offline {method} run's zoo entry is named ROBOT-{method} (e.g. hopper-{method}), got "
                         f"{name!r}")
    return robot


def _check_source_size(source_size: int | None) -> None:
    """Refuse a D_src cap that is not a positive number of rows (None: the run's own default)."""
    if source_size is not None and source_size <= 0:
        raise ValueError(f"--source-size must be a positive number of rows, got {source_size}")


def export(run_dir: str | Path, robot: str, source_size: int | None = None, medium_fraction: float = 1 / 3,
           episodes: int = 10, out_dir: Path | None = None, note: str | None = None) -> dict:
    """Turn a finished (or checkpointed) pretraining run into a zoo entry named `robot`, or an offline run into one
    named ROBOT-METHOD (`export_offline`); returns the card. The entry's directory is created only when its first
    file is written, after every evaluation."""
    from daftrl.checkpoint import atomic_write_bytes, atomic_write_json, load_arrays
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate
    from daftrl.experts import load_expert, save_expert
    from daftrl.policy import load_policy
    from daftrl.provenance import committed_provenance, portable_tree
    from daftrl.rundir import RunDir

    _check_source_size(source_size)
    run_dir = Path(run_dir)
    if _run_kind(run_dir) == "offline":
        return export_offline(run_dir, robot, episodes=episodes, out_dir=out_dir, note=note,
                              source_size=source_size)
    _check_name(robot, "pretrain")
    out = Path(out_dir or ZOO_DIR / robot)
    with _snapshot(run_dir) as snap:  # a running pretraining may replace its checkpoint meanwhile
        expert = load_expert(snap, source_size or 100_000)
        expert.meta["checkpoint"] = str(run_dir / "checkpoint.safetensors")  # not the snapshot's temporary copy
        _, ckpt_meta = load_arrays(snap / "checkpoint.safetensors", kind="pretrain")
        config = RunDir(snap).read_config()  # the config and provenance that go with that checkpoint
        started, resumes = RunDir(snap).read_provenance()
    src_eval, zero_shot = _score(expert, robot, robot, episodes)
    source = resolve_env(robot, "source")
    medium_path = pick_medium(run_dir, src_eval.mean, medium_fraction)
    medium, _ = load_policy(medium_path)
    medium_eval = evaluate(medium.deterministic, source.make, episodes, 0, robot)
    expert.meta = portable_tree(expert.meta)
    exported_by = committed_provenance()  # before the entry's files change the tree (no "-dirty" from them)
    save_expert(out / "expert.safetensors", expert)
    atomic_write_bytes(out / "medium_actor.safetensors", medium_path.read_bytes())
    card = {
        "robot": robot,
        "source_env": robot,
        "obs_dim": expert.obs_dim,
        "act_dim": expert.act_dim,
        "steps": ckpt_meta["step"],
        "wall_time_hours": ckpt_meta["wall_time"] / 3600,
        **portable_tree({"hyperparameters": config, "trained_with": started, "resumed_with": resumes}),
        "source_return": src_eval.as_dict(),
        "zero_shot_return": zero_shot,
        "medium_actor": {"from_step": int(medium_path.stem.split("_")[1]), "source_return": medium_eval.as_dict()},
        "source_data": {"transitions": len(expert.source), "dtype": "float16",
                        "what": "the latest transitions of the replay buffer"},
        "exported_by": exported_by,
        "note": note,
        "sha256": {f: file_sha256(out / f) for f in FILES},
    }
    atomic_write_json(out / "card.json", card)
    return card


def _score(expert, name: str, robot: str, episodes: int):
    """Name the expert for its zoo entry, check its sizes against the robot, and measure (source return, zero-shot
    returns on every target task of the robot) as its card records them."""
    from daftrl.envs.factory import resolve_env
    from daftrl.evaluate import evaluate

    expert.name, expert.env = name, robot
    source = resolve_env(robot, "source")
    expert.check_compatible(source.obs_dim, source.act_dim, f"robot {robot!r}")
    policy = expert.policy()
    return evaluate(policy.deterministic, source.make, episodes, 0, robot), zero_shot_returns(policy, robot, episodes)


def export_offline(run_dir: str | Path, name: str, episodes: int = 10, out_dir: Path | None = None,
                   note: str | None = None, source_size: int | None = None, dataset=None) -> dict:
    """Turn an offline run (`daftrl offline`, e.g. CQL on a medium dataset) into the zoo entry `name` =
    ROBOT-METHOD: its expert file (actor, critics, temperature, D_src = the dataset's latest whole episodes; the run's
    own `expert.safetensors`, re-exported from its checkpoint when missing) and a card with the dataset's identity,
    the source return and the zero-shot return on every target task of the robot. `source_size` caps D_src's rows
    (default: the run's --source-size; the bundled CQL experts use 5e4, docs/zoo.md); D_src is then drawn afresh from
    `dataset` (default: loaded by the run's --dataset; `daftrl.offline.export_expert`). Returns the card."""
    import tempfile

    from daftrl.checkpoint import atomic_write_json, load_arrays
    from daftrl.experts import load_expert, save_expert
    from daftrl.offline import export_expert
    from daftrl.provenance import committed_provenance, portable_tree
    from daftrl.rundir import RunDir

    _check_source_size(source_size)
    run_dir = Path(run_dir)
    if _run_kind(run_dir) != "offline":
        raise ValueError(f"{run_dir} is not an offline run")
    robot = _check_name(name, "offline", RunDir(run_dir).read_config()["method"])
    with _snapshot(run_dir) as snap:
        _, ckpt_meta = load_arrays(snap / "checkpoint.safetensors", kind="offline")
        config = RunDir(snap).read_config()
        started, resumes = RunDir(snap).read_provenance()
        file = run_dir / "expert.safetensors"
        if (source_size is not None or not file.is_file()
                or load_arrays(file, kind="expert")[1].get("steps") != ckpt_meta["step"]):
            file = export_expert(run_dir, out=Path(tempfile.mkdtemp(dir=snap)) / "expert.safetensors",
                                 source_size=source_size, dataset=dataset, checkpoint=snap / "checkpoint.safetensors")
        expert = load_expert(file)
        expert.meta = portable_tree(expert.meta)
    src_eval, zero_shot = _score(expert, name, robot, episodes)
    out = Path(out_dir or ZOO_DIR / name)
    exported_by = committed_provenance()  # before the entry's files change the tree (no "-dirty" from them)
    save_expert(out / "expert.safetensors", expert)
    card = {
        "name": name,
        "robot": robot,
        "source_env": robot,
        "method": config["method"],
        "obs_dim": expert.obs_dim,
        "act_dim": expert.act_dim,
        "steps": ckpt_meta["step"],
        "steps_are": "updates on the dataset",
        "wall_time_hours": ckpt_meta["wall_time"] / 3600,
        "dataset": config["dataset_record"],
        **portable_tree({"hyperparameters": config, "trained_with": started, "resumed_with": resumes}),
        "source_return": src_eval.as_dict(),
        "zero_shot_return": zero_shot,
        "source_data": {"transitions": len(expert.source), "dtype": "float16",
                        "what": "the latest whole episodes of the dataset",
                        "at_most": source_size or config["source_size"]},
        "exported_by": exported_by,
        "note": note,
        "sha256": {"expert.safetensors": file_sha256(out / "expert.safetensors")},
    }
    atomic_write_json(out / "card.json", card)
    return card


def robot_of(name: str) -> str:
    """The robot of a zoo entry: its card's (offline experts are named ROBOT-METHOD), else the name itself."""
    from daftrl.zoo import card

    return card(name).get("robot", name)


def rescore(robot: str, episodes: int = 10, prov: dict | None = None) -> dict:
    """Recompute a bundled expert's zero-shot returns on every target task of its robot (e.g. after
    tasks were added) and rewrite its card; the weight files and their checksums are untouched.
    `prov`: the provenance to record (default: now); rescoring several robots passes the one taken
    before the first card changed, which would otherwise mark the later ones as from a dirty tree."""
    from daftrl.checkpoint import atomic_write_json
    from daftrl.experts import load_expert
    from daftrl.provenance import committed_provenance
    from daftrl.zoo import card

    c = card(robot)
    expert = load_expert(robot)
    policy = expert.policy()
    c["zero_shot_return"] = zero_shot_returns(policy, robot_of(robot), episodes)
    c["zero_shot_by"] = committed_provenance(prov or None)
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
    name, robot = robot, robot_of(robot)  # an offline expert's entry is named ROBOT-METHOD
    for f, digest in c["sha256"].items():
        if file_sha256(ZOO_DIR / name / f) != digest:
            problems.append(f"{name}/{f}: checksum differs from card.json")
    policies = [("expert", load_expert(name))]
    if (ZOO_DIR / name / "medium_actor.safetensors").is_file():
        policies.append(("medium", load_policy(ZOO_DIR / name / "medium_actor.safetensors")[0]))
    expert = policies[0][1]
    for task in [robot, *robot_tasks(robot)]:
        h = resolve_env(task, "source" if task == robot else "target")
        for what, p in policies:
            o, a = p.obs_dim, p.act_dim
            if (o, a) != (h.obs_dim, h.act_dim):
                problems.append(f"{name} {what} sizes {o}/{a} do not match {task} ({h.obs_dim}/{h.act_dim})")
    if not problems:
        policy = expert.policy()
        ret = evaluate(policy.deterministic, resolve_env(robot).make, episodes, 0, robot).mean
        ref = c["source_return"]["return_mean"]
        if ret < 0.8 * ref - 100:
            problems.append(f"{name}: source return {ret:,.0f} far below the card's {ref:,.0f}")
    return problems


def print_zoo() -> None:
    """The table `daftrl zoo list` prints: each bundled expert's steps, source return and headline zero-shot returns."""
    from rich.console import Console
    from rich.table import Table

    from daftrl import zoo

    table = Table("expert", "steps", "source return", "zero-shot returns", title="daftrl zoo")
    for name in zoo.names():
        c = zoo.card(name)
        shown = [t for t in robot_tasks(c.get("robot", name), HEADLINE_FAMILIES) if t in c["zero_shot_return"]]
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
    from daftrl.provenance import provenance

    prov = provenance()  # before any card changes
    for name in robots:
        c = rescore(name, episodes=episodes, prov=prov)
        print(f"{name}: zero-shot returns on {len(c['zero_shot_return'])} tasks written to its card")

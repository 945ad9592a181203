"""`daftrl eval`: its options and what it does: a run, checkpoint, actor or expert file, or a bundled expert evaluated
with the evaluation protocol (`daftrl.evaluate`), optionally filmed (`daftrl.video`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tyro.conf import Positional

from daftrl.evaluate import evaluate


@dataclasses.dataclass
class EvalArgs:
    """Evaluate a checkpoint, an actor or expert file or a bundled expert with the daftrl protocol (fresh env,
    tanh(mean)); --video DIR also films it (docs/tasks.md, "Watching a policy")."""

    checkpoint: Positional[str]
    """A run directory, checkpoint.safetensors, an actor or expert .safetensors file, or a bundled expert by its robot
    (`daftrl zoo list`: hopper, ...; a directory of that name: ./hopper)."""
    task: str | None = None
    """Task, robot or gymnasium id (default: the env the checkpoint was trained on)."""
    domain: str | None = None
    """source | target (default: the domain it was trained in - the target for adapt and cotrain runs - when
    --task is omitted or is its own task; else source)."""
    episodes: int = 10
    seed: int = 0
    video: str | None = None
    """Also write an MP4 of the first episode into this directory: for a task, the policy in its source and target
    domains side by side; else the evaluated env. Headless: needs EGL or OSMesa (`make render-deps`)."""
    video_seconds: float = 10.0
    """Film at most this much simulated time (played in real time, about 30 frames per second)."""



def evaluate_checkpoint(checkpoint: str, task: str | None = None, domain: str | None = None, episodes: int = 10,
                        seed: int = 0, video: str | None = None, video_seconds: float = 10.0) -> dict:
    """`daftrl eval`: a run directory, checkpoint, actor or expert file, or a bundled expert's name, evaluated with
    this protocol.

    The env defaults to the one the policy was trained on, in the domain it was trained in (the target for
    adapt and cotrain runs) when `task` is omitted or is that env; another `task` is evaluated in its source
    domain unless `domain` says otherwise. Sizes that do not match are refused before anything runs.
    video: a directory for an MP4 of the first episode (`daftrl.video`), recorded in envs of its own after the
    evaluation (whose returns it does not change); the result's "video" says what it holds.
    """
    from daftrl import zoo
    from daftrl.envs.factory import resolve_env
    from daftrl.policy import load_policy

    bundled = zoo.has(checkpoint) and Path(checkpoint).name == checkpoint  # a zoo name, as `--expert` takes it
    policy, trained_env = load_policy(zoo.expert_path(checkpoint) if bundled else checkpoint)
    domain = domain or (policy.trained_domain if task in (None, trained_env) else "source")
    handle = resolve_env(task or trained_env, domain)
    if (handle.obs_dim, handle.act_dim) != (policy.obs_dim, policy.act_dim):
        raise ValueError(f"the policy expects obs/act sizes {policy.obs_dim}/{policy.act_dim} but {handle.name} "
                         f"has {handle.obs_dim}/{handle.act_dim}")
    if video:  # an env it cannot film, or a machine that cannot render, fails before the evaluation
        from daftrl.envs.render import check_headless_gl
        from daftrl.video import subject

        subject(handle.name)
        check_headless_gl()
    res = evaluate(policy.deterministic, handle.make, episodes, seed, handle.robot)
    out = {"env": handle.name, "domain": handle.domain, **res.as_dict()}
    if video:
        from daftrl.video import record_policy

        out["video"] = record_policy(policy.deterministic, handle.name, handle.domain, Path(video),
                                     f"{policy_name(checkpoint)}_", seed, video_seconds, batch=episodes)
    return out


def run(args: EvalArgs) -> int:
    """`daftrl eval`: print the evaluation as JSON; the exit code."""
    import json

    print(json.dumps(evaluate_checkpoint(**dataclasses.asdict(args)), indent=2))
    return 0


def policy_name(checkpoint: str) -> str:
    """A short name for file names: a run directory's or file's name (a run's checkpoint or an expert directory's
    expert.safetensors: its directory's, so two imported experts do not share a name)."""
    path = Path(checkpoint).resolve()
    return path.parent.name if path.name in ("checkpoint.safetensors", "expert.safetensors") else path.stem

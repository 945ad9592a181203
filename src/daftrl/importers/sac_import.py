"""Bring your own expert: a Stable-Baselines3 or SBX `SAC` save turned into a daftrl `Expert`
(docs/adaptation.md, "Bring your own expert").

`import_sb3` reads the save (`read_sac`, nothing in it runs), folds in VecNormalize statistics when there are
any, checks sizes and action bounds against the env, and attaches D_src: the save's replay buffer when the user
saved it (`model.save_replay_buffer`), otherwise transitions of the imported policy rolled out in the env (a ~ pi(.|s),
deterministic for a seed: `daftrl.datasets.rollout`). `write_expert` stores the result as daftrl stores any expert:
an expert file that `load_expert` and `--expert` accept, and a card.json with its provenance.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import time
from pathlib import Path
from typing import Literal

import numpy as np

from daftrl.importers import sb3, sbx
from daftrl.importers.foreign import ForeignSAC, check_env, fold_observation_statistics, to_expert, unscale_rewards
from daftrl.importers.sb3_pickles import ObservationStatistics, read_replay_buffer, read_vec_normalize
from daftrl.importers.zipsave import _REFUSED, SAC_POLICIES, SaveFile

Source = Literal["auto", "replay", "rollout"]
EXPERT_FILE, CARD_FILE = "expert.safetensors", "card.json"


@dataclasses.dataclass
class Imported:
    """An imported expert and its card (what `write_expert` stores beside it)."""

    expert: object
    card: dict


def replay_buffer_beside(save: Path) -> Path | None:
    """The replay buffer saved next to `save`, if any: `<stem>_replay_buffer.pkl` or RL Zoo's `replay_buffer.pkl`."""
    return next((p for p in (save.with_name(f"{save.stem}_replay_buffer.pkl"), save.with_name("replay_buffer.pkl"))
                 if p.is_file()), None)


def vec_normalize_beside(save: Path) -> Path | None:
    """VecNormalize statistics saved with `save`, if any: `vecnormalize.pkl` next to it or, as RL Zoo keeps them, in
    the directory named after it."""
    return next((p for p in (save.with_name("vecnormalize.pkl"), save.parent / save.stem / "vecnormalize.pkl")
                 if p.is_file()), None)


def default_name(save: Path) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", save.stem).strip("-.") or "imported"


def import_sb3(path: str | Path, env: str, *, name: str | None = None, source: Source = "auto",
               replay_buffer: str | Path | None = None, vec_normalize: str | Path | None = None,
               source_size: int = 100_000, seed: int = 0, eval_episodes: int = 10, quiet: bool = False) -> Imported:
    """The SAC agent of an SB3/SBX save as a daftrl expert of `env` (a robot, a task's source domain or a gymnasium
    id), with D_src from `source` ("auto": the replay buffer if given or saved beside the zip, else a rollout of
    `source_size` transitions with `seed`) and, if `eval_episodes`, its return in `env` (`daftrl.evaluate`).
    `vec_normalize`: a VecNormalize statistics file, None to use the one saved beside the zip if any, or "none" to
    fold in none."""
    from daftrl.envs.factory import resolve_env

    if source_size <= 0:
        raise ValueError(f"--source-size must be positive, got {source_size}")
    if source not in ("auto", "replay", "rollout"):
        raise ValueError(f"--source must be auto, replay or rollout, got {source!r}")
    if source == "rollout" and replay_buffer:
        raise ValueError("--replay-buffer and --source rollout contradict each other: give one")
    if eval_episodes < 0:
        raise ValueError(f"--eval-episodes must be >= 0, got {eval_episodes}")
    save = Path(path).expanduser()
    sac = read_sac(save)
    if isinstance(vec_normalize, str) and vec_normalize.lower() == "none":  # the save was trained without VecNormalize
        stats_path = None
    else:
        stats_path = Path(vec_normalize).expanduser() if vec_normalize else vec_normalize_beside(save)
    stats = read_vec_normalize(stats_path) if stats_path else None
    if stats is not None:
        sac = _fold(sac, stats)
    handle = resolve_env(env, "source")
    check_env(sac, handle)
    buffer_path = Path(replay_buffer).expanduser() if replay_buffer else replay_buffer_beside(save)
    if source == "replay" and buffer_path is None:
        raise ValueError(f"no replay buffer beside {save}: give --replay-buffer FILE (model.save_replay_buffer) or "
                         "use --source rollout")
    if source != "rollout" and buffer_path is not None:
        arrays, data_info = read_replay_buffer(buffer_path, source_size)
    else:
        arrays, data_info = _rollout(sac, handle, source_size, seed, quiet)
    name = name or default_name(save)
    expert = to_expert(sac, name, env, _buffer(arrays, data_info.get("file", "the rollout"), sac), _meta(sac))
    card = _card(sac, expert, handle, stats, data_info)
    if eval_episodes:
        from daftrl.evaluate import evaluate

        card["source_return"] = evaluate(expert.policy().deterministic, handle.make, eval_episodes, seed,
                                         handle.robot).as_dict()
        expert.meta["source_return"] = card["source_return"]["return_mean"]
    return Imported(expert, card)


def _fold(sac: ForeignSAC, stats: ObservationStatistics) -> ForeignSAC:
    if stats.mean is not None:
        sac = fold_observation_statistics(sac, stats.mean, stats.var, stats.epsilon)
    if stats.reward_scale is not None:
        sac = unscale_rewards(sac, stats.reward_scale)
    return sac


def _buffer(arrays: dict, source: str, sac: ForeignSAC):
    from daftrl.datasets.data import check_arrays, to_buffer

    return to_buffer(check_arrays(arrays, source, obs_dim=sac.obs_dim, act_dim=sac.act_dim))


def _rollout(sac: ForeignSAC, handle, size: int, seed: int, quiet: bool) -> tuple[dict, dict]:
    """D_src as transitions of the imported policy, a ~ pi(.|s), in fresh envs (`daftrl.datasets.rollout`), with a
    progress bar on a terminal unless `quiet`."""
    from daftrl.datasets.build import episodes_to_arrays
    from daftrl.datasets.rollout import NumpyActor, rollout
    from daftrl.monitor import progress_bar

    bar, task = progress_bar(f"D_src: rollout in {handle.name}", size)
    start = time.perf_counter()

    def advance(steps: int, episodes: int) -> None:
        rate = steps / max(time.perf_counter() - start, 1e-9)
        bar.update(task, completed=min(steps, size), rate=f"{rate:,.0f} steps/s", status=f"{episodes} episodes")

    with contextlib.nullcontext() if quiet else bar:
        episodes = rollout(NumpyActor(sac.actor, sac.act_dim), handle.make, size, seed,
                           on_step=None if quiet else advance)
    arrays = episodes_to_arrays(episodes)
    returns = [float(np.sum(e.rewards)) for e in episodes if not e.cut]
    return arrays, {"from": "rollout", "env": handle.name, "transitions": int(len(arrays["obs"])), "seed": seed,
                    "episodes": len(episodes), "policy": "a ~ pi(.|s) (daftrl.datasets.rollout)",
                    "episode_return_mean": float(np.mean(returns)) if returns else None,
                    "seconds": round(time.perf_counter() - start, 1)}


def _meta(sac: ForeignSAC) -> dict:
    """What the expert file's header records about where it came from (the card has the rest)."""
    return {"imported_from": sac.library, "import_sha256": sac.info["sha256"],
            "num_timesteps": sac.info.get("num_timesteps") or 0}


def _card(sac: ForeignSAC, expert, handle, stats: ObservationStatistics | None, data_info: dict) -> dict:
    from daftrl.provenance import provenance

    return {"name": expert.name, "env": expert.env, "robot": handle.robot, "obs_dim": sac.obs_dim,
            "act_dim": sac.act_dim, "hidden": list(sac.hidden), "log_alpha": sac.log_alpha,
            "alpha": float(np.exp(sac.log_alpha)),
            "action_bounds": {"low": sac.action_low.tolist(), "high": sac.action_high.tolist(),
                              "policy": "acts in [-1, 1]; the env's bounds are applied by RescaleAction, as in SB3"},
            "imported_from": sac.info, "vec_normalize": stats.card() if stats else None, "source_data": data_info,
            "source_return": None, "imported_by": provenance()}


def expert_dir(name: str, out: str | Path | None = None, overwrite: bool = False) -> Path:
    """Where an imported expert goes: `out`, default $DAFTRL_HOME/experts/<name>; FileExistsError if an expert is
    there already and not `overwrite`, ValueError if `name` is a bundled expert's (checked before any work, so nothing
    is lost or done twice)."""
    from daftrl import zoo
    from daftrl.checkpoint import daftrl_home

    if not out and zoo.has(name):  # `--expert NAME` finds the bundled expert first: this one could never be used
        raise ValueError(f"{name!r} is the name of a bundled expert, which `--expert {name}` would load instead of "
                         "this one; give the import another --name (or an --out directory)")
    directory = Path(out).expanduser() if out else daftrl_home() / "experts" / name
    if (directory / EXPERT_FILE).exists() and not overwrite:
        raise FileExistsError(f"{directory} already holds an expert; give another --out or --name, or --overwrite")
    return directory


def write_expert(imported: Imported, out: str | Path | None = None, overwrite: bool = False) -> Path:
    """Write the expert file and card.json into `expert_dir(...)`, each atomically. Returns the directory (what
    `--expert` and `load_expert` take)."""
    from daftrl.checkpoint import atomic_write_json
    from daftrl.experts import save_expert

    directory = expert_dir(imported.expert.name, out, overwrite)
    save_expert(directory / EXPERT_FILE, imported.expert)
    atomic_write_json(directory / CARD_FILE, imported.card)
    return directory


def read_sac(path: str | Path) -> ForeignSAC:
    """The SAC agent in an SB3 or SBX save (ValueError, naming what to do, for anything else)."""
    save = SaveFile.open(path)
    policy = save.policy_class()
    library = SAC_POLICIES.get(policy)
    if library is None:
        what = _REFUSED.get(policy) or (f"a {policy.rsplit('.', 1)[-1]} policy" if policy else "no policy class")
        raise ValueError(f"{save.path} holds {what} ({policy or 'unknown'}); daftrl imports SAC agents only (SB3 or "
                         "SBX `SAC` with an MLP policy on flat observations)")
    sac = (sb3.read if library == "stable-baselines3" else sbx.read)(save)
    if sac.obs_dim != len(save.box("observation_space")[0]):
        raise ValueError(f"{save.path}: the networks take {sac.obs_dim} observations but its observation space has "
                         f"{len(save.box('observation_space')[0])}")
    return sac

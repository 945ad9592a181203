"""`daftrl expert import`: the command line of `daftrl.importers.sac_import` (docs/adaptation.md, "Bring your own
expert")."""

from __future__ import annotations

import dataclasses
from typing import Literal

from tyro.conf import Positional

from daftrl.importers.sac_import import Source


@dataclasses.dataclass
class ExpertArgs:
    """Bring your own expert: `daftrl expert import --sb3 MODEL.zip --env ENV` turns a Stable-Baselines3 or SBX SAC
    save into a daftrl expert (actor, twin critics, temperature, D_src) that `daftrl adapt --expert` takes. Nothing
    in the files runs: only their arrays are read."""

    action: Positional[Literal["import"]] = "import"
    sb3: str | None = None
    """The .zip that SB3's or SBX's SAC `model.save()` wrote."""
    env: str | None = None
    """The env it was trained on: a gymnasium id (Hopper-v5), a robot (hopper) or a task (its source domain)."""
    source: Source = "auto"
    """D_src: the replay buffer (auto: if given or saved beside the zip), or a rollout of the imported policy."""
    replay_buffer: str | None = None
    """The file model.save_replay_buffer() wrote (default: <zip stem>_replay_buffer.pkl or replay_buffer.pkl beside
    the zip)."""
    vec_normalize: str | None = None
    """VecNormalize statistics to fold in (default: vecnormalize.pkl beside the zip, or in <zip stem>/ as RL Zoo
    keeps it; `none`: fold in none, e.g. when that file belongs to another model)."""
    source_size: int = 100_000
    """Transitions of D_src: the buffer's latest whole episodes, or the rollout's length."""
    seed: int = 0
    """Seed of the rollout and of the evaluation."""
    eval_episodes: int = 10
    """Episodes to measure the imported expert's return in --env (0: skip), recorded in card.json."""
    name: str | None = None
    """Expert name (default: the zip's stem)."""
    out: str | None = None
    """Directory to write expert.safetensors and card.json to (default: $DAFTRL_HOME/experts/<name>)."""
    overwrite: bool = False
    """Replace an expert already in that directory."""


def run(args: ExpertArgs) -> int:
    """Import, write, and print where the expert is and how to adapt it."""
    from pathlib import Path

    from daftrl.importers.sac_import import default_name, expert_dir, import_sb3, write_expert

    if not args.sb3 or not args.env:
        raise ValueError("give the save and its env: daftrl expert import --sb3 MODEL.zip --env ENV")
    name = args.name or default_name(Path(args.sb3).expanduser())
    expert_dir(name, args.out, args.overwrite)  # refuse an occupied directory before any work
    imported = import_sb3(args.sb3, args.env, name=name, source=args.source, replay_buffer=args.replay_buffer,
                          vec_normalize=args.vec_normalize, source_size=args.source_size, seed=args.seed,
                          eval_episodes=args.eval_episodes)
    directory = write_expert(imported, args.out, args.overwrite)
    card = imported.card
    data = card["source_data"]
    print(f"imported {card['imported_from']['library']} SAC ({card['obs_dim']} obs, {card['act_dim']} actions, hidden "
          f"{card['hidden']}, alpha {card['alpha']:.3g}) -> {directory}")
    print(f"D_src: {data['transitions']:,} transitions from the {data['from']}")
    if card["source_return"]:
        ret = card["source_return"]
        print(f"return in {card['env']}: {ret['return_mean']:,.1f} +- {ret['return_std']:,.1f} "
              f"({len(ret['returns'])} episodes)")
    print(f"adapt it: daftrl adapt daft --task {_a_task(card['robot'])} --expert {directory}")
    return 0


def _a_task(robot: str | None) -> str:
    """A task of `robot` to show in the hint (TASK when the env is not one of daftrl's robots)."""
    from daftrl.envs.tasks import TASKS

    return next((name for name, task in TASKS.items() if task.robot == robot), "TASK") if robot else "TASK"

"""The method registry: one `MethodSpec` per method, the single list everything else derives from.

A method is a class on the shared SAC core plus its Config dataclass, one file each in this package. Adding
one means writing that file and one `_register(...)` line below; the CLI choices and help, the grid, the
benchmarks and the docs tests then pick it up. Method names are typed only in the method's file (its
`name` class attribute). Kinds and their constructors:

- "adapt": `cls(config, expert)`, starts from a source expert (`daftrl adapt`, `Adapter`);
- "cotrain": `cls(config, obs_dim, act_dim)`, learns from scratch with source simulator + target (`daftrl cotrain`),
  or with a fixed source dataset + target (`daftrl cotrain METHOD --dataset D`; required where `needs_dataset`);
- "offline": `cls(config, obs_dim, act_dim)`, learns from a fixed dataset only, no environment steps (`daftrl offline`,
  `daftrl.offline.offline`); its result is exported as an expert for the "adapt" methods.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Callable
from typing import Any, Literal

from daftrl.algos.ablations import RewardShaping, RewardShapingConfig, SingleCritic, SingleCriticConfig
from daftrl.algos.bc_par import BCPAR, BCPARConfig
from daftrl.algos.bc_vgdf import BCVGDF, BCVGDFConfig
from daftrl.algos.cql import CQL, CQLConfig
from daftrl.algos.daft import DAFT, DAFTConfig
from daftrl.algos.darc import DARC, SACIW, DARCConfig, SACIWConfig
from daftrl.algos.ft import FT, FTConfig, ZeroShot
from daftrl.algos.h2o import H2O, H2OConfig
from daftrl.algos.mix import SACMix, SACMixConfig
from daftrl.algos.par import PAR, RECOMMENDED_BETA, PARConfig
from daftrl.algos.sgft import SGFT, SGFTConfig
from daftrl.algos.vgdf import TERMINAL_FNS, VGDF, VGDFConfig

Kind = Literal["adapt", "cotrain", "offline"]
KINDS: tuple[str, ...] = ("adapt", "cotrain", "offline")


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """One method: its CLI name, kind, class, config class, one-line summary and per-task defaults."""

    name: str
    kind: Kind
    method_cls: type
    config_cls: type
    summary: str
    """One line for `--help` and the docs."""
    robot_defaults: Callable[[str | None], dict[str, Any]] | None = None
    """Config fields to change from the class defaults for a task's robot (None: same defaults on every task)."""
    needs_dataset: bool = False
    """A "cotrain" method that learns from an offline source dataset: `daftrl cotrain` refuses it without --dataset."""
    dataset_updates_per_step: int = 10
    """With --dataset: updates after each target step unless --updates-per-step says otherwise (ODRL's offline-online
    loop, BC-VGDF and BC-PAR: a target step every 10 updates)."""

    def default_config(self, task: str | None = None) -> Any:
        """The config a run on `task` starts from: the class defaults, with this method's per-robot defaults
        for the task's robot (`robot_of_task`) applied; explicit flags override it."""
        if task is None or self.robot_defaults is None:
            return self.config_cls()
        return self.config_cls(**self.robot_defaults(robot_of_task(task)))


REGISTRY: dict[str, MethodSpec] = {}
"""name -> spec, in registration order (the order of `--help` and of error messages)."""


def _register(method_cls: type, config_cls: type, kind: Kind, summary: str, robot_defaults=None, **options) -> None:
    name = method_cls.name
    if name in REGISTRY:
        raise ValueError(f"method {name!r} registered twice")
    REGISTRY[name] = MethodSpec(name, kind, method_cls, config_cls, summary, robot_defaults, **options)


def robot_of_task(task: str) -> str | None:
    """The robot of a task name or a Gymnasium id (None if neither names a known robot)."""
    from daftrl.envs import get_task
    from daftrl.envs.factory import ROBOT_OF_GYM_ID

    try:
        return get_task(task).robot
    except ValueError:
        return ROBOT_OF_GYM_ID.get(task)


def _par_beta(robot: str | None) -> dict:
    """PAR's README beta for the robot (RECOMMENDED_BETA); the reference CLI default 0.5 otherwise."""
    return {"beta": RECOMMENDED_BETA[robot]} if robot in RECOMMENDED_BETA else {}


def _vgdf_terminal(robot: str | None) -> dict:
    """Fictitious states end by the robot's Gymnasium v5 health rule, as the target env's episodes do."""
    return {"terminal": robot} if robot in TERMINAL_FNS else {}


# Adaptation methods (from a source expert, target data only).
_register(DAFT, DAFTConfig, "adapt",
          "DAFT: SAC on target data + beta x the actor loss on source states under the frozen source critic (eq. 2)")
_register(FT, FTConfig, "adapt", "naive fine-tuning: SAC continued from the expert on target data")
_register(SGFT, SGFTConfig, "adapt",
          "SGFT: FT with the potential-based shaping r + gamma V_sim(s') - V_sim(s) from the source expert")
_register(SingleCritic, SingleCriticConfig, "adapt",
          "ablation (DAFT appendix D, eq. 3): one critic on target TD + beta x source TD")
_register(RewardShaping, RewardShapingConfig, "adapt",
          "ablation (DAFT appendix D): FT on r - |Q_tar(s, a) - Q*_src(s, a)|")
_register(ZeroShot, FTConfig, "adapt", "the expert evaluated in the target domain, never updated")
# Co-training baselines (from scratch, source simulator + target domain).
_register(PAR, PARConfig, "cotrain",
          "PAR: source rewards penalised by a target-trained encoder's prediction error", _par_beta)
_register(VGDF, VGDFConfig, "cotrain",
          "VGDF: source rows kept if their value target is likely under a target dynamics model", _vgdf_terminal)
_register(DARC, DARCConfig, "cotrain", "DARC: SAC on source data with r + lambda dr from two domain classifiers")
_register(SACIW, SACIWConfig, "cotrain", "SAC-IW: source Bellman errors weighted by clip(exp(dr)) (DARC's classifiers)")
_register(SACMix, SACMixConfig, "cotrain", "SAC on the concatenated source and target batches, no correction")
# Offline-source baselines (a fixed source dataset + the target domain; DAFT Table 2).
_register(H2O, H2OConfig, "cotrain",
          "H2O: target SAC + dataset TD and CQL(H) terms weighted per row by clip(exp(dr)) (needs --dataset)",
          needs_dataset=True)
_register(BCVGDF, BCVGDFConfig, "cotrain",
          "BC-VGDF: VGDF's filtered critic; actor 5/mean|Q| x SAC loss + MSE to dataset actions (needs --dataset)",
          _vgdf_terminal, needs_dataset=True)
_register(BCPAR, BCPARConfig, "cotrain",
          "BC-PAR: PAR's penalised critic; actor 5/mean|Q| x SAC loss + MSE to dataset actions (needs --dataset)",
          needs_dataset=True)
# Offline methods (a fixed dataset, no environment interaction).
_register(CQL, CQLConfig, "offline",
          "CQL(H): SAC on a dataset + alpha_cql x (logsumexp_a Q(s, a) - Q(s, a_data)) per critic (Kumar et al. 2020)")


def method_specs(kind: Kind | None = None) -> tuple[MethodSpec, ...]:
    """The specs of one kind (all with None), in registration order."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown method kind {kind!r}; choose one of {', '.join(KINDS)}")
    return tuple(s for s in REGISTRY.values() if kind is None or s.kind == kind)


def method_names(kind: Kind | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in method_specs(kind))


def _unknown(name: str, known) -> ValueError:
    close = difflib.get_close_matches(name, known, n=3)
    return ValueError(f"unknown method {name!r}; choose one of {', '.join(known)}"
                      + (f" (did you mean {', '.join(close)}?)" if close else ""))


def method_spec(name: str, kind: Kind | None = None) -> MethodSpec:
    """The spec of `name`; with `kind`, a method of another kind is unknown too (ValueError naming the choices)."""
    names = method_names(kind)
    if name not in names:
        raise _unknown(name, names)
    return REGISTRY[name]


def methods_help(kind: Kind) -> str:
    """One line per method of `kind`: its name and summary (for `--help`)."""
    specs = method_specs(kind)
    width = max((len(s.name) for s in specs), default=0)
    return "\n".join(f"  {s.name:<{width}}  {s.summary}" for s in specs)


__all__ = ["KINDS", "REGISTRY", "MethodSpec", "method_spec", "method_specs", "method_names", "methods_help",
           "robot_of_task",
           "FT", "FTConfig", "ZeroShot", "DAFT", "DAFTConfig", "SGFT", "SGFTConfig", "SingleCritic",
           "SingleCriticConfig", "RewardShaping", "RewardShapingConfig", "SACMix", "SACMixConfig", "PAR",
           "PARConfig", "VGDF", "VGDFConfig", "DARC", "DARCConfig", "SACIW", "SACIWConfig", "CQL", "CQLConfig", "H2O",
           "H2OConfig", "BCPAR", "BCPARConfig", "BCVGDF", "BCVGDFConfig"]

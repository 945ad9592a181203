"""Adaptation methods: one file each, a Config dataclass plus loss functions on the shared SAC core.

`METHODS` maps the CLI name to (method class, config class)."""

from __future__ import annotations

from daftrl.algos.ablations import RewardShaping, RewardShapingConfig, SingleCritic, SingleCriticConfig
from daftrl.algos.daft import DAFT, DAFTConfig
from daftrl.algos.ft import FT, AdaptConfig, ZeroShot
from daftrl.algos.sgft import SGFT, SGFTConfig

METHODS = {
    "daft": (DAFT, DAFTConfig),
    "ft": (FT, AdaptConfig),
    "sgft": (SGFT, SGFTConfig),
    "single-critic": (SingleCritic, SingleCriticConfig),
    "reward-shaping": (RewardShaping, RewardShapingConfig),
    "zero-shot": (ZeroShot, AdaptConfig),
}


# Co-training baselines (from scratch, source simulator + target): module, method class, config class.
COTRAIN_METHODS = {
    "par": ("daftrl.algos.par", "PAR", "PARConfig"),
    "vgdf": ("daftrl.algos.vgdf", "VGDF", "VGDFConfig"),
    "darc": ("daftrl.algos.darc", "DARC", "DARCConfig"),
    "sac-iw": ("daftrl.algos.darc", "SACIW", "SACIWConfig"),
    "sac-mix": ("daftrl.algos.mix", "SACMix", "MixConfig"),
}


def _unknown(name: str, known) -> ValueError:
    import difflib

    close = difflib.get_close_matches(name, known, n=3)
    return ValueError(f"unknown method {name!r}; choose one of {', '.join(known)}"
                      + (f" (did you mean {', '.join(close)}?)" if close else ""))


def method_class(name: str):
    if name not in METHODS:
        raise _unknown(name, METHODS)
    return METHODS[name]


def cotrain_method_class(name: str):
    """(method class, config class) of a co-training baseline, imported on first use."""
    import importlib

    if name not in COTRAIN_METHODS:
        raise _unknown(name, COTRAIN_METHODS)
    module, cls, config = COTRAIN_METHODS[name]
    mod = importlib.import_module(module)
    return getattr(mod, cls), getattr(mod, config)


__all__ = ["METHODS", "COTRAIN_METHODS", "method_class", "cotrain_method_class",
           "AdaptConfig", "FT", "ZeroShot", "DAFT", "DAFTConfig", "SGFT",
           "SGFTConfig", "SingleCritic", "SingleCriticConfig", "RewardShaping", "RewardShapingConfig"]

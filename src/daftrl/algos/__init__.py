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


def method_class(name: str):
    if name not in METHODS:
        import difflib

        close = difflib.get_close_matches(name, METHODS, n=3)
        raise ValueError(f"unknown method {name!r}; choose one of {', '.join(METHODS)}"
                         + (f" (did you mean {', '.join(close)}?)" if close else ""))
    return METHODS[name]


__all__ = ["METHODS", "method_class", "AdaptConfig", "FT", "ZeroShot", "DAFT", "DAFTConfig", "SGFT",
           "SGFTConfig", "SingleCritic", "SingleCriticConfig", "RewardShaping", "RewardShapingConfig"]

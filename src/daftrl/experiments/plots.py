"""The one module of daftrl that draws. Figures of `daftrl report`: learning curves per task (the DAFT paper's
Figure 2), performance profiles across tasks (Agarwal et al. 2021) and wall time per budget (the paper's Figure 3);
the learning curve of `daftrl demo`; the curves of the SAC learning-quality benchmark
(`benchmarks/learning_quality.py`).

The functions take plain arrays computed by their callers. The report's write `<stem>.png` and `<stem>.svg`; the
demo's and the benchmark's one PNG at the path given. Figures are built with `matplotlib.figure.Figure` (no pyplot
state, no backend switch); for the report the SVG hash salt is fixed and the date and software metadata are dropped
so that re-rendering the same data gives the same files wherever matplotlib allows it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

SVG_HASH_SALT = "daftrl-report"
DPI = 110


@dataclasses.dataclass(frozen=True)
class CurveSeries:
    """One line of a learning-curve figure: mean over seeds and an optional confidence band."""

    name: str
    color: str
    steps: np.ndarray
    mean: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    partial: bool = False


@dataclasses.dataclass(frozen=True)
class SeedPanel:
    """One panel of `seed_curves`: curves of several seeds at common steps, and an optional outside reference."""

    title: str
    steps: np.ndarray
    values: np.ndarray  # seeds x steps
    label: str
    reference: tuple[float, float, float] | None = None  # (step, mean, std)
    reference_label: str = "reference"


@dataclasses.dataclass(frozen=True)
class Bar:
    """One bar of a runtime figure: hours for the full budget; `projected` bars are hatched."""

    name: str
    color: str
    hours: float
    projected: bool = False


def _save(fig, stem: Path) -> Path:
    """Write `stem`.png and `stem`.svg with stable metadata; return the PNG path."""
    import matplotlib

    stem.parent.mkdir(parents=True, exist_ok=True)
    png = stem.parent / f"{stem.name}.png"
    with matplotlib.rc_context({"svg.hashsalt": SVG_HASH_SALT}):
        fig.savefig(stem.parent / f"{stem.name}.svg", metadata={"Date": None, "Creator": None})
        fig.savefig(png, dpi=DPI, metadata={"Software": None})
    return png


def _curves(ax, series: Sequence[CurveSeries]) -> None:
    for s in series:
        ax.plot(s.steps, s.mean, color=s.color, ls=":" if s.partial else "-", lw=1.5, label=s.name)
        if s.lo is not None and s.hi is not None:
            ax.fill_between(s.steps, s.lo, s.hi, color=s.color, alpha=0.2, lw=0)


def learning_curves(stem: Path, title: str, series: Sequence[CurveSeries], zero_shot: float | None,
                    q_series: Sequence[CurveSeries] | None = None) -> Path:
    """Return against target steps per series (partial runs dotted), the 95 % band shaded, zero-shot dashed; with
    `q_series` (the paper's Figure 5), a second axis on the right: the learner's mean Q against target steps."""
    from matplotlib.figure import Figure

    if q_series is None:
        fig = Figure(figsize=(6.4, 4.2))
        ax = fig.subplots()
    else:
        fig = Figure(figsize=(11.5, 4.2))
        ax, q_ax = fig.subplots(1, 2)
        _curves(q_ax, q_series)
        q_ax.set_xlabel("target steps")
        q_ax.set_ylabel("Q (mean over the training batches)")
        q_ax.set_title("learner's Q", fontsize=10)
        q_ax.grid(alpha=0.3)
        if q_series:
            q_ax.legend(fontsize=8)
    _curves(ax, series)
    if zero_shot is not None:
        ax.axhline(zero_shot, color="0.3", ls="--", lw=1, label="zero-shot")
    ax.set_xlabel("target steps")
    ax.set_ylabel("return (evaluation)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, stem)


def performance_profiles(stem: Path, panels: Sequence[tuple[str, np.ndarray, Mapping[str, tuple]]],
                         colors: Mapping[str, str]) -> Path:
    """One panel per score: fraction of runs with a score above tau, with its 95 % bootstrap band.
    `panels` holds (x label, taus, {label: (profile, lo, hi)})."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(panels), 4))
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (xlabel, taus, profiles) in zip(axes, panels, strict=True):
        for label, (profile, lo, hi) in profiles.items():
            ax.plot(taus, profile, color=colors[label], lw=1.5, label=label)
            ax.fill_between(taus, lo, hi, color=colors[label], alpha=0.2, lw=0)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"fraction of runs with score > $\tau$")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _save(fig, stem)


def runtime_bars(stem: Path, panels: Sequence[tuple[str, Sequence[Bar]]]) -> Path:
    """One panel per task: hours per run for the full budget, log scale shared by the panels, hatched when
    projected."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    width = max(4.0, sum(0.7 * len(bars) + 1.2 for _, bars in panels))
    fig = Figure(figsize=(width, 4.6))
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    hours = FuncFormatter(lambda y, _: f"{y:g}")
    for ax, (title, bars) in zip(axes, panels, strict=True):
        for i, bar in enumerate(bars):
            ax.bar(i, bar.hours, color=bar.color, hatch="//" if bar.projected else None,
                   alpha=0.6 if bar.projected else 1.0)
            ax.text(i, bar.hours, f"{bar.hours:.2g} h", ha="center", va="bottom", fontsize=7)
        ax.set_xticks(range(len(bars)), [b.name for b in bars], rotation=30, ha="right", fontsize=8)
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(hours)
        ax.yaxis.set_minor_formatter(hours)
        ax.tick_params(axis="y", which="both", labelsize=7)
        ax.set_title(title, fontsize=9)
    axes[0].set_ylabel("hours per run (full budget; hatched: projected)")
    fig.tight_layout()
    return _save(fig, stem)


def demo_curve(path: Path, title: str, steps: np.ndarray, mean: np.ndarray, std: np.ndarray) -> Path:
    """`daftrl demo`'s figure at `path` (PNG): the adapting policy's evaluation return against target steps with
    its std over episodes shaded, and the zero-shot return (the first evaluation) dashed."""
    from matplotlib.figure import Figure

    steps, mean, std = (np.asarray(a, dtype=float) for a in (steps, mean, std))
    fig = Figure(figsize=(6, 3.6), dpi=120)
    ax = fig.subplots()
    ax.plot(steps, mean, marker="o", label="adapting policy")
    ax.fill_between(steps, mean - std, mean + std, alpha=0.2)
    ax.axhline(mean[0], ls="--", color="gray", label="zero-shot (expert, no adaptation)")
    ax.set_xlabel("target steps")
    ax.set_ylabel("return (deterministic, fresh env)")
    ax.set_title(title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return Path(path)


def seed_curves(path: Path, panels: Sequence[SeedPanel], xlabel: str = "env steps") -> Path:
    """One panel per `SeedPanel`, side by side, at `path` (PNG): the mean over seeds with a min..max band and the
    reference, if any, as a point with its std as error bar (the SAC learning-quality benchmark)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5 * len(panels), 3.5), dpi=110)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, panel in zip(axes, panels, strict=True):
        values = np.asarray(panel.values, dtype=float)
        ax.plot(panel.steps, values.mean(0), label=panel.label)
        ax.fill_between(panel.steps, values.min(0), values.max(0), alpha=0.2)
        if panel.reference is not None:
            step, ref, ref_std = panel.reference
            ax.errorbar([step], [ref], yerr=[ref_std], fmt="s", color="k", label=panel.reference_label)
        ax.set_title(panel.title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("return")
        ax.legend(loc="lower right")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return Path(path)

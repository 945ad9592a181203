"""Published facts of the DAFT paper, never results of ours: its Table 2 (offline source), as printed, and which
methods its learning-curve figures (Figures 2, 4 and 5) set side by side.

Source: DAFT paper, appendix C, Table 2: episode returns in the target domain, "averaged over 4 varied random
seeds", mean ± the spread the table prints. The source is a D4RL "medium" v2 dataset of the robot (gym v2 MuJoCo
environments), not a simulator. The paper states that its H2O, VGDF+BC and PAR+BC columns are taken from PAR (Lyu et
al., 2024, "Cross-domain policy adaptation by capturing representation mismatch", ICML), so those three columns
are PAR's runs, under PAR's protocol; CQL-0, CQL+SAC and DAFT are the DAFT paper's own. The campaign that
reproduces the table is `offline-source` (grids/table2.toml); `daftrl report` sets its records next to these
numbers, with the differences of protocol (our datasets: daftrl's medium actors on Gymnasium v5, docs/datasets.md).

The figures: Figure 2 compares DAFT with FT, SGFT and the zero-shot expert; Figure 4 ablates DAFT's source term
(one critic, or reward shaping instead); Figure 5 varies DAFT's horizon H (1, 5 = the default, 20). Campaign
`online` (grids/online.toml) runs them; `daftrl report` draws one figure per panel of `PAPER_FIGURE_PANELS`.

The claims: what the paper's text says of those comparisons (`PAPER_CLAIMS`, in its words), which `daftrl report`
checks on our records' final returns.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from types import MappingProxyType

PAPER_TABLE2_CAMPAIGN = "offline-source"
"""The results-store campaign that reproduces the paper's Table 2 (grids/table2.toml)."""


@dataclasses.dataclass(frozen=True)
class PaperCell:
    """One published cell: the mean episode return and the ± printed next to it, over `n_seeds` seeds."""

    mean: float
    spread: float
    n_seeds: int = 4


PAPER_TABLE2_COLUMNS: tuple[str, ...] = ("CQL-0", "CQL+SAC", "H2O", "VGDF+BC", "PAR+BC", "DAFT")
"""The paper's column names, in its order."""

PAPER_TABLE2_LABELS: Mapping[str, str] = MappingProxyType({
    "cql-0": "CQL-0", "cql-sac": "CQL+SAC", "h2o-utd1": "H2O", "bc-vgdf-utd1": "VGDF+BC", "bc-par-utd1": "PAR+BC",
    "daft-cql": "DAFT"})
"""Our label in campaign `offline-source` -> the paper's column it is compared with. The `-utd1` labels run a
reduced protocol (1 update per target step), so they are comparable with their column only up to that."""

_ROWS: dict[str, tuple[tuple[float, float], ...]] = {  # task -> (mean, ±) per column of PAPER_TABLE2_COLUMNS
    "halfcheetah-broken-back-thigh": ((1128, 156), (3967, 204), (5450, 194), (4834, 250), (5699, 276), (5600, 133)),
    "halfcheetah-no-thighs": ((361, 29), (1184, 211), (2863, 209), (3910, 160), (1843, 85), (4482, 96)),
    "hopper-broken-joints": ((155, 19), (498, 73), (2467, 323), (2785, 75), (2011, 1306), (1435, 953)),
    "hopper-big-head": ((399, 5), (496, 53), (1451, 480), (3060, 60), (495, 104), (480, 160)),
    "walker-broken-right-foot": ((1453, 412), (1877, 1040), (3309, 418), (3000, 388), (3811, 122), (3324, 462)),
    "walker-no-right-thigh": ((975, 131), (1262, 363), (2225, 546), (3293, 306), (2617, 842), (3475, 415)),
    "ant-broken-hips": ((1230, 99), (-1814, 431), (2704, 253), (1713, 366), (3303, 175), (2177, 1232)),
    "ant-short-feet": ((1839, 137), (-807, 255), (3892, 85), (3120, 469), (4925, 138), (1518, 885)),
}

PAPER_TABLE2: Mapping[str, Mapping[str, PaperCell]] = MappingProxyType({
    task: MappingProxyType({column: PaperCell(float(mean), float(spread))
                            for column, (mean, spread) in zip(PAPER_TABLE2_COLUMNS, cells, strict=True)})
    for task, cells in _ROWS.items()})
"""task -> paper column -> the published cell, tasks in the paper's row order. Read-only."""


PAPER_FIGURE_PANELS: Mapping[str, Mapping[str, tuple[str, ...]]] = MappingProxyType({
    "online": MappingProxyType({
        "Figure 2": ("zero-shot", "ft", "ft-d", "sgft", "daft"),
        "Figure 4 (ablations)": ("daft", "single-critic", "reward-shaping", "single-critic-tar"),
        "Figure 5 (horizon H)": ("daft-h1", "daft", "daft-h20"),
    })})
"""Campaign -> the paper's learning-curve figure -> our labels it sets side by side, in the paper's order. Read-only.
Campaign `online` (grids/online.toml): `ft-d` (fresh critics) is our reading of the paper's FT, so it stays with
Figure 2; `single-critic-tar` (the single critic with its actor on target states only, a check added after the
`single-critic` cell had run) stays with Figure 4; `daft` is DAFT at its default horizon H = 5, so it is in every
panel. Labels in no panel (`daft-omega0`,
not in the paper) are drawn by `daftrl report` in a figure of their own with the campaign's reference label."""


PAPER_FIGURE_Q_PANELS: Mapping[str, frozenset[str]] = MappingProxyType({
    "online": frozenset({"Figure 5 (horizon H)"})})
"""Campaign -> its panels of `PAPER_FIGURE_PANELS` that also show the learner's Q over training, on the right of the
returns, as the paper's Figure 5 does (its H changes how far the critic bootstraps, so its Q is part of the story).
`daftrl report` draws it from the curve points' `q`, per label over the records that have it (the caption says
when some lack it)."""


@dataclasses.dataclass(frozen=True)
class PaperClaim:
    """One claim of the paper, in its words, as a comparison of two of our labels on the final return: `expected`
    ("better" or "level") is the word the paper's claim gives to the `reference` label's mean final return minus the
    `other` label's, on each of `tasks` (all of them: a task without runs counts against "reproduced")."""

    where: str  # the paper's section and figure or table
    quote: str  # the paper's words, verbatim
    reference: str
    other: str
    expected: str
    tasks: tuple[str, ...]
    note: str | None = None  # how a label stands for the paper's method, when that is our reading

    def __post_init__(self) -> None:
        if self.expected not in ("better", "level"):
            raise ValueError(f"expected must be 'better' or 'level', not {self.expected!r}")
        if not self.tasks:
            raise ValueError("a claim needs the tasks it is checked on")


PAPER_TASKS: tuple[str, ...] = tuple(_ROWS)
"""The paper's 8 MuJoCo shift tasks (Figure 2, Table 2), in its row order."""

ABLATION_TASKS: tuple[str, ...] = ("halfcheetah-broken-back-thigh", "hopper-broken-joints", "walker-no-right-thigh",
                                   "ant-broken-hips")
"""The tasks of our Figure 4 cells (grids/online.toml): one per robot, our pick; the paper's text does not name
the tasks of its Figure 4."""

_FIG2 = ("Section 4, Figure 2", "our approach (DAFT) outperforms FT and SGFT in all the scenarios", PAPER_TASKS)
_FIG4 = ("Appendix D, Figure 4", "our proposed formulation outperforms the other formulations in all the environments",
         ABLATION_TASKS)
_FIG5_CHEETAH = ("Appendix D, Figure 5", "for half-cheetah the effect of horizon is negligible",
                 ("halfcheetah-broken-back-thigh",))
_FIG5_WALKER = ("Appendix D, Figure 5", "for walker, a longer horizon length=20 performs best",
                ("walker-no-right-thigh",))
_TABLE2 = ("Appendix C, Table 2", "clearly outperform fine tuning", PAPER_TASKS)


def _claim(text: tuple[str, str, tuple[str, ...]], reference: str, other: str, expected: str,
           note: str | None = None) -> PaperClaim:
    where, quote, tasks = text
    return PaperClaim(where, quote, reference, other, expected, tasks, note)


PAPER_CLAIMS: Mapping[str, tuple[PaperClaim, ...]] = MappingProxyType({
    "online": (
        _claim(_FIG2, "daft", "ft", "better"),
        _claim(_FIG2, "daft", "sgft", "better"),
        _claim(_FIG2, "daft", "ft-d", "better", "FT with fresh critics and no warm-up: our reading of the paper's FT"),
        _claim(_FIG4, "daft", "single-critic", "better"),
        _claim(_FIG4, "daft", "single-critic-tar", "better",
               "the single critic with its actor on target states only: our other reading of appendix D"),
        _claim(_FIG4, "daft", "reward-shaping", "better"),
        _claim(_FIG5_CHEETAH, "daft-h1", "daft", "level"),
        _claim(_FIG5_CHEETAH, "daft-h20", "daft", "level"),
        _claim(_FIG5_CHEETAH, "daft-h20", "daft-h1", "level"),
        _claim(_FIG5_WALKER, "daft-h20", "daft", "better"),
        _claim(_FIG5_WALKER, "daft-h20", "daft-h1", "better"),
    ),
    PAPER_TABLE2_CAMPAIGN: (
        _claim(_TABLE2, "daft-cql", "cql-sac", "better",
               "the paper's own Table 2 has DAFT below CQL+SAC on hopper-big-head, 480 v 496"),
    ),
})
"""Campaign -> the paper's claims about final returns in the comparisons that campaign runs, as our labels, in the
paper's order. Read-only. The quotes: Section 4 (online source, Figure 2), appendix D (ablations: Figure 4, the
source term; Figure 5, the horizon H, where `daft` is H = 5) and the caption of Table 2 (appendix C, offline source,
where `cql-sac` is the paper's CQL+SAC fine tuning). Claims of another kind (the Figure 5 caption's variance, the
runtimes of Figure 3) are not listed. `daftrl report` checks each on our records."""


def paper_table2_cell(task: str, label: str) -> PaperCell | None:
    """The published cell our `label` on `task` is compared with; None if the task or label is not in Table 2."""
    column = PAPER_TABLE2_LABELS.get(label)
    return None if column is None else PAPER_TABLE2.get(task, {}).get(column)

"""`daftrl report`: the markdown and figures of a results store (`<campaign>/<task>/<label>/s<seed>.json`).

At the top, a summary: per campaign, its reference label against each other label, counted over the tasks on
which the 95 % Welch interval of the difference lies above, below or around 0, for every metric of `METRICS` (final
return, early returns, area under the curve, training return, falls), the tasks where it is better or worse, and
the DAFT paper's claims about the campaign (`daftrl.experiments.paper.PAPER_CLAIMS`) checked on the final return.

Then per campaign (sorted by name), each section left out when it has no data:

1. cells: the labels, their method, non-default flags, seeds per task and status;
2. for campaign `offline-source` only: our final returns next to the published numbers of the DAFT paper's Table 2
   (`daftrl.experiments.paper`), with the differences of protocol;
3. the campaign's reference label (`reference_label`: DAFT) against each other label, task by task: the difference
   of mean final returns with a 95 % Welch t-interval and whether it excludes zero (better / worse / level);
4. per task (the DAFT paper's Figure 2): learning curves (mean over seeds, 95 % t-interval band), final returns
   with 95 % t-intervals, early-phase returns, the normalised area under the curve, training returns and falls.
   The curves: one figure of every label, `<campaign>/<task>.png`, unless the campaign has panels in
   `daftrl.experiments.paper.PAPER_FIGURE_PANELS` (campaign `online`: the paper's Figures 2, 4 and 5). Then one
   figure per panel of which the task has records of at least two labels, `<campaign>/<task>-<slug>.png` (the slug:
   the panel's name before any bracket, lower case, hyphenated: `figure-2`, `figure-4`, `figure-5`), each under a
   caption naming the panel (a panel of `PAPER_FIGURE_Q_PANELS`, the paper's Figure 5, also draws on the right the
   learner's Q over training, the curve points' `q` averaged as the returns are, over the records that have it; the
   caption marks a label whose records lack it, "(no Q logged)" or "(Q of k of n seeds)"); and, when some label of
   the task is in none of those figures (in no panel, or only in panels with fewer than two labels on the task), one
   more figure `<campaign>/<task>-other.png` of those labels with the campaign's reference label, so that no label
   goes undrawn. A label keeps its colour in every figure of its campaign. In the panel figures a label of zero-shot
   runs is no curve when the zero-shot mean is the dashed line (its one step-0 point would only repeat the line in the
   legend); the one figure of a campaign without panels draws every label;
5. across tasks: IQM and mean of normalised scores with stratified-bootstrap 95 % intervals, performance profiles
   and the probability of improvement of the reference label over each other label (Agarwal et al. 2021, "Deep
   reinforcement learning at the edge of the statistical precipice", NeurIPS; computed with `rliable`);
6. runtime (the paper's Figure 3): hours per run for the full budget, measured or projected, per machine.

This module writes the markdown; what it shows is computed elsewhere: the statistics (t- and Welch intervals, the
rliable aggregates) in `daftrl.experiments.stats`, the numbers of each run and the normalised scores in
`daftrl.experiments.run_metrics`, the reference label and the comparisons between labels in
`daftrl.experiments.compare`, the runtime table in `daftrl.experiments.runtime`; all drawing lives in
`daftrl.experiments.plots`.

The markdown is byte-for-byte deterministic for the same records: sorted iteration, fixed float formats, a seeded
bootstrap (rliable draws from numpy's global RNG, which `daftrl.experiments.stats` seeds and restores afterwards)
and no dates, paths or hostnames. `write_report` removes the figures (PNG and SVG) that the previous version of its
markdown linked and the new one does not, so that no stale figure lingers; it never removes a file it did not link.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from daftrl.experiments.compare import (
    Comparison,
    FinalRow,
    compare,
    final_table,
    groups,
    reference_label,
    score_matrices,
    select_comparison,
)
from daftrl.experiments.paper import (
    PAPER_CLAIMS,
    PAPER_FIGURE_PANELS,
    PAPER_FIGURE_Q_PANELS,
    PAPER_TABLE2,
    PAPER_TABLE2_CAMPAIGN,
    PAPER_TABLE2_COLUMNS,
    PAPER_TABLE2_LABELS,
    PaperCell,
    PaperClaim,
    paper_table2_cell,
)
from daftrl.experiments.run_metrics import (
    EARLY_STEPS,
    Metric,
    d4rl_score,
    mean_curve,
    normalised_score,
    partial,
    task_reference,
)
from daftrl.experiments.runtime import machine, runtime_table
from daftrl.experiments.stats import DASH, aggregate, performance_profiles, probability_of_improvement

PROFILE_POINTS = 101  # thresholds of a performance profile


def iter_records(root: Path) -> list[dict]:
    """Every record of the results store under `root`, validated (`daftrl.experiments.store.load_records`)."""
    from daftrl.experiments.store import load_records

    return load_records(root)


def _steps(n: int) -> str:
    """A positive step count in short form: 10000 -> "1e4", 25000 -> "2.5e4"."""
    exp = len(str(n)) - 1
    return f"{n / 10**exp:g}e{exp}"


METRICS: tuple[Metric, ...] = (
    Metric("final return", lambda run: run.final, learning_only=False),
    *(Metric(f"return at {_steps(step)}", lambda run, i=i: run.early[i]) for i, step in enumerate(EARLY_STEPS)),
    Metric("AUC / budget", lambda run: run.auc),
    Metric("train return", lambda run: run.train_return),
    Metric("falls", lambda run: None if run.falls is None else float(run.falls), higher_is_better=False),
)
"""What the summary compares: the final return first (the 'against each label' section), then the early phase
(the return at EARLY_STEPS, the area under the curve, the training-episode return) and the falls during training,
where fewer is better."""


# --------------------------------------------------------------------------------------------------------- markdown


def _fmt(x: float | None, spec: str = ",.0f") -> str:
    """Fixed-format number, DASH for missing, no negative zero."""
    if x is None or not math.isfinite(x):
        return DASH
    s = format(x, spec)
    return s[1:] if s.startswith("-") and not any(c in "123456789" for c in s) else s


def _ci(lo: float | None, hi: float | None, spec: str = ",.0f") -> str:
    return DASH if lo is None or hi is None else f"[{_fmt(lo, spec)}, {_fmt(hi, spec)}]"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows] + [""]


def _available(values: Sequence[float | None], spec: str = ",.0f") -> str:
    """Mean of the values present; "(k/n)" when only k of the n runs have one."""
    present = [v for v in values if v is not None]
    if not present:
        return DASH
    text = _fmt(float(np.mean(present)), spec)
    return text if len(present) == len(values) else f"{text} ({len(present)}/{len(values)})"


def _value(v: object) -> str:
    return v if isinstance(v, str) else json.dumps(v, sort_keys=True)


def _overrides(overrides: Mapping | None) -> str:
    return ", ".join(f"`{k}={_value(v)}`" for k, v in sorted((overrides or {}).items())) or "none"


def _counts(values: Sequence[str]) -> str:
    return ", ".join(f"{v} ({values.count(v)})" for v in sorted(set(values)))


def _relative(path: Path, start: Path) -> str:
    return Path(os.path.relpath(path.resolve(), start.resolve())).as_posix()


def _name(label: str, partial: bool) -> str:
    return f"{label} (partial)" if partial else label


@dataclasses.dataclass(frozen=True)
class _Context:
    """What every section of one campaign needs."""

    campaign: str
    records: list[Mapping]
    colors: dict[str, str]
    figures: Path  # this campaign's figure directory
    out_dir: Path  # the markdown's directory (figure links are relative to it)
    reps: int
    seed: int
    written: set[Path] = dataclasses.field(default_factory=set)  # the figures linked so far (PNG paths)

    @property
    def reference(self) -> str:
        return reference_label(self.campaign)

    def tasks(self) -> list[str]:
        return sorted({r["task"] for r in self.records})

    def of_task(self, task: str) -> list[Mapping]:
        return [r for r in self.records if r["task"] == task]

    def image(self, alt: str, png: Path) -> str:
        self.written.add(Path(png).resolve())
        return f"![{alt}]({_relative(png, self.out_dir)})"


def _cells_section(ctx: _Context) -> list[str]:
    tasks = ctx.tasks()
    rows = []
    for label in sorted({r["label"] for r in ctx.records}):
        mine = [r for r in ctx.records if r["label"] == label]
        per_task = []
        for task in tasks:
            done = sum(not partial(r) for r in mine if r["task"] == task)
            part = sum(partial(r) for r in mine if r["task"] == task)
            per_task.append(" + ".join([str(done)] + ([f"{part} partial"] if part else [])))
        rows.append([f"`{label}`", _counts([r["kind"] for r in mine]), _counts([r["method"] for r in mine]),
                     "; ".join(sorted({_overrides(r.get("overrides")) for r in mine})), *per_task,
                     _counts([r["status"] for r in mine])])
    out = ["### Cells", "", "Seeds per task: finished (+ partial) runs. Overrides: the non-default flags.", ""]
    out += _table(["label", "kind", "method", "overrides", *(f"`{t}`" for t in tasks), "status"], rows)
    commits = [(r.get("provenance") or {}).get("git_commit") or "unknown" for r in ctx.records]
    out += [f"Records by commit: {_counts([f'`{c[:12]}`' for c in commits])}. By machine: "
            f"{_counts([machine(r) for r in ctx.records])}.", ""]
    notes = [r["note"] for r in ctx.records if r.get("note")]
    out += [f"Note on {notes.count(n)} record(s): {n}" for n in sorted(set(notes))]
    return out + ([""] if notes else [])


def _glance_section(ctx: _Context) -> list[str]:
    """Task x label: the mean final return of the finished runs and their number; the intervals, curves and partial
    runs are in the per-task sections."""
    labels = sorted({r["label"] for r in ctx.records})
    rows = []
    for task in ctx.tasks():
        finished = {row.label: row for row in final_table(ctx.of_task(task)) if not row.partial}
        rows.append([f"`{task}`", *(f"{finished[label].mean:,.0f} ({len(finished[label].runs)})"
                                     if label in finished else DASH for label in labels)])
    out = ["### At a glance", "",
           "Final return of each cell: mean over its finished seeds (their number in brackets; — none yet). The "
           "95 % intervals, curves and partial runs are under \"Per task\", the aggregates under \"Across tasks\".",
           ""]
    return out + _table(["task", *(f"`{label}`" for label in labels)], rows)


PAPER_CAVEAT = (
    "The paper's numbers are published reference values, not runs of ours (DAFT paper, appendix C, Table 2: mean "
    "± the spread it prints over 4 seeds; its H2O, VGDF+BC and PAR+BC columns are quoted there from PAR, Lyu et "
    "al. 2024). The protocols differ: our source datasets come from daftrl's medium actors on Gymnasium v5 "
    "(docs/datasets.md), not from D4RL's medium v2 datasets; the `-utd1` baselines run at 1 update per target "
    "step, a reduced protocol (see docs/assumptions.md); our CQL experts train 2e5 updates, the paper's 200 epochs, "
    "with 2 x 256 networks where the CQL code the paper quotes uses 3 x 256.")


def _ours_and_paper(row: FinalRow | None, paper: PaperCell | None) -> str:
    """A cell of the paper section, "ours: mean [95 % CI] (n) · paper: mean ± spread"; DASH for a missing side."""
    ours = f"{_fmt(row.mean)} {_ci(row.lo, row.hi)} ({len(row.runs)})" if row is not None else f"{DASH} (0)"
    published = f"{_fmt(paper.mean)} ± {_fmt(paper.spread)}" if paper is not None else DASH
    return f"ours: {ours} · paper: {published}"


def _paper_order(label: str) -> tuple[int, str]:
    """Sort key of the paper section's columns: the paper's column order, then labels without a column by name."""
    column = PAPER_TABLE2_LABELS.get(label)
    return (PAPER_TABLE2_COLUMNS.index(column) if column else len(PAPER_TABLE2_COLUMNS), label)


def _paper_section(ctx: _Context) -> list[str]:
    """Campaign `offline-source` only: per task of the paper's Table 2 that has a record (the paper's row order),
    per label of the campaign (the paper's column order, then labels without a column), our final return of the
    finished runs (the per-task tables' mean and 95 % t-interval) next to the published cell."""
    if ctx.campaign != PAPER_TABLE2_CAMPAIGN:
        return []
    labels = sorted({r["label"] for r in ctx.records}, key=_paper_order)
    present = set(ctx.tasks())
    tasks = [task for task in PAPER_TABLE2 if task in present]
    rows = []
    for task in tasks:
        finished = {row.label: row for row in final_table(ctx.of_task(task)) if not row.partial}
        rows.append([f"`{task}`", *(_ours_and_paper(finished.get(label), paper_table2_cell(task, label))
                                    for label in labels)])
    header = ["task", *(f"`{label}` ({PAPER_TABLE2_LABELS.get(label, 'not in the paper')})" for label in labels)]
    out = ["### Offline source: ours next to the paper's Table 2", "", PAPER_CAVEAT, "",
           "Ours: final return of the finished runs (as in the per-task tables), mean, 95 % t-interval and the number "
           f"of seeds; {DASH} (0): no finished run. Paper: mean ± spread as printed.", ""]
    out += _table(header, rows)
    others = sorted(present - set(PAPER_TABLE2))
    if others:
        out += [f"Tasks not in the paper's Table 2: {', '.join(f'`{t}`' for t in others)}.", ""]
    return out


def _signed(x: float | None, spec: str = "+,.0f") -> str:
    """`_fmt` with an explicit sign, no sign on a value that rounds to zero."""
    s = _fmt(x, spec)
    return s[1:] if s[:1] in "+-" and not any(c in "123456789" for c in s) else s


def _tasks(n: int) -> str:
    return f"{n} task" if n == 1 else f"{n} tasks"


def _other_labels(records: Sequence[Mapping], reference: str) -> list[str]:
    """The labels to set against `reference`, learning ones first, then zero-shot ones, each sorted; none when the
    reference has no finished run or no other label trains."""
    if not any(r["label"] == reference and not partial(r) for r in records):
        return []
    learning: dict[str, bool] = {}  # other label -> does it train
    for r in records:
        if r["label"] != reference:
            learning[r["label"]] = learning.get(r["label"], False) or r["method"] != "zero-shot"
    if not any(learning.values()):
        return []
    return sorted(learning, key=lambda label: (not learning[label], label))


def _versus_section(ctx: _Context) -> list[str]:
    """Task x other label: mean final return of the campaign's reference label (`reference_label`) minus the
    label's over their finished runs (the values of the per-task tables) with a 95 % Welch t-interval and its
    verdict, then per label the count of tasks on which the reference is better, worse or level. Left out without
    finished runs of the reference or another learning label."""
    reference = ctx.reference
    others = _other_labels(ctx.records, reference)
    if not others:
        return []
    comparisons = compare(ctx.records, reference, METRICS[0])
    counts = {label: dict.fromkeys(("better", "worse", "level", DASH), 0) for label in others}
    rows = []
    for task in ctx.tasks():
        cells = []
        for label in others:
            c = comparisons.get((label, task))
            if c is None:
                cells.append("")
                continue
            counts[label][c.word] += 1
            number = f"{_signed(c.diff)} [{_signed(c.lo)}, {_signed(c.hi)}] " if c.lo is not None else ""
            cells.append(f"{number}{c.word} ({c.n_reference} v {c.n_other})")
        rows.append([f"`{task}`", *cells])
    out = [f"### `{reference}` against each label, task by task", "",
           f"Mean final return of `{reference}` minus that of the label, over the finished runs of each (the values of "
           "the per-task tables), with a 95 % Welch t-interval (unequal variances, Welch-Satterthwaite degrees of "
           f"freedom; Welch 1947); in brackets the runs of `{reference}` v the label. Better / worse: the interval "
           "lies entirely above / below 0; level: it contains 0; — a side has fewer than 2 finished runs; empty: the "
           "label has no run on the task. Each interval is at 95 % on its own, with no correction for the number of "
           "tasks.", ""]
    out += _table(["task", *(f"`{label}`" for label in others)], rows)
    for label in others:
        c = counts[label]
        out.append(f"- `{reference}` vs `{label}`: better on {c['better']}, worse on {c['worse']}, level on "
                   f"{c['level']} of {_tasks(sum(c.values()))} (95 % Welch intervals of the difference in final "
                   f"return; — where a side has < 2 seeds: {_tasks(c[DASH])})")
    return out + [""]


def _tally(comparisons: Sequence[Comparison]) -> str:
    """The counts better / worse / level of the tasks with an interval, then in brackets "k same" for the level
    tasks where every run of both labels has the same value (e.g. no falls on a robot that cannot fall: level, but
    not a finding) and "+k —" for the k tasks without an interval."""
    words = [c.word for c in comparisons]
    decided = [w for w in words if w != DASH]
    if not decided:
        return DASH
    text = " / ".join(str(decided.count(w)) for w in ("better", "worse", "level"))
    same = sum(c.same for c in comparisons if c.word != DASH)
    notes = [f"{same} same"] * bool(same) + [f"+{len(words) - len(decided)} {DASH}"] * (len(decided) < len(words))
    return text + (f" ({', '.join(notes)})" if notes else "")


def _summary_table(records: Sequence[Mapping], reference: str, others: Sequence[str]) -> list[str]:
    """One campaign's table of the summary (`_tally` per label and metric), then per label the tasks where the
    reference is better or worse, and the labels with no interval on any task."""
    comparisons = [compare(records, reference, metric) for metric in METRICS]
    rows, named, undecided = [], [], []
    for label in others:
        cells = [_tally([c for (other, _), c in by_task.items() if other == label]) for by_task in comparisons]
        if all(cell == DASH for cell in cells):
            undecided.append(f"`{label}`")
            continue
        rows.append([f"`{label}`", *cells])
        clauses = []
        for word in ("better", "worse"):
            found = [f"{metric.name} ({', '.join(f'`{task}`' for task in tasks)})"
                     for metric, by_task in zip(METRICS, comparisons, strict=True)
                     if (tasks := [task for (other, task), c in by_task.items() if other == label and c.word == word])]
            if found:
                clauses.append(f"**{word}** on " + ", ".join(found))
        if clauses:
            named.append(f"- v `{label}`: " + "; ".join(clauses))
    if undecided:
        named.append(f"- Not compared (fewer than 2 finished runs on a side on every task): {', '.join(undecided)}")
    return (_table(["label", *(m.name for m in METRICS)], rows) if rows else []) + named


def _claim_verdict(words: Sequence[str], expected: str) -> str:
    """**reproduced** when every task has an interval with the expected word, **not reproduced** when no task has
    it though some have an interval, **not checked** when none has an interval, **partly** (k of n; m not checked)
    otherwise."""
    n, k, unchecked = len(words), words.count(expected), words.count(DASH)
    if unchecked == n:
        return "**not checked** (no task has 2 finished runs a side)"
    if k == n:
        return "**reproduced**"
    if k == 0:
        return "**not reproduced**" + (f" ({unchecked} of {n} not checked)" if unchecked else "")
    return f"**partly** ({k} of {n}" + (f"; {unchecked} not checked" if unchecked else "") + ")"


def _claim_line(records: Sequence[Mapping], claim: PaperClaim, by_task: Mapping[tuple[str, str], Comparison]) -> str:
    """One claim in the paper's words, then the words of our final returns on its tasks (`by_task`: `compare` of
    `records` against `claim.reference` on the final return), each interval for a "level" claim (level only says
    that the interval contains 0, so its width is part of the answer), and the verdict (`_claim_verdict`)."""
    relation = "better than" if claim.expected == "better" else "level with"
    head = (f"- {claim.where}: \"{claim.quote}\". `{claim.reference}` {relation} `{claim.other}`"
            + (f" ({claim.note})" if claim.note else ""))
    finished = {r["label"] for r in records if not partial(r)}
    missing = [f"`{label}`" for label in (claim.reference, claim.other) if label not in finished]
    if missing:
        return head + f": not run yet (no finished run of {' or '.join(missing)})."
    found = [by_task.get((claim.other, task)) for task in claim.tasks]
    words = [c.word if c is not None else DASH for c in found]
    if all(word == DASH for word in words):
        return f"{head}: {_claim_verdict(words, claim.expected)}."
    rest = [f"{word} on {words.count(word)}" for word in ("better", "worse", "level") if word != claim.expected]
    rest += [f"+{words.count(DASH)} without an interval"] * (DASH in words)
    widths = [f"`{task}` {_signed(c.diff)} [{_signed(c.lo)}, {_signed(c.hi)}]"
              for task, c in zip(claim.tasks, found, strict=True) if c is not None and c.lo is not None]
    widths = f"; {', '.join(widths)}" if claim.expected == "level" and widths else ""
    return (f"{head}: on {words.count(claim.expected)} of {_tasks(len(words))} ({', '.join(rest)}{widths}): "
            f"{_claim_verdict(words, claim.expected)}.")


def _claims_lines(records: Sequence[Mapping], campaign: str) -> list[str]:
    """The paper's claims about a campaign (`PAPER_CLAIMS`), one line each (`_claim_line`); none without claims."""
    claims = PAPER_CLAIMS.get(campaign, ())
    by_reference = {ref: compare(records, ref, METRICS[0]) for ref in dict.fromkeys(c.reference for c in claims)}
    lines = [_claim_line(records, claim, by_reference[claim.reference]) for claim in claims]
    return ["The paper's claims, checked on the final return:", "", *lines, ""] if lines else []


def _summary_section(records: Sequence[Mapping]) -> list[str]:
    """The top of the report: per campaign, its reference label against each other label, counted over tasks
    for every metric of METRICS, then per label the tasks where the reference is better or worse, then the DAFT
    paper's claims about the campaign, checked on the final return."""
    blocks = []
    for campaign in sorted({r["campaign"] for r in records}):
        mine = [r for r in records if r["campaign"] == campaign]
        reference = reference_label(campaign)
        others = _other_labels(mine, reference)
        if not others:  # the reference has no finished run, or no other label learns: nothing to set it against
            continue
        blocks += [f"### {campaign}: `{reference}` v each label", ""]
        blocks += _summary_table(mine, reference, others) + [""] + _claims_lines(mine, campaign)
    if not blocks:
        return []
    return ["## Summary", "",
            "Each campaign's reference label (DAFT) against every other label, counted over the campaign's tasks: on "
            "how many the 95 % Welch t-interval of the difference of means (finished runs; Welch 1947) lies above 0 "
            "(**better**), below 0 (**worse**) or contains it (**level**), written better / worse / level; in "
            "brackets, k same: k of the level tasks have the same value in every run of both labels (e.g. no falls: "
            "HalfCheetah cannot fall), +k —: k more tasks where a side has fewer than 2 finished runs with the "
            "value; — no task has an interval. "
            f"Final return, return at {' and '.join(_steps(s) for s in EARLY_STEPS)} target steps, area under the "
            "curve, mean training-episode return and falls during training, where **fewer falls count as better**. "
            "Only finished runs count, and a zero-shot run only on its final return (it has no learning phase). "
            "Each interval is at 95 % on its own, with no correction for the number of tasks or metrics. The "
            "intervals of the final return are in each campaign's 'against each label' section; for the other "
            "metrics the 'Per task' tables give each label's mean. Below each table, the tasks where the reference "
            "is better or worse than the label, metric by metric, and then the DAFT paper's claims about the "
            "campaign's final returns, in its words, each checked by the same final-return intervals on every task "
            "the claim covers (reproduced: the paper's word on every one of them; a task without an interval "
            "counts as not checked).",
            "", *blocks]


@dataclasses.dataclass(frozen=True)
class _Figure:
    """One learning-curve figure of a task: its name and caption (None: the one figure of a campaign without
    panels), the suffix of its file name and its labels, in the order of the legend."""

    name: str | None
    caption: str | None
    slug: str | None
    labels: tuple[str, ...]
    shows_q: bool = False  # a panel of `PAPER_FIGURE_Q_PANELS`: the learner's Q on the right


OTHER_SLUG = "other"


def _slug(panel: str) -> str:
    """The file-name part of a panel: its name before any bracket, lower case, hyphenated ("Figure 4 (ablations)" ->
    "figure-4")."""
    return re.sub(r"[^a-z0-9]+", "-", panel.split("(")[0].lower()).strip("-")


def _figures(campaign: str, labels: set[str], reference: str) -> list[_Figure]:
    """The learning-curve figures of a task with records of `labels` (the rule: the module docstring)."""
    panels = PAPER_FIGURE_PANELS.get(campaign)
    if not panels:
        return [_Figure(None, None, None, tuple(sorted(labels)))]
    out, drawn = [], set()
    for name, members in panels.items():
        mine = tuple(label for label in members if label in labels)
        if len(mine) >= 2:
            out.append(_Figure(name, f"The paper's {name}", _slug(name), mine,
                               name in PAPER_FIGURE_Q_PANELS.get(campaign, ())))
            drawn.update(mine)
    rest = tuple(sorted(labels - drawn))
    if rest:
        with_reference = reference in labels and reference not in rest
        caption = "Labels in no figure above" + (f", with `{reference}`" if with_reference else "")
        out.append(_Figure("other labels", caption, OTHER_SLUG, ((reference,) if with_reference else ()) + rest))
    return out


def _has_q(record: Mapping) -> bool:
    """Whether the record's curve holds the learner's Q (`q`, logged since records have it) at some evaluation."""
    return any(p.get("q") is not None for p in record.get("curve") or [])


def _q_curve(record: Mapping) -> list[dict]:
    """The record's Q over training as a curve `mean_curve` averages (its `q` in place of the return)."""
    return [{"step": p["step"], "return_mean": p["q"]} for p in record.get("curve") or [] if p.get("q") is not None]


def _q_note(figure: _Figure, records: Sequence[Mapping]) -> dict[str, str]:
    """label -> what the caption says of its Q, for the labels of a figure showing Q (`_Figure.shows_q`) of which
    some records lack it (records made before curves had `q`, whose run directory was not at hand to refresh
    them): "no Q logged", or "Q of k of n seeds" (the Q curve is the mean over the k)."""
    if not figure.shows_q:
        return {}
    out = {}
    for label in figure.labels:
        mine = [r for r in records if r["label"] == label]
        k = sum(_has_q(r) for r in mine)
        if k < len(mine):
            out[label] = "no Q logged" if k == 0 else f"Q of {k} of {len(mine)} seeds"
    return out


def _task_figure(ctx: _Context, task: str, figure: _Figure, records: Sequence[Mapping],
                 zero_shot: float | None) -> Path:
    from daftrl.experiments import plots

    by_label: dict[str, list[tuple[bool, list[Mapping]]]] = {}
    for (label, is_partial), group in groups(records).items():
        by_label.setdefault(label, []).append((is_partial, group))
    series, q_series = [], []
    for label in figure.labels:
        for is_partial, group in by_label.get(label, []):
            if figure.slug is not None and zero_shot is not None and all(r["method"] == "zero-shot" for r in group):
                continue  # its step-0 evaluations are the dashed zero-shot line
            name = f"{_name(label, is_partial)} (n={len(group)})"
            steps, mean, lo, hi = mean_curve([r.get("curve") or [] for r in group])
            if len(steps):
                series.append(plots.CurveSeries(name, ctx.colors[label], steps, mean, lo, hi, is_partial))
            with_q = [r for r in group if _has_q(r)] if figure.shows_q else []
            if with_q:
                steps, mean, lo, hi = mean_curve([_q_curve(r) for r in with_q])
                if len(steps):
                    q_series.append(plots.CurveSeries(f"{_name(label, is_partial)} (n={len(with_q)})",
                                                      ctx.colors[label], steps, mean, lo, hi, is_partial))
    if figure.slug is None:
        stem, title = ctx.figures / task, f"{ctx.campaign}: {task}"
    else:
        stem, title = ctx.figures / f"{task}-{figure.slug}", f"{ctx.campaign}: {task}, {figure.name}"
    return plots.learning_curves(stem, title, series, zero_shot, q_series=q_series or None)  # no Q: one panel


def _task_section(ctx: _Context, task: str) -> list[str]:
    records = ctx.of_task(task)
    ref = task_reference(records)
    budgets = sorted({r["budget_steps"] for r in records})
    zero = (f"zero-shot {_fmt(ref.zero_shot)} (mean over {ref.n_zero_shot} runs; dashed line)"
            if ref.zero_shot is not None else "no zero-shot evaluation")
    out = [f"#### {task}", "",
           f"Expert {', '.join(ref.experts) or DASH}; source return {_fmt(ref.source_return)}; {zero}; budget "
           f"{', '.join(f'{b:,}' for b in budgets)} target steps.", ""]
    for figure in _figures(ctx.campaign, {r["label"] for r in records}, ctx.reference):
        png = _task_figure(ctx, task, figure, records, ref.zero_shot)
        if figure.caption is None:
            out += [ctx.image(task, png), ""]
        else:
            notes = _q_note(figure, records)
            labels = ", ".join(f"`{label}`" + (f" ({notes[label]})" if label in notes else "")
                               for label in figure.labels)
            shows_q = figure.shows_q and sum(v == "no Q logged" for v in notes.values()) < len(figure.labels)
            q = (" Right: the learner's Q over training, the mean of the Q logged on its training batches (one "
                 "every log_every steps) since the previous evaluation (mean over the seeds that logged it, 95 % "
                 "t-interval band)." if shows_q else "")
            out += [f"{figure.caption}: {labels}.{q}", "", ctx.image(f"{task}: {figure.name}", png), ""]
    rows = []
    for row in final_table(records):
        seeds = ", ".join(f"s{run.seed}: {_fmt(run.final)}" + (f" @ {run.steps:,}" if row.partial else "")
                          for run in row.runs)
        rows.append([f"`{_name(row.label, row.partial)}`", str(len(row.runs)), _fmt(row.mean), _ci(row.lo, row.hi),
                     seeds, *(_available([run.early[i] for run in row.runs]) for i in range(len(EARLY_STEPS))),
                     _available([run.auc for run in row.runs]), _available([run.train_return for run in row.runs]),
                     _available([run.falls for run in row.runs], ",.1f")])
    header = ["label", "n", "final return", "95 % CI", "per seed", *(f"at {_steps(s)}" for s in EARLY_STEPS),
              "AUC / budget", "train return", "falls"]
    return out + _table(header, rows)


def _task_notes(ctx: _Context) -> list[str]:
    panels = PAPER_FIGURE_PANELS.get(ctx.campaign)
    figures = "" if not panels else (
        f" Figures: one per figure of the DAFT paper ({', '.join(panels)}) with the labels of it that the task has, "
        f"when it has at least two; the labels in none of those, with `{ctx.reference}`, in a last figure. A label "
        "has the same colour in every figure.")
    return ["Final return: mean of the evaluations at >= 0.9 x budget target steps (a partial run: its last "
            "evaluation, at the step after @); mean over seeds with a 95 % t-interval (Student t quantile). "
            f"At {' / '.join(_steps(s) for s in EARLY_STEPS)}: the evaluation at that target step or the nearest one "
            "before it. AUC / budget: the mean return over [0, budget] (trapezoid rule; runs that reached the budget). "
            "Train return: mean training-episode return over the logged points; falls: terminations during training "
            "(mean over seeds). (k/n): only k of the n runs have the value. Curves: mean over seeds with a 95 % "
            f"t-interval band; dotted = partial runs.{figures}", ""]


def _finals(records: Sequence[Mapping]) -> dict[tuple[str, str], list[tuple[int, float]]]:
    """{(label, task): [(seed, final return)]} of the finished runs."""
    out: dict[tuple[str, str], list[tuple[int, float]]] = {}
    for r in records:
        if not partial(r):
            out.setdefault((r["label"], r["task"]), []).append((r["seed"], float(r["final_return"])))
    return out


def _normalisations(ctx: _Context, tasks: Sequence[str]) -> tuple[list[tuple[str, Callable | None]], list[str]]:
    """(name, per-task score function, None when a task lacks its references) of both normalisations, and the
    table of references."""
    refs = {task: task_reference(ctx.of_task(task)) for task in tasks}
    rows = [[f"`{t}`", _fmt(r.zero_shot), _fmt(r.source_return), r.robot or DASH] for t, r in refs.items()]
    expert = all(normalised_score(0.0, r.zero_shot, r.source_return) is not None for r in refs.values())
    d4rl = all(d4rl_score(0.0, r.robot) is not None for r in refs.values())
    found = [("expert-normalised score",
              (lambda t, x: normalised_score(x, refs[t].zero_shot, refs[t].source_return)) if expert else None),
             ("D4RL-normalised score", (lambda t, x: d4rl_score(x, refs[t].robot)) if d4rl else None)]
    return found, _table(["task", "zero-shot", "source return", "robot"], rows)


def _across_section(ctx: _Context) -> list[str]:
    finals = _finals(ctx.records)
    coverage: dict[str, set[str]] = {}
    for label, task in finals:
        coverage.setdefault(label, set()).add(task)
    chosen = select_comparison(coverage, ctx.reference)
    if chosen is None:
        return []
    labels, tasks = chosen
    raw, n = score_matrices(finals, labels, tasks)
    normalisations, ref_table = _normalisations(ctx, tasks)
    out = ["### Across tasks", "",
           f"Finished runs of {', '.join(f'`{label}`' for label in labels)} on the {len(tasks)} tasks "
           f"{', '.join(f'`{t}`' for t in tasks)}: the first {n} seeds (sorted) of each label on each task. "
           f"Stratified bootstrap over runs within tasks, {ctx.reps} resamples, seed {ctx.seed}, 95 % percentile "
           "intervals (Agarwal et al. 2021, rliable). Expert-normalised score = 100 (final - zero-shot) / (source "
           "return - zero-shot): 0 = the expert zero-shot in the target domain, 100 = the expert in its source "
           "domain. D4RL-normalised score = 100 (final - random) / (expert - random), D4RL reference returns.", ""]
    dropped = [f"`{label}` on `{t}`: s{', s'.join(str(s) for s, _ in sorted(finals[label, t])[n:])}"
               for label in labels for t in tasks if len(finals[label, t]) > n]
    if dropped:
        out += [f"Seeds left out to keep {n} per task: {'; '.join(dropped)}.", ""]
    for label in sorted(set(coverage) - set(labels)):
        out += [f"Not aggregated: `{label}` (finished runs on {', '.join(f'`{t}`' for t in sorted(coverage[label]))}"
                " only; every aggregated label must cover every aggregated task).", ""]
    left = sorted(set().union(*coverage.values()) - set(tasks))
    if left:
        out += [f"Tasks not aggregated: {', '.join(f'`{t}`' for t in left)}.", ""]
    if any(partial(r) for r in ctx.records):
        out += ["Partial runs are not aggregated.", ""]
    out += ref_table
    panels = []
    for name, score in normalisations:
        if score is None:
            out += [f"**{name}**: not computed, a task lacks its reference returns (table above).", ""]
            continue
        scores = {label: np.array([[score(t, x) for t, x in zip(tasks, run, strict=True)] for run in m])
                  for label, m in raw.items()}
        stats = aggregate(scores, ctx.reps, ctx.seed)
        rows = [[f"`{label}`", _fmt(s["IQM"][0], ".1f"), _ci(*s["IQM"][1:], ".1f"), _fmt(s["mean"][0], ".1f"),
                 _ci(*s["mean"][1:], ".1f")] for label, s in stats.items()]
        out += [f"**{name}**", ""] + _table(["label", "IQM", "95 % CI", "mean", "95 % CI"], rows)
        every = np.concatenate([m.ravel() for m in scores.values()])
        taus = np.linspace(min(0.0, every.min()), max(100.0, every.max()), PROFILE_POINTS)
        panels.append((f"{name} threshold tau", taus, performance_profiles(scores, taus, ctx.reps, ctx.seed)))
    if panels:
        from daftrl.experiments import plots

        png = plots.performance_profiles(ctx.figures / "profiles", panels, ctx.colors)
        out += ["Performance profiles: the fraction of runs x tasks with a score above tau (95 % bootstrap bands).",
                "", ctx.image("performance profiles", png), ""]
    reference = ctx.reference
    if reference in labels:
        rows = []
        for other in (label for label in labels if label != reference):
            p, lo, hi = probability_of_improvement(raw[reference], raw[other], ctx.reps, ctx.seed)
            rows.append([f"`{other}`", _fmt(p, ".2f"), _ci(lo, hi, ".2f")])
        out += [f"Probability of improvement of `{reference}` over each label: P(a `{reference}` run beats a run of "
                "the other label on a task), averaged over tasks (Mann-Whitney; computed on final returns, so the "
                "same for any per-task normalisation).", ""]
        out += _table(["other label", f"P({reference} > other)", "95 % CI"], rows)
    return out


def _runtime_section(ctx: _Context) -> list[str]:
    from daftrl.experiments import plots

    reference = ctx.reference
    rows = runtime_table(ctx.records, reference)
    if not rows:
        return []
    table = []
    for row in rows:
        ratio = "across machines" if row.across_machines else (
            DASH if row.vs_reference is None else f"{_fmt(row.vs_reference, '.2f')}x")
        table.append([f"`{row.task}`", f"`{_name(row.label, row.projected)}`", str(row.n), f"{row.budget:,}",
                      _fmt(row.hours, ".2f") + (" (projected)" if row.projected else ""), _fmt(row.train_hours, ".2f"),
                      _fmt(row.updates_per_s, ",.0f"), ratio, row.machine])
    panels = []
    for task in sorted({r.task for r in rows}):
        mine = [r for r in rows if r.task == task]
        several = len({r.machine for r in mine}) > 1  # then name the machine under each bar
        panels.append((task, [plots.Bar(_name(r.label, r.projected) + (f"\n{r.machine}" if several else ""),
                                        ctx.colors[r.label], r.hours, r.projected) for r in mine]))
    png = plots.runtime_bars(ctx.figures / "runtime", panels)
    out = ["### Runtime", "",
           "Wall time per run for the full budget (including evaluation), mean over seeds: measured for finished "
           "runs, *projected* for partial ones. Train hours: without evaluation (projected linearly to the budget "
           f"for partial runs). vs `{reference}`: hours / `{reference}`'s hours on the same task and machine; "
           "*across machines*: it was measured on another machine only, so no ratio.", ""]
    header = ["task", "label", "runs", "budget", "hours per run", "train hours", "updates/s", f"vs {reference}",
              "machine"]
    return out + _table(header, table) + [ctx.image("runtime", png), ""]


_TAB20 = ("#1f77b4", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896", "#9467bd", "#c5b0d5",
          "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7", "#bcbd22", "#dbdb8d", "#17becf", "#9edae5")
"""matplotlib's tab20 palette, for a campaign with more labels than the default cycle's 10 colours."""


def label_colors(campaign: str, labels: set[str]) -> dict[str, str]:
    """One colour per label of a campaign: the campaign's reference label first, then the labels of its paper panels
    (`PAPER_FIGURE_PANELS`, in panel order, whether or not they have records yet), then the others sorted, so a
    reference or panel label keeps its colour while a campaign's labels arrive (a label in no panel can move when
    another such label arrives); a campaign with panels draws on tab20, one without on
    matplotlib's default cycle (tab20 beyond 10 labels): no two labels share a colour up to 20."""
    panels = PAPER_FIGURE_PANELS.get(campaign)
    if panels is None:  # sorted labels on the default cycle (tab20 beyond 10 labels)
        order = sorted(labels)
        palette = [f"C{i}" for i in range(10)] if len(order) <= 10 else list(_TAB20)
    else:  # a palette of 20 whatever has arrived, so no colour moves when a label arrives
        panel_labels = [label for members in panels.values() for label in members]
        order = list(dict.fromkeys([reference_label(campaign), *panel_labels, *sorted(labels)]))
        palette = list(_TAB20)
    return {label: palette[i % len(palette)] for i, label in enumerate(order) if label in labels}


def build_report(records: Sequence[Mapping], out_dir: Path, figures: Path, reps: int = 2000, seed: int = 0,
                 written: set[Path] | None = None) -> str:
    """The markdown of `records` (figures written under `figures`, linked relative to `out_dir`); the resolved paths
    of the PNGs it links are added to `written`."""
    written = set() if written is None else written
    records = sorted(records, key=lambda r: (r["campaign"], r["task"], r["label"], r["seed"], r["run_id"]))
    out = ["# Results", "",
           "Generated by `daftrl report` from the results store; every number is computed from the run records. Do "
           "not edit by hand.", ""] + _summary_section(records)
    for campaign in sorted({r["campaign"] for r in records}):
        mine = [r for r in records if r["campaign"] == campaign]
        ctx = _Context(campaign, mine, label_colors(campaign, {r["label"] for r in mine}), figures / campaign,
                       out_dir, reps, seed, written)
        out += [f"## {campaign}", ""] + _cells_section(ctx) + _glance_section(ctx) + _paper_section(ctx)
        out += _versus_section(ctx)
        out += ["### Per task", ""] + _task_notes(ctx)
        for task in ctx.tasks():
            out += _task_section(ctx, task)
        out += _across_section(ctx) + _runtime_section(ctx)
    return "\n".join(out).rstrip("\n") + "\n"


def _linked_figures(text: str, out_dir: Path) -> set[Path]:
    """The resolved PNG paths a report's markdown `text` (in `out_dir`) links (`_Context.image` writes the links)."""
    return {(out_dir / link).resolve() for link in re.findall(r"!\[[^\]\n]*\]\(([^\n]+?\.png)\)", text)}


def _remove_stale_figures(previous: set[Path], written: set[Path]) -> None:
    """Delete the figures (PNG and its SVG) that the previous version of the report linked and this one does not:
    only a report's own figures go, never a file it did not link (another report's, a hand-made one)."""
    for png in sorted(previous - written):
        for path in (png, png.with_suffix(".svg")):
            if path.is_file():
                path.unlink()


def write_report(root: Path, out: Path, figures: Path | None = None, reps: int = 2000, seed: int = 0) -> str:
    """Write the markdown report of the results store `root` to `out` and its figures (PNG + SVG) to `figures`
    (default `out.parent / "img" / out.stem`), removing the figures the previous `out` linked that it no longer
    links; return the markdown."""
    out = Path(out)
    figures = Path(figures) if figures is not None else out.parent / "img" / out.stem
    previous = _linked_figures(out.read_text(errors="replace"), out.parent) if out.is_file() else set()
    written: set[Path] = set()
    text = build_report(iter_records(Path(root)), out.parent, figures, reps, seed, written)
    from daftrl.checkpoint import atomic_write_bytes

    atomic_write_bytes(out, text.encode())
    _remove_stale_figures(previous, written)
    return text

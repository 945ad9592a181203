"""Numbers the docs copy by hand from committed results stay equal to those results: the adaptation table
and cost paragraph of docs/adaptation.md (the records of campaigns online, offline-source and legacy-adapt in
the results store, benchmarks/results/bench_adapt.json) and the bundled experts' returns in docs/zoo.md (each expert's
card.json). docs/benchmarks.md and docs/results.md are generated and need no such check."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
ADAPT_CAMPAIGN = ROOT / "results" / "legacy-adapt"
ONLINE_CAMPAIGN = ROOT / "results" / "online"
OFFLINE_CAMPAIGN = ROOT / "results" / "offline-source"
ADAPTATION = (ROOT / "docs" / "adaptation.md").read_text()
ZOO_DOC = (ROOT / "docs" / "zoo.md").read_text()


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def adaptation_table(header: str) -> dict[str, list[str]]:
    """{task: cells} of the docs/adaptation.md table whose header row starts with `header`."""
    lines = ADAPTATION.splitlines()
    start = next(i for i, line in enumerate(lines) if line.replace(" ", "").startswith(header.replace(" ", "")))
    rows = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def _finals(campaign: Path, task: str, label: str) -> list[float]:
    """Final returns of the label's finished runs on the task, by seed."""
    from daftrl.experiments.store import load_records

    records = [r for r in load_records(campaign / task) if r["status"] == "finished" and r["label"] == label]
    return [r["final_return"] for r in sorted(records, key=lambda r: r["seed"])]


def _check_cell(cell: str, finals: list[float], seeds: int, what) -> None:
    """'mean (s0, s1, ...)' over the first `seeds` seeds of the label in the store, the number the text states
    (the tables are marked interim while campaigns add seeds, so later seeds do not fail this)."""
    mean, quoted = re.fullmatch(r"(-?[\d,]+) \((.*)\)", cell).groups()
    quoted = [_number(v) for v in quoted.split(", ")]
    assert len(quoted) == seeds and len(finals) >= seeds, (what, cell, len(finals))
    finals = finals[:seeds]
    assert quoted == [round(f) for f in finals], (what, cell)
    assert _number(mean) == round(sum(finals) / len(finals)), (what, cell)


ONLINE_TABLE = "| task | zero-shot (5) | FT | SGFT (H = inf) | DAFT |"
ONLINE_SEEDS = {"ft": 5, "sgft": 3, "daft": 5}
"""Seeds the online table quotes per label: all the main grid plans for each."""
OFFLINE_TABLE = "| task | CQL-0 | CQL+SAC | DAFT from CQL |"


@pytest.mark.parametrize("task", sorted(adaptation_table(ONLINE_TABLE)))
def test_online_table_matches_the_committed_results(task):
    """Zero-shot: the mean over its 5 seeds; FT, SGFT, DAFT: 'mean (per seed)'."""
    cells = adaptation_table(ONLINE_TABLE)[task]
    zero_shot = _finals(ONLINE_CAMPAIGN, task, "zero-shot")
    assert len(zero_shot) == 5 and _number(cells[0]) == round(sum(zero_shot) / 5), (task, cells[0])
    for cell, label in zip(cells[1:], ("ft", "sgft", "daft"), strict=True):
        _check_cell(cell, _finals(ONLINE_CAMPAIGN, task, label), ONLINE_SEEDS[label], (task, label))


def test_online_reading_intervals_are_the_welch_intervals_of_the_tables_seeds():
    """The reading's "TASK +d [lo, hi]" of DAFT - FT: the 95 % Welch interval over the seeds the table quotes."""
    from daftrl.experiments.stats import welch_interval

    text = _flat(ADAPTATION.split("DAFT - FT in final return")[1].split("\n- ")[0])
    quoted = re.findall(r"([a-z-]+) ([+-][\d,]+) \[([+-]?[\d,]+), ([+-]?[\d,]+)\]", text)
    assert {task for task, *_ in quoted} == set(adaptation_table(ONLINE_TABLE)), quoted
    for task, *numbers in quoted:
        daft, ft = (_finals(ONLINE_CAMPAIGN, task, label)[:ONLINE_SEEDS[label]] for label in ("daft", "ft"))
        assert [_number(v) for v in numbers] == [round(x) for x in welch_interval(daft, ft)], (task, numbers)


ABLATION_TABLES = {
    "| task | DAFT (5) | single-critic (3) | reward-shaping (3) | FT (5) |": (("daft", 5), ("single-critic", 3),
                                                                          ("reward-shaping", 3), ("ft", 5)),
    "| task | DAFT H = 1 (3) | DAFT H = 5 (5) | DAFT H = 20 (3) |": (("daft-h1", 3), ("daft", 5), ("daft-h20", 3)),
    "| task | DAFT (5) | DAFT omega = 0 (3) | FT (5) |": (("daft", 5), ("daft-omega0", 3), ("ft", 5)),
}
"""The ablation tables of docs/adaptation.md (the paper's Figures 4 and 5, and our `daft-omega0`): header ->
(label, seeds) per column."""


def _ablation_rows():
    return [(header, task) for header in ABLATION_TABLES if header.replace(" ", "") in ADAPTATION.replace(" ", "")
            for task in sorted(adaptation_table(header))]


def test_each_ablation_table_is_in_the_docs_once_its_cells_are_complete():
    """A table whose cells all have their seeds in the store is in docs/adaptation.md (so the check above runs)."""
    for header, columns in ABLATION_TABLES.items():
        tasks = {d.parent.parent.name for d in ONLINE_CAMPAIGN.glob(f"*/{columns[0][0]}/s0.json")}
        complete = tasks and all(len(_finals(ONLINE_CAMPAIGN, task, label)) >= n
                                 for task in tasks for label, n in columns)
        if complete:
            assert header.replace(" ", "") in ADAPTATION.replace(" ", ""), f"add the table {header}"
            assert set(adaptation_table(header)) == tasks, header


@pytest.mark.parametrize(("header", "task"), _ablation_rows())
def test_ablation_tables_match_the_committed_results(header, task):
    cells = adaptation_table(header)[task]
    for cell, (label, seeds) in zip(cells, ABLATION_TABLES[header], strict=True):
        _check_cell(cell, _finals(ONLINE_CAMPAIGN, task, label), seeds, (task, label))


def test_ablation_intervals_are_the_welch_intervals_of_the_tables_seeds():
    """Every "LABEL on TASK +d [lo, hi]" the ablation reading quotes: the 95 % Welch interval of LABEL - DAFT over
    the seeds of the tables."""
    from daftrl.experiments.stats import welch_interval

    seeds = {"single-critic-tar": 3} | {label: n for columns in ABLATION_TABLES.values() for label, n in columns}
    text = _flat(ADAPTATION.split("### Ablations")[1].split("\n### ")[0]) if "### Ablations" in ADAPTATION else ""
    quoted = re.findall(r"`([a-z0-9-]+)` on ([a-z-]+) ([+-][\d,]+) \[([+-]?[\d,]+), ([+-]?[\d,]+)\]", text)
    assert "### Ablations" in ADAPTATION and quoted, "docs/adaptation.md has no ablation intervals"
    figure_4 = next(iter(ABLATION_TABLES))
    assert {(label, task) for label, task, *_ in quoted} >= {
        (label, task) for task in adaptation_table(figure_4) for label, _ in ABLATION_TABLES[figure_4][1:3]}
    for bullet in text.split(" - "):  # a count of the intervals a bullet quotes, in that bullet
        mine = re.findall(r"`[a-z0-9-]+` on [a-z-]+ [+-][\d,]+ \[([+-]?[\d,]+), ([+-]?[\d,]+)\]", bullet)
        for count, of in re.findall(r"(\d+) of the (\d+) intervals exclude 0", bullet):
            excluding = sum((_number(lo) > 0) or (_number(hi) < 0) for lo, hi in mine)
            assert (int(count), int(of)) == (excluding, len(mine)), (count, of)
    for label, task, *numbers in quoted:
        mine = _finals(ONLINE_CAMPAIGN, task, label)[:seeds[label]]
        daft = _finals(ONLINE_CAMPAIGN, task, "daft")[:seeds["daft"]]
        assert [_number(v) for v in numbers] == [round(x) for x in welch_interval(mine, daft)], (label, task)


@pytest.mark.parametrize("task", sorted(adaptation_table(OFFLINE_TABLE)))
def test_offline_source_table_matches_the_committed_results(task):
    for cell, label in zip(adaptation_table(OFFLINE_TABLE)[task], ("cql-0", "cql-sac", "daft-cql"), strict=True):
        _check_cell(cell, _finals(OFFLINE_CAMPAIGN, task, label), 3, (task, label))


def test_the_tables_cover_their_campaigns_tasks():
    """The online table has a row for every task of the online campaign; the Table 2 table for every task with
    3 finished DAFT-from-CQL seeds (the text says which tasks wait)."""
    assert set(adaptation_table(ONLINE_TABLE)) == {d.name for d in ONLINE_CAMPAIGN.iterdir() if d.is_dir()}
    ready = {d.name for d in OFFLINE_CAMPAIGN.iterdir() if len(_finals(OFFLINE_CAMPAIGN, d.name, "daft-cql")) >= 3}
    assert set(adaptation_table(OFFLINE_TABLE)) == ready


def test_adaptation_prose_numbers_match_the_committed_results():
    """The numbers of the readings that are not in the tables: a Welch interval, the co-training baselines."""
    from daftrl.experiments.stats import welch_interval

    text = _flat(ADAPTATION)
    task = "walker-no-right-thigh"
    daft, sac = (_finals(OFFLINE_CAMPAIGN, task, label) for label in ("daft-cql", "cql-sac"))
    diff, lo, hi = welch_interval(daft, sac)
    assert f"({diff:,.0f}, 95 % Welch interval [{lo:,.0f}, {hi:,.0f}])" in text
    tasks = "halfcheetah-no-thighs|walker-no-right-thigh"
    for name, label in (("BC-PAR", "bc-par-utd1"), ("H2O", "h2o-utd1"), ("BC-VGDF", "bc-vgdf-utd1")):
        # every "NAME x on TASK", "NAME x on TASK and y on TASK" of the text
        quoted: dict[str, list[str]] = {}
        for match in re.finditer(name + rf" ([\d,]+) on ({tasks})(?: and ([\d,]+) on ({tasks}))?", text):
            for value, task in (match.group(1, 2), match.group(3, 4)):
                if value is not None:
                    quoted.setdefault(task, []).append(value)
        stored = {d.parent.name for d in OFFLINE_CAMPAIGN.glob(f"*/{label}")}
        assert set(quoted) == stored, f"docs/adaptation.md quotes {name} on {sorted(quoted)}, results/ has " \
                                      f"{sorted(stored)}: update the text"
        for task, values in quoted.items():
            finals = _finals(OFFLINE_CAMPAIGN, task, label)
            assert len(finals) == 1, f"{label} on {task} has {len(finals)} seeds: the text says 1 seed"
            assert all(_number(v) == round(finals[0]) for v in values), (name, task, values)


def test_adaptation_legacy_sentence_matches_the_committed_results():
    text = _flat(ADAPTATION)
    for task in ("halfcheetah-broken-back-thigh", "walker-no-right-thigh"):
        match = re.search(task + r" FT ([\d,]+), DAFT ([\d,]+), SGFT \(H = 1\) ([\d,]+)", text)
        assert match, f"docs/adaptation.md no longer quotes the legacy campaign on {task}: update this test"
        for value, label in zip(match.groups(), ("ft", "daft", "sgft"), strict=True):
            finals = _finals(ADAPT_CAMPAIGN, task, label)
            assert len(finals) == 2 and _number(value) == round(sum(finals) / 2), (task, label, value)


def test_adaptation_cost_paragraph_matches_the_benchmark():
    bench = json.loads((RESULTS / "bench_adapt.json").read_text())
    update, loop = bench["update"], bench["loop"]
    text = _flat(ADAPTATION)
    quoted = {
        r"a DAFT update costs ([\d.]+)x an FT update": round(update["cost_vs_ft"]["daft"], 2),
        r"compiled updates is ([\d.]+)x": round(update["flops_vs_ft"]["daft"], 2),
        r"1e5 DAFT steps on HalfCheetah in ([\d.]+) min": round(loop["daft"]["minutes_per_1e5_steps"], 1),
        r"\(FT: ([\d.]+) min": round(loop["ft"]["minutes_per_1e5_steps"], 1),
        r"runs at ~([\d.]+) GFLOP/s": round(update["flops_per_update"]["daft"] * update["updates_per_s"]["daft"] / 1e9),
        r"\(([\d.]+) ms for [\d.]+ GFLOP\)": round(1e3 / update["updates_per_s"]["daft"], 1),
        r"ms for ([\d.]+) GFLOP\)": round(update["flops_per_update"]["daft"] / 1e9, 2),
    }
    for pattern, value in quoted.items():
        match = re.search(pattern, text)
        assert match, f"docs/adaptation.md no longer says {pattern!r}: update this test with the text"
        assert _number(match.group(1)) == value, (pattern, match.group(1), value)


@pytest.mark.parametrize("robot,row", [("halfcheetah", "HalfCheetah"), ("hopper", "Hopper"), ("walker", "Walker2d"),
                                       ("ant", "Ant")])
def test_zoo_status_table_quotes_each_cards_return(robot, row):
    card = json.loads((ROOT / "src" / "daftrl" / "zoo" / robot / "card.json").read_text())
    line = next(line for line in ZOO_DOC.splitlines() if line.startswith(f"| {row} |"))
    steps, mean, std = re.search(r"([\d.e]+) steps[^,]*, ([\d,]+) ± ([\d,]+)", line).groups()
    assert float(steps) == card["steps"], line
    assert _number(mean) == round(card["source_return"]["return_mean"]), line
    assert _number(std) == round(card["source_return"]["return_std"]), line


STUDY = ROOT / "results" / "protocol-study"
STUDY_QUOTES = {  # (task, cell): the mean final return docs/assumptions.md quotes for it
    ("halfcheetah-broken-back-thigh", "ft-a"): "5,778", ("halfcheetah-broken-back-thigh", "daft-a"): "5,692",
    ("halfcheetah-broken-back-thigh", "ft-d"): "4,205", ("halfcheetah-broken-back-thigh", "ft-c"): "5,671",
    ("halfcheetah-broken-back-thigh", "daft-c"): "5,651", ("halfcheetah-broken-back-thigh", "sgft-h1"): "4,854",
    ("halfcheetah-broken-back-thigh", "sgft-hinf"): "5,368",
    ("halfcheetah-broken-back-thigh", "ft-b"): "5,735", ("halfcheetah-broken-back-thigh", "daft-b"): "5,661",
    ("walker-no-right-thigh", "ft-a"): "2,752", ("walker-no-right-thigh", "daft-a"): "2,793",
    ("walker-no-right-thigh", "ft-d"): "958", ("walker-no-right-thigh", "ft-c"): "2,536",
    ("walker-no-right-thigh", "daft-c"): "1,244", ("walker-no-right-thigh", "sgft-h1"): "152",
    ("walker-no-right-thigh", "sgft-hinf"): "449",
    ("halfcheetah-broken-back-thigh", "sgft-h5"): "5,882", ("walker-no-right-thigh", "sgft-h5"): "283",
    ("walker-no-right-thigh", "ft-b"): "3,140", ("walker-no-right-thigh", "daft-b"): "3,224",
    ("walker-no-right-thigh", "daft-steps"): "2,889", ("walker-no-right-thigh", "daft-omega0"): "3,346",
}


@pytest.mark.parametrize("cell", sorted(STUDY_QUOTES), ids="/".join)
def test_the_protocol_study_numbers_in_the_assumptions_are_the_records(cell):
    """docs/assumptions.md's protocol-study paragraph quotes each cell's mean final return over its stored seeds:
    when a record is added, the quote must follow."""
    records = [json.loads(p.read_text()) for p in sorted((STUDY / cell[0] / cell[1]).glob("s*.json"))]
    assert records, cell
    mean = sum(r["final_return"] for r in records) / len(records)
    assert f"{round(mean):,}" == STUDY_QUOTES[cell]
    section = _flat((ROOT / "docs" / "assumptions.md").read_text().split("## Adaptation protocol")[1].split("\n## ")[0])
    assert STUDY_QUOTES[cell] in section

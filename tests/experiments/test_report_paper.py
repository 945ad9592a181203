"""`daftrl report` next to the DAFT paper's Table 2 (`daftrl.experiments.paper`): the published cells, the section
of campaign `offline-source` (ours from synthetic records, the paper's from the table) and its reference label."""

from pathlib import Path

import pytest
from test_report import make_record  # the synthetic records of the report tests (tests/experiments/test_report.py)

from daftrl.experiments import compare, grid, paper, report

HEADING = "### Offline source: ours next to the paper's Table 2"
CAMPAIGN = "offline-source"
NO_THIGHS, SHORT_FEET = "halfcheetah-no-thighs", "ant-short-feet"


def offline_source_records() -> list[dict]:
    """Campaign offline-source on two of Table 2's tasks and one task outside it: a partial DAFT run, a single-seed
    H2O run, cql-0 as a zero-shot label, `sac` (no column in the paper). cql-sac and sac also run on hopper-x, where
    daft-cql does not: the across-task comparison keeps daft-cql only because it is the campaign's reference."""
    cells = {(NO_THIGHS, "daft-cql"): [4000.0, 4100.0, 4200.0], (NO_THIGHS, "cql-0"): [300.0, 360.0, 420.0],
             (NO_THIGHS, "h2o-utd1"): [2000.0], (NO_THIGHS, "cql-sac"): [1000.0, 1100.0, 1200.0],
             (NO_THIGHS, "sac"): [2000.0, 2100.0, 2200.0],
             (SHORT_FEET, "daft-cql"): [1000.0, 1100.0, 1200.0], (SHORT_FEET, "cql-sac"): [-900.0, -800.0, -700.0],
             (SHORT_FEET, "sac"): [0.0, 100.0, 200.0],
             ("hopper-x", "cql-sac"): [400.0, 500.0, 600.0], ("hopper-x", "sac"): [500.0, 600.0, 700.0]}
    method = {"daft-cql": "daft", "cql-0": "zero-shot", "h2o-utd1": "h2o", "cql-sac": "ft", "sac": "sac"}
    records = [make_record(CAMPAIGN, task, label, seed, final, wall_h=2.0 if label == "cql-sac" else 1.0)
               | {"method": method[label]}
               for (task, label), finals in cells.items() for seed, final in enumerate(finals)]
    records.append(make_record(CAMPAIGN, SHORT_FEET, "daft-cql", 3, 9000.0, steps=50_000) | {"method": "daft"})
    return records


def test_paper_table2_holds_the_published_cells():
    table = paper.PAPER_TABLE2
    assert len(table) == 8 and all(tuple(row) == paper.PAPER_TABLE2_COLUMNS for row in table.values())
    assert paper.PAPER_TABLE2["hopper-broken-joints"]["PAR+BC"] == paper.PaperCell(2011.0, 1306.0, 4)
    assert paper.PAPER_TABLE2["ant-broken-hips"]["CQL+SAC"] == paper.PaperCell(-1814.0, 431.0)
    assert paper.paper_table2_cell("walker-no-right-thigh", "daft-cql") == paper.PaperCell(3475.0, 415.0)
    assert paper.paper_table2_cell("halfcheetah-broken-back-thigh", "bc-vgdf-utd1") == paper.PaperCell(4834.0, 250.0)
    assert paper.paper_table2_cell("hopper-x", "daft-cql") is None
    assert paper.paper_table2_cell(NO_THIGHS, "daft") is None
    with pytest.raises(TypeError):
        paper.PAPER_TABLE2["hopper-big-head"]["DAFT"] = paper.PaperCell(0.0, 0.0)  # read-only


def test_the_grid_of_table2_runs_the_papers_tasks_under_the_mapped_labels():
    jobs = grid.expand(grid.load_spec(Path(__file__).resolve().parents[2] / "grids" / "table2.toml"))
    assert {j.campaign for j in jobs} == {paper.PAPER_TABLE2_CAMPAIGN}
    assert {j.label for j in jobs} == set(paper.PAPER_TABLE2_LABELS)
    assert {j.task for j in jobs} == set(paper.PAPER_TABLE2)
    assert sorted(paper.PAPER_TABLE2_LABELS.values()) == sorted(paper.PAPER_TABLE2_COLUMNS)


def test_reference_label_is_per_campaign():
    assert compare.reference_label(paper.PAPER_TABLE2_CAMPAIGN) == "daft-cql"
    assert compare.reference_label("online") == compare.reference_label("legacy-adapt") == "daft"


def test_paper_section_sets_ours_next_to_table2(tmp_path):
    text = report.build_report(offline_source_records(), tmp_path, tmp_path / "img", reps=50)
    assert text.count(HEADING) == 1
    section = text.split(HEADING)[1].split("### `daft-cql` against each label")[0]
    assert "Gymnasium v5" in section and "not from D4RL's medium v2 datasets" in section
    assert "a reduced protocol (see docs/assumptions.md)" in section and "200 epochs" in section
    # the paper's column order, then a label without a column
    assert ("| task | `cql-0` (CQL-0) | `cql-sac` (CQL+SAC) | `h2o-utd1` (H2O) | `daft-cql` (DAFT) | `sac` (not in "
            "the paper) |") in section
    # ours: mean and t-interval over the finished seeds, t_{0.975,2} = 4.3027: 4100 -+ 4.3027 x 100 / sqrt 3 =
    # 4100 -+ 248.4; cql-0: 360 -+ 4.3027 x 60 / sqrt 3 = 360 -+ 149.1; one H2O seed: no interval
    assert ("| `halfcheetah-no-thighs` | ours: 360 [211, 509] (3) · paper: 361 ± 29 | ours: 1,100 [852, 1,348] (3) "
            "· paper: 1,184 ± 211 | ours: 2,000 — (1) · paper: 2,863 ± 209 | ours: 4,100 [3,852, 4,348] (3) · "
            "paper: 4,482 ± 96 | ours: 2,100 [1,852, 2,348] (3) · paper: — |") in section
    # the partial DAFT s3 (9,000 at 5e4 steps) is not in ours; a label with no run on the task: — (0)
    assert ("| `ant-short-feet` | ours: — (0) · paper: 1,839 ± 137 | ours: -800 [-1,048, -552] (3) · paper: -807 ± "
            "255 | ours: — (0) · paper: 3,892 ± 85 | ours: 1,100 [852, 1,348] (3) · paper: 1,518 ± 885 | ours: 100 "
            "[-148, 348] (3) · paper: — |") in section
    assert section.index("`halfcheetah-no-thighs`") < section.index("`ant-short-feet`")  # the paper's row order
    for task in set(paper.PAPER_TABLE2) - {NO_THIGHS, SHORT_FEET}:  # only tasks with records
        assert f"`{task}`" not in section
    assert "| `hopper-x` |" not in section and "Tasks not in the paper's Table 2: `hopper-x`." in section
    assert text.index("### At a glance") < text.index(HEADING) < text.index("### Per task")


def test_offline_source_compares_against_daft_cql(tmp_path):
    text = report.build_report(offline_source_records(), tmp_path, tmp_path / "img", reps=50)
    assert "### `daft` against each label" not in text
    versus = text.split("### `daft-cql` against each label, task by task")[1].split("### Per task")[0]
    assert "| task | `cql-sac` | `h2o-utd1` | `sac` | `cql-0` |" in versus  # zero-shot last
    assert "| `halfcheetah-no-thighs` | +3,000 [+2,773, +3,227] better (3 v 3) | — (3 v 1) |" in versus
    assert "| `hopper-x` | — (0 v 3) |  | — (0 v 3) |  |" in versus  # daft-cql has no run there
    assert "- `daft-cql` vs `cql-sac`: better on 2, worse on 0, level on 0 of 3 tasks (" in versus
    across = text.split("### Across tasks")[1].split("### Runtime")[0]
    # with `daft` as the reference, the 3 tasks of cql-sac and sac (6 cells, more tasks) would be chosen instead
    assert ("Finished runs of `cql-sac`, `daft-cql`, `sac` on the 2 tasks `ant-short-feet`, `halfcheetah-no-thighs`"
            in across) and "Tasks not aggregated: `hopper-x`." in across
    assert "| other label | P(daft-cql > other) | 95 % CI |" in across
    assert "| `cql-sac` | 1.00 |" in across and "| `sac` | 1.00 |" in across
    runtime = text.split("### Runtime")[1]
    assert "| vs daft-cql | machine |" in runtime
    assert "| `halfcheetah-no-thighs` | `cql-sac` | 3 | 100,000 | 2.00 | 1.60 | 50 | 2.00x |" in runtime


def test_no_paper_section_without_offline_source_records(tmp_path):
    records = [make_record("online", NO_THIGHS, label, seed, 1000.0 + seed) for label in ("daft", "daft-cql", "ft")
               for seed in range(2)]
    text = report.build_report(records, tmp_path, tmp_path / "img", reps=50)
    assert "## online" in text and "### `daft` against each label, task by task" in text
    assert "Offline source" not in text and "paper:" not in text and "Table 2" not in text


def test_paper_figure_panels_name_labels_of_the_online_grid():
    jobs = grid.expand(grid.load_spec(Path(__file__).resolve().parents[2] / "grids" / "online.toml"))
    panels = paper.PAPER_FIGURE_PANELS[jobs[0].campaign]
    labels = {j.label for j in jobs}
    assert list(panels) == ["Figure 2", "Figure 4 (ablations)", "Figure 5 (horizon H)"]
    assert all(set(members) <= labels and "daft" in members for members in panels.values())
    assert labels - {label for members in panels.values() for label in members} == {"daft-omega0"}  # drawn as other
    assert len({report._slug(name) for name in panels}) == len(panels) and report.OTHER_SLUG not in map(
        report._slug, panels)
    with pytest.raises(TypeError):
        paper.PAPER_FIGURE_PANELS["online"]["Figure 6"] = ("daft",)  # read-only

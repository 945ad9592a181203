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


# ------------------------------------------------------------------------------------- the paper's claims, checked

CHEETAH, WALKER = "halfcheetah-broken-back-thigh", "walker-no-right-thigh"
ROOT = Path(__file__).resolve().parents[2]
PAPER_TEXT = ROOT.parent / "shared" / "paper" / "daft-paper.txt"  # beside the repository, as in CI
LEVEL, LOW, HIGH = [1050.0, 1150.0, 1250.0], [500.0, 600.0, 700.0], [2000.0, 2100.0, 2200.0]  # against DAFT's


def online_claim_records() -> list[dict]:
    """Campaign online, DAFT at 1000, 1100, 1200 on both tasks; against it a claim that holds (reward-shaping below
    it on both), one that fails (ft level on both), one that partly holds (sgft below on one, level on the other),
    one with a missing seed (single-critic: one run on walker), a label not run (ft-d), the horizon H = 1 level on
    HalfCheetah (holds), H = 20 above it there (a 'level' claim that fails) and no run of either on Walker."""
    cells = {(CHEETAH, "daft"): [1000.0, 1100.0, 1200.0], (WALKER, "daft"): [1000.0, 1100.0, 1200.0],
             (CHEETAH, "reward-shaping"): LOW, (WALKER, "reward-shaping"): LOW,
             (CHEETAH, "ft"): LEVEL, (WALKER, "ft"): LEVEL,
             (CHEETAH, "sgft"): LOW, (WALKER, "sgft"): LEVEL,
             (CHEETAH, "single-critic"): LOW, (WALKER, "single-critic"): [500.0],
             (CHEETAH, "daft-h1"): LEVEL, (CHEETAH, "daft-h20"): HIGH}
    records = [make_record("online", task, label, seed, final) | {"method": label.split("-h")[0]}
               for (task, label), finals in cells.items() for seed, final in enumerate(finals)]
    records.append(make_record("online", WALKER, "ft-d", 0, 900.0, steps=50_000))  # partial: ft-d has no finished run
    return records


def claim_lines(text: str, campaign: str) -> list[str]:
    """The claim lines of a campaign's block of the Summary."""
    summary = text.split("\n## Summary\n")[1].split("\n## ")[0]
    block = summary.split(f"### {campaign}: ")[1].split("\n### ")[0]
    return block.split("The paper's claims, checked on the final return:\n\n")[1].strip().splitlines()


FIG2 = '- Section 4, Figure 2: "our approach (DAFT) outperforms FT and SGFT in all the scenarios". '
FIG4 = ('- Appendix D, Figure 4: "our proposed formulation outperforms the other formulations in all the '
        'environments". ')
FIG5_CHEETAH = '- Appendix D, Figure 5: "for half-cheetah the effect of horizon is negligible". '
FIG5_WALKER = '- Appendix D, Figure 5: "for walker, a longer horizon length=20 performs best". '


def test_summary_checks_the_papers_claims_on_the_final_return(tmp_path):
    text = report.build_report(online_claim_records(), tmp_path, tmp_path / "img", reps=50)
    # every claim covers its tasks in full: Figure 2 the paper's 8, Figure 4 our 4 ablation tasks; a task without
    # runs is "without an interval" and keeps a claim from "reproduced"
    assert claim_lines(text, "online") == [
        FIG2 + "`daft` better than `ft`: on 0 of 8 tasks (worse on 0, level on 2, +6 without an interval): **not "
               "reproduced** (6 of 8 not checked).",
        FIG2 + "`daft` better than `sgft`: on 1 of 8 tasks (worse on 0, level on 1, +6 without an interval): "
               "**partly** (1 of 8; 6 not checked).",
        FIG2 + "`daft` better than `ft-d` (FT with fresh critics and no warm-up: our reading of the paper's FT): not "
               "run yet (no finished run of `ft-d`).",
        FIG4 + "`daft` better than `single-critic`: on 1 of 4 tasks (worse on 0, level on 0, +3 without an "
               "interval): **partly** (1 of 4; 3 not checked).",
        FIG4 + "`daft` better than `single-critic-tar` (the single critic with its actor on target states only: our "
               "other reading of appendix D): not run yet (no finished run of `single-critic-tar`).",
        FIG4 + "`daft` better than `reward-shaping`: on 2 of 4 tasks (worse on 0, level on 0, +2 without an "
               "interval): **partly** (2 of 4; 2 not checked).",
        # a level claim shows its interval: 1150 - 1100 = +50, t_{0.975,4} = 2.7764 x 100 x sqrt(2 / 3) = 226.7
        FIG5_CHEETAH + "`daft-h1` level with `daft`: on 1 of 1 task (better on 0, worse on 0; "
                       "`halfcheetah-broken-back-thigh` +50 [-177, +277]): **reproduced**.",
        FIG5_CHEETAH + "`daft-h20` level with `daft`: on 0 of 1 task (better on 1, worse on 0; "
                       "`halfcheetah-broken-back-thigh` +1,000 [+773, +1,227]): **not reproduced**.",
        FIG5_CHEETAH + "`daft-h20` level with `daft-h1`: on 0 of 1 task (better on 1, worse on 0; "
                       "`halfcheetah-broken-back-thigh` +950 [+723, +1,177]): **not reproduced**.",
        FIG5_WALKER + "`daft-h20` better than `daft`: **not checked** (no task has 2 finished runs a side).",
        FIG5_WALKER + "`daft-h20` better than `daft-h1`: **not checked** (no task has 2 finished runs a side).",
    ]
    summary = text.split("\n## Summary\n")[1].split("\n## online\n")[0]
    # after the campaign's table and its named lines; the intro says so
    assert summary.index("- v `sgft`: **better** on final return") < summary.index("The paper's claims, checked")
    assert "then the DAFT paper's claims about the campaign's final returns, in its words" in summary


def test_offline_source_checks_table2s_claim_on_every_task_of_the_table(tmp_path):
    text = report.build_report(offline_source_records(), tmp_path, tmp_path / "img", reps=50)
    # better on the 2 tasks with runs of both; the other 6 of Table 2's tasks have no interval, so not reproduced
    # (cql-sac alone on hopper-x: not one of the claim's tasks; the partial daft-cql s3 does not count)
    assert claim_lines(text, CAMPAIGN) == [
        '- Appendix C, Table 2: "clearly outperform fine tuning". `daft-cql` better than `cql-sac` (the paper\'s own '
        "Table 2 has DAFT below CQL+SAC on hopper-big-head, 480 v 496): on 2 of 8 tasks (worse on 0, level on 0, +6 "
        "without an interval): **partly** (2 of 8; 6 not checked)."]


def test_no_claims_for_a_campaign_the_paper_says_nothing_of(tmp_path):
    records = [make_record("legacy-adapt", CHEETAH, label, seed, final) for label, finals in
               (("daft", [1000.0, 1100.0, 1200.0]), ("ft", LOW)) for seed, final in enumerate(finals)]
    text = report.build_report(records, tmp_path, tmp_path / "img", reps=50)
    assert "### legacy-adapt: `daft` v each label" in text and "The paper's claims" not in text


def test_claim_verdicts():
    dash = report.DASH
    assert report._claim_verdict(["better", "better"], "better") == "**reproduced**"
    assert report._claim_verdict(["level", "worse"], "better") == "**not reproduced**"
    assert report._claim_verdict(["level", dash], "better") == "**not reproduced** (1 of 2 not checked)"
    assert report._claim_verdict(["better", dash], "better") == "**partly** (1 of 2; 1 not checked)"
    assert report._claim_verdict(["level", "better"], "level") == "**partly** (1 of 2)"
    assert report._claim_verdict([dash], "level").startswith("**not checked**")
    with pytest.raises(ValueError):
        paper.PaperClaim("Figure 2", "words", "daft", "ft", "worse", ("halfcheetah-broken-back-thigh",))
    with pytest.raises(ValueError, match="tasks"):
        paper.PaperClaim("Figure 2", "words", "daft", "ft", "better", ())


def test_paper_claims_name_labels_and_tasks_of_their_grids():
    grids = {"online": "online.toml", paper.PAPER_TABLE2_CAMPAIGN: "table2.toml"}
    assert set(paper.PAPER_CLAIMS) == set(grids)
    for campaign, name in grids.items():
        jobs = grid.expand(grid.load_spec(ROOT / "grids" / name))
        assert {j.campaign for j in jobs} == {campaign}
        tasks_of: dict[str, set[str]] = {}
        for j in jobs:
            tasks_of.setdefault(j.label, set()).add(j.task)
        for claim in paper.PAPER_CLAIMS[campaign]:
            assert claim.reference in tasks_of and claim.other in tasks_of, claim
            shared = tasks_of[claim.reference] & tasks_of[claim.other]
            assert set(claim.tasks) <= shared, claim
    with pytest.raises(TypeError):
        paper.PAPER_CLAIMS["online"] = ()  # read-only


@pytest.mark.skipif(not PAPER_TEXT.is_file(), reason=f"the paper's text is not at {PAPER_TEXT}")
def test_paper_claims_quote_the_paper_verbatim():
    text = " ".join(PAPER_TEXT.read_text().split())
    quotes = {claim.quote for claims in paper.PAPER_CLAIMS.values() for claim in claims}
    assert quotes and [q for q in sorted(quotes) if q not in text] == []

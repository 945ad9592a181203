"""docs/results.md is generated from the committed results store, never edited by hand."""

from pathlib import Path

from daftrl.experiments.report import write_report

ROOT = Path(__file__).resolve().parents[2]


def test_committed_results_md_is_what_daftrl_report_writes(tmp_path):
    out = tmp_path / "docs" / "results.md"  # same place relative to its figures as the committed file
    text = write_report(ROOT / "results", out)
    committed = (ROOT / "docs" / "results.md").read_text()
    assert text == committed, "docs/results.md is out of date: run `make results-doc` and commit it"
    assert (tmp_path / "docs" / "img" / "results").is_dir()

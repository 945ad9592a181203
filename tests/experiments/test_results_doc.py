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


def test_committed_figures_are_those_daftrl_report_writes(tmp_path):
    """docs/img/results holds the figures the report writes and links, no more (no stale figure lingers)."""
    out = tmp_path / "docs" / "results.md"
    write_report(ROOT / "results", out, reps=10)  # the figure names do not depend on the bootstrap

    def names(figures):
        return sorted(path.relative_to(figures).as_posix() for path in figures.rglob("*") if path.is_file())

    assert names(ROOT / "docs" / "img" / "results") == names(tmp_path / "docs" / "img" / "results"), (
        "docs/img/results is out of date: run `make results-doc` and commit it (with the figures it removed)")

"""Every committed benchmark report is what `marl report` writes from the committed results, and the tables
the docs quote are the report's."""

from pathlib import Path

import pytest

from marl.running import report

ROOT = Path(__file__).resolve().parents[2]
REPORTS = sorted(p.parent for p in (ROOT / "benchmarks" / "results").glob("*/suite.yaml"))
QUOTED = {"mpe": ROOT / "docs" / "algorithms.md"}  # suite -> the doc that quotes its report's tables


@pytest.mark.parametrize("folder", REPORTS, ids=[p.name for p in REPORTS])
def test_the_committed_report_is_what_marl_report_writes_from_the_committed_results(folder, tmp_path):
    assert (folder / report.MERGED).is_file() and not list(folder.rglob("*.pt"))
    report.report([folder], tmp_path, plots=False)
    committed = (folder / "report.md").read_text()
    assert committed.split("\n## Plots\n")[0] == (tmp_path / "report.md").read_text()
    assert (folder / "summary.csv").read_text() == (tmp_path / "summary.csv").read_text()
    for line in committed.split("\n## Plots\n")[1].splitlines():
        if line.startswith("!["):
            assert (folder / line.split("(")[1].rstrip(")")).is_file()
    doc = QUOTED.get(folder.name)
    if doc is not None:
        text = doc.read_text()
        rows = [line for line in committed.splitlines() if line.startswith("| ") and "---" not in line]
        assert rows and all(row in text for row in rows), f"{doc} does not quote {folder / 'report.md'}"

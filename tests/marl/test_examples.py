"""Every example in examples/ runs as documented; the ones that train get a short budget on their command line
(their full runs are what their docstrings state; tests/algos/test_maddpg_example.py checks what it returns)."""

import runpy
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples").glob("*.py"))
SHORT_BUDGET = {
    "maddpg_spread": ["--total-steps", "3200", "--num-envs", "8"],
    "onpolicy_spread": ["--total-steps", "8192"],
}


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(path, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # run directories of the examples that train go here
    monkeypatch.setattr("sys.argv", [str(path), *SHORT_BUDGET.get(path.stem, [])])
    runpy.run_path(str(path), run_name="__main__")
    assert capsys.readouterr().out.strip()

"""benchmarks/mmo_learning.py: a tiny grid trains, evaluates every policy on the shared episodes, resumes from
its cell records and writes the table with intervals over seeds."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mmo_learning.py"
spec = importlib.util.spec_from_file_location("mmo_learning", SCRIPT)
script = importlib.util.module_from_spec(spec)
spec.loader.exec_module(script)

TINY = "--presets small --algos ippo --seeds 0 1 --set small.total_steps=64 small.num_envs=2 small.eval_episodes=1"


def test_a_tiny_grid_writes_cells_and_a_table_with_intervals(tmp_path):
    out = tmp_path / "learning"
    result = script.main([*TINY.split(), "--out", str(out)])
    cells = sorted(p.name for p in (tmp_path / "learning_cells").glob("*.json"))
    assert cells == [f"small_{p}_seed{s}.json" for p in ("ippo", "mmo_forager", "random") for s in (0, 1)]
    written = json.loads(out.with_suffix(".json").read_text())
    assert written["rows"] == result["rows"] and [r["policy"] for r in written["rows"]] == [
        "random",
        "mmo_forager",
        "ippo",
    ]
    for row in written["rows"]:
        for metric in script.METRICS:
            low, high = row[metric]["interval"]
            assert low <= row[metric]["mean"] <= high and len(row[metric]["per_seed"]) == 2
    trained = [c for c in written["cells"] if c["policy"] == "ippo"]
    assert all(c["total_steps"] == 64 and c["agent_steps"] == 64 * 64 for c in trained)
    table = out.with_suffix(".md").read_text()
    assert "| mmo_forager | 2 |" in table and "lifetime (ticks)" in table

    # the same seed's evaluation episodes are the same for a policy played again
    again = script.baseline_cell("small", "random", 1, written["budgets"]["small"])
    first = next(c for c in written["cells"] if c["policy"] == "random" and c["seed"] == 1)
    assert again["episodes"] == first["episodes"]

    # the cells are kept: the report is rebuilt from them without training
    (tmp_path / "learning.json").unlink()
    rebuilt = script.main([*TINY.split(), "--out", str(out), "--report-only"])
    assert rebuilt["rows"] == result["rows"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (["small.steps=3"], "expected PRESET.KEY=VALUE"),
        (["large.total_steps=3"], "expected PRESET.KEY=VALUE"),
        (["small.total_steps=0"], "must be >= 1"),
    ],
)
def test_a_bad_budget_setting_is_refused(settings, message):
    with pytest.raises(ValueError, match=message):
        script.budgets(["small"], settings, None)

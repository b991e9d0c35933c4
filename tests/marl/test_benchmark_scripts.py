"""The training benchmarks run marl.Experiment and keep their result files; unknown keys stop them."""

import importlib.util
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_maddpg_run_records_its_curve_and_both_final_evaluations(tmp_path):
    maddpg = script("maddpg_reproduction")
    settings = {"total_steps": 1600, "num_envs": 8, "log_every": 400, "eval_episodes": 8}
    record = maddpg.run_one("spread", "iddpg", 0, settings, tmp_path / "run")
    assert [point["step"] for point in record["curve"]] == [400, 800, 1200, 1600]
    assert "landmark_distance_sum" in record["curve"][-1] and record["config"]["centralised_critic"] is False
    assert set(record["final"]) == {"greedy", "sampled"} and record["total_steps"] == 1600
    random_play = maddpg.random_play("spread", [0], eval_episodes=8, num_envs=8)
    assert "collisions" in random_play[0]


def test_the_mansa_report_gives_return_and_cl_fraction_of_every_variant(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # it builds on learning_curves
    grid = script("mansa_curves")
    task = "mpe/simple_spread"
    for seed in (0, 1):
        for label, (algo, _) in grid.variants(task).items():
            curve = {
                "task": task,
                "algo": algo,
                "label": label,
                "env_steps": [64, 128],
                "eval_return": [-30, -20],
            }
            if algo == "mansa":
                curve["train_metrics"] = {
                    "mansa/cl_fraction": [0.5, 0.25],
                    "mansa/max_episode_cl_calls": [9, 8],
                }
            path = tmp_path / "curves" / "mpe__simple_spread" / label / f"seed_{seed}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(curve))
    argv = ["mansa_curves.py", "--tasks", task, "--report-only", "--out-dir", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    grid.main()
    rows = {line.split(" | ")[1]: line for line in (tmp_path / "results.md").read_text().splitlines()[4:]}
    assert set(rows) == set(grid.variants(task))
    assert (
        "| -20.000 [-20.000, -20.000] (2) | +0.000 [+0.000, +0.000] | 0.000 [0.000, 0.000] (2) | - |"
        in rows["ippo"]
    )
    assert "| - | 1.000 [1.000, 1.000] (2) |" in rows["mappo"]  # CL alone calls CL at every agent-step
    assert "| 0.250 [0.250, 0.250] (2) | 9 |" in rows["mansa_budget"]
    assert (tmp_path / "plots" / "mpe__simple_spread_cl_fraction.png").is_file()


def test_the_robots_grid_table_gives_mean_and_range_over_seeds_beside_the_scripted_rows(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))  # it takes the controllers from robots_baselines
    grid = script("robots_grid")
    metrics = dict.fromkeys(grid.METRICS, 0.0)
    baselines = [
        {"controller": "cbf_aggressive", "scenario": "circle", "robots": 8, "seed": s, **metrics}
        for s in (0, 1)
    ]
    (tmp_path / "baselines.json").write_text(json.dumps({"meta": {}, "rows": baselines}))
    episodes = {
        f"gnn_cbf|circle|8|{seed}": {m: [value, value] for m in grid.METRICS} | {"seconds": 1.0}
        for seed, value in ((0, 0.25), (1, 0.75))
    }
    episodes["gnn_cbf|circle|32|0"] = episodes["gnn_cbf|circle|8|0"]  # another cell, left out by --robots
    (tmp_path / "grid.json").write_text(json.dumps({"meta": {}, "episodes": episodes}))
    common = ["--scenarios", "circle", "--robots", "8", "--seeds", "0", "1", "--trained", "gnn_cbf"]
    grid.main(
        ["grid", "--no-eval", "--out", str(tmp_path), "--baselines", str(tmp_path / "baselines.json")]
        + common
    )
    lines = (tmp_path / "grid.md").read_text().splitlines()
    assert len(lines) == 4  # header, rule, the fixed gain, the trained policy
    assert lines[2].startswith("| circle | 8 | cbf_aggressive | 2 | 0 [0, 0] |")
    assert lines[3].startswith("| circle | 8 | gnn_cbf | 2 | 0.5 [0.25, 0.75] |")
    assert not grid.finished(tmp_path / "no_such_run")

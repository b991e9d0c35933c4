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

"""The training benchmarks run marl.Experiment and keep their result files; unknown keys stop them."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_learning_curve_has_one_point_per_interval_and_its_run_directory_beside_it(tmp_path):
    learning_curves = script("learning_curves")
    path = tmp_path / "runs" / "test__toy_walk" / "ippo" / "seed_0.json"
    job = {
        "task": "test/toy_walk:n_walkers=2",
        "algo": "ippo",
        "seed": 0,
        "steps": 640,  # iterations of 32 steps x 4 copies: points at 256, 512 and the end, 640
        "num_envs": 4,
        "points": 3,
        "eval_episodes": 4,
        "deterministic": True,
        "overrides": {"epochs": 1, "num_minibatches": 2},
        "path": str(path),
        "run_dir": str(path.with_suffix("")),
    }
    assert learning_curves.run(job) == str(path)
    result = json.loads(path.read_text())
    assert result["env_steps"] == [256, 512, 640]
    assert len(result["train_return"]) == len(result["eval_return"]) == 3
    assert result["config"]["epochs"] == 1 and result["deterministic_eval"] is True
    assert (path.with_suffix("") / "checkpoints" / "last.pt").is_file()


def test_a_hyperparameter_an_algorithm_lacks_stops_the_grid_before_any_run(tmp_path, monkeypatch):
    learning_curves = script("learning_curves")
    argv = ["learning_curves.py", "--algos", "ippo", "dpo", "--tasks", "test/toy_walk", "--seeds", "0"]
    monkeypatch.setattr(sys, "argv", [*argv, "--set", "target_kl=0.02", "--out-dir", str(tmp_path)])
    with pytest.raises(ValueError, match="'algo.target_kl'"):  # DPO has it, IPPO does not
        learning_curves.main()
    assert not (tmp_path / "runs").exists()


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

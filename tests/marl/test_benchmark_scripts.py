"""The training benchmarks run marl.Experiment and keep their result files; unknown keys stop them."""

import importlib.util
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

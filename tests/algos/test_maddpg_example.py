"""The MADDPG example and experiment presets stay runnable."""

import importlib.util
from pathlib import Path

import yaml

import envs.mpe
import marl

ROOT = Path(__file__).parents[2]


def test_example_trains_and_evaluates(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the example's run directory goes here
    spec = importlib.util.spec_from_file_location("maddpg_example", ROOT / "examples" / "maddpg_spread.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    summary = module.main(["--total-steps", "1600", "--num-envs", "8", "--ensemble-size", "2"])
    assert {"episode_return", "landmark_distance", "collisions"} <= set(summary)


def test_experiment_presets_name_registered_tasks_and_algorithms():
    from algos.maddpg import register

    envs.mpe.register()
    register()
    for name in ("maddpg_spread", "maddpg_tag"):
        path = ROOT / "configs" / "experiment" / f"{name}.yaml"
        assert path.read_text().startswith("# @package _global_\n")
        preset = yaml.safe_load(path.read_text())
        env_override, algo_override, last = preset["defaults"]
        assert last == "_self_"
        assert env_override["override /env"] in marl.list_envs()
        assert algo_override["override /algo"] == "maddpg" and "maddpg" in marl.list_algos()
        assert preset["total_steps"] == 60_000 * 25 and preset["num_envs"] > 0

"""benchmarks/pathfinding_baselines.py evaluates real `marl train` checkpoints with their trained observations."""

import importlib.util
import json
from pathlib import Path

import pytest
import torch

import marl
from envs.pathfinding import register, register_baselines
from marl.running.cli import main as marl_main

register()
register_baselines()

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pathfinding_baselines.py"
spec = importlib.util.spec_from_file_location("pathfinding_baselines", SCRIPT)
baselines = importlib.util.module_from_spec(spec)
spec.loader.exec_module(baselines)

TINY = [
    "env=pathfinding/random",
    "env.size=10",
    "env.n_agents=4",
    "env.max_steps=16",
    "env.path_channel=true",
    "env.obs_radius=3",
    "algo=ippo",
    "model.hidden_sizes=[16]",
    "num_envs=2",
    "total_steps=256",
    "eval_episodes=1",
    "torch_threads=1",
    "progress=false",
]


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("run")
    marl_main(["train", *TINY, "model.agent_id_size=0", f"run_dir={run}"])
    return run / "checkpoints" / "last.pt"


def test_a_checkpoint_is_rebuilt_with_its_weights_and_trained_observations(checkpoint):
    loaded = baselines.Checkpoint(str(checkpoint))
    assert loaded.algo_name == "ippo" and loaded.config.model.hidden_sizes == [16]
    assert loaded.observation == {
        "observation": "pogema",
        "obs_radius": 3,
        "path_channel": True,
        "action_mask": False,
    }
    env = marl.make(
        "pathfinding/maps", num_envs=1, seed=0, map_set="maze/maze-21-*", n_agents=7, **loaded.observation
    )
    algo = loaded.build(env, n_agents=7)
    saved = torch.load(checkpoint, weights_only=False)["algorithm"]
    rebuilt = algo.state_dict()["models"]
    assert saved["models"].keys() == rebuilt.keys()
    for name, tensor in saved["models"].items():
        assert torch.equal(rebuilt[name], tensor), name


def test_the_script_evaluates_a_trained_policy_beside_a_baseline(checkpoint, tmp_path):
    out = tmp_path / "table.md"
    table = baselines.main(
        [
            "--algos", "pathfinding_follow", "ippo",
            "--checkpoint", f"ippo={checkpoint}", f"ippo={checkpoint}",
            "--map-sets", "maze 21x21",
            "--agents", "6",
            "--seeds", "0", "1",
            "--copies", "2",
            "--max-steps", "12",
            "--out", str(out),
        ]
    )  # fmt: skip
    assert out.read_text() == table
    assert "Trained policies take their most likely action." in table
    assert (
        "ippo: 2 checkpoint(s), observations {'observation': 'pogema', 'obs_radius': 3, 'path_channel': True"
        in table
    )
    row = next(line for line in table.splitlines() if line.startswith("| maze 21x21 | 6 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert len(cells) == 4 and all("(" in cell for cell in cells[2:])


def test_the_script_runs_a_checkpoint_through_pathfinding_follower_and_writes_json(checkpoint, tmp_path):
    out = tmp_path / "throughput.json"
    baselines.main(
        [
            "--algos", "pathfinding_follower",
            "--checkpoint", f"pathfinding_follower={checkpoint}",
            "--map-sets", "maze 21x21",
            "--agents", "5",
            "--seeds", "0", "1", "2",
            "--copies", "1",
            "--max-steps", "8",
            "--json", str(out),
        ]
    )  # fmt: skip
    saved = json.loads(out.read_text())
    (row,) = saved["results"]
    assert row["algo"] == "pathfinding_follower" and row["agents"] == 5 and len(row["per_seed"]) == 3
    assert row["ci95_low"] <= row["min"] <= row["mean"] <= row["max"] <= row["ci95_high"]
    assert saved["checkpoints"] == {"pathfinding_follower": [str(checkpoint)]}


def test_wrong_checkpoint_lists_are_refused_by_name(checkpoint):
    with pytest.raises(SystemExit):
        baselines.main(
            ["--algos", "ippo", "--seeds", "0", "1", "2", "--checkpoint", *[f"ippo={checkpoint}"] * 2]
        )
    with pytest.raises(ValueError, match="holds a 'ippo' run, not 'mappo'"):
        baselines.parse_checkpoints([f"mappo={checkpoint}"], ["mappo"], [0])
    with pytest.raises(ValueError, match="expected a `marl train` checkpoint"):
        path = Path(checkpoint).with_name("plain.pt")
        torch.save(torch.load(checkpoint, weights_only=False)["algorithm"], path)
        baselines.Checkpoint(str(path))


def test_agent_ids_refuse_another_agent_count(tmp_path):
    marl_main(["train", *TINY, "model.agent_id_size=4", f"run_dir={tmp_path}"])
    loaded = baselines.Checkpoint(str(tmp_path / "checkpoints" / "last.pt"))
    env = marl.make("pathfinding/random", num_envs=1, seed=0, size=10, n_agents=5, **loaded.observation)
    with pytest.raises(ValueError, match="agent ids on 4 agents, so it cannot run 5"):
        loaded.build(env, n_agents=5)


def test_trained_policies_can_sample_their_actions(checkpoint):
    args = [
        "--algos",
        "ippo",
        "--checkpoint",
        f"ippo={checkpoint}",
        "--map-sets",
        "random 20x20",
        "--agents",
        "4",
    ]
    table = baselines.main([*args, "--seeds", "0", "--copies", "1", "--max-steps", "8", "--sample"])
    assert "Trained policies sample their actions." in table

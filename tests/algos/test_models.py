"""Models as a config group: encoders chosen from the observation structure, agent-id embeddings, graph layers,
and the `model` key of a run."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from arena_env import RespawnArena
from beacon_env import BeaconGrid
from toy_env import ToyWalk

import marl
from algos.ppo import IPPO, MAPPO
from marl.learning.models import EntityField, GridField, GroupNetwork, ModelConfig

BOX = gym.spaces.Box(-1.0, 1.0, (6,), np.float32)
DICT = gym.spaces.Dict(
    {
        "grid": gym.spaces.Box(0.0, 1.0, (2, 4, 4), np.float32),
        "items": gym.spaces.Box(0.0, 1.0, (5, 3), np.float32),
        "items_mask": gym.spaces.Box(0.0, 1.0, (5,), np.float32),
        "speed": gym.spaces.Box(-1.0, 1.0, (2,), np.float32),
    }
)


def no_hidden(*lead):
    return torch.zeros(*lead, 0), torch.zeros(1, *lead, dtype=torch.bool)


@pytest.mark.parametrize(
    ("kind", "parts"),
    [
        ("mlp", ["FlatField"] * 4),
        ("cnn", ["GridField", "FlatField", "FlatField", "FlatField"]),
        ("entity", ["GridField", "EntityField", "FlatField"]),
        ("gru", ["GridField", "EntityField", "FlatField"]),
    ],
)
def test_each_kind_encodes_the_structure_it_knows(kind, parts):
    network = GroupNetwork(DICT, 3, ModelConfig(kind=kind), has_neighbours=False)
    assert [type(p).__name__ for p in network.encoder.parts] == parts
    obs = {key: torch.rand(1, 7, 3, *space.shape) for key, space in DICT.spaces.items()}
    hidden = torch.zeros(7, 3, network.hidden_size)
    features, _ = network(obs, hidden, torch.zeros(1, 7, 3, dtype=torch.bool))
    assert features.shape == (1, 7, 3, network.out_features)


def test_grid_convolutions_keep_the_grid_size():
    field = GridField((2, 5, 6), ModelConfig(cnn_channels=[4, 8], cnn_kernel=3))
    assert field(torch.rand(3, 2, 2, 5, 6)).shape == (3, 2, 8 * 5 * 6)


def test_entity_sets_ignore_empty_slots_and_order():
    torch.manual_seed(0)
    field = EntityField(3, ModelConfig(entity_size=8))
    entities, mask = torch.rand(4, 6, 3), torch.rand(4, 6) < 0.6
    mask[0] = False  # no valid entity: zeros, not NaN or -inf
    out = field(entities, mask)
    noisy = torch.where(mask[..., None], entities, torch.rand(4, 6, 3) * 10)
    assert torch.equal(field(noisy, mask), out)
    order = torch.randperm(6)
    assert torch.allclose(field(entities[:, order], mask[:, order]), out, atol=1e-6)
    assert torch.equal(out[0], torch.zeros(16))


def test_agent_ids_are_a_learned_embedding_not_a_stored_one_hot():
    torch.manual_seed(0)
    network = GroupNetwork(BOX, 4, ModelConfig(agent_id_size=5), has_neighbours=False)
    assert network.agent_id.weight.shape == (4, 5) and network.agent_id.weight.requires_grad
    hidden, starts = no_hidden(2, 4)
    same = torch.rand(1, 2, 1, 6).expand(1, 2, 4, 6)  # every agent sees the same observation
    features, _ = network(same, hidden, starts)
    assert not torch.allclose(features[:, :, 0], features[:, :, 1])  # yet the agents are told apart
    with pytest.raises(ValueError, match="agent ids for 4 agents but got 3"):
        network(same[:, :, :3], hidden[:, :3], starts[:, :, :3])
    anonymous = GroupNetwork(BOX, 4, ModelConfig(agent_id_size=0), has_neighbours=False)
    features, _ = anonymous(same, hidden, starts)
    assert torch.allclose(features[:, :, 0], features[:, :, 1])
    assert anonymous(same[:, :, :3], hidden[:, :3], starts[:, :, :3])[0].shape[2] == 3  # any agent count


@pytest.mark.parametrize("conv", ["graph", "gatv2"])
def test_graph_layers_read_exactly_the_neighbours(conv):
    """Agent 0's features change with its neighbour's observation and not with anyone else's."""
    torch.manual_seed(0)
    network = GroupNetwork(BOX, 4, ModelConfig(kind="gnn", gnn_conv=conv, gnn_layers=1), has_neighbours=True)
    index = torch.tensor([[[1, 0], [0, 2], [1, 3], [2, 0]]])  # [B=1, n=4, k=2]
    mask = torch.tensor([[[True, False], [True, True], [True, True], [True, False]]])
    neighbours = (index[None], mask[None])
    hidden, starts = no_hidden(1, 4)
    obs = torch.rand(1, 1, 4, 6)
    base, _ = network(obs, hidden, starts, neighbours)
    for other, expect_change in [(1, True), (2, False), (3, False)]:
        changed = obs.clone()
        changed[..., other, :] += 1.0
        out, _ = network(changed, hidden, starts, neighbours)
        assert (not torch.allclose(out[..., 0, :], base[..., 0, :])) == expect_change, other


@pytest.mark.parametrize("conv", ["graph", "gatv2"])
def test_gnn_learners_train_on_published_neighbours(conv):
    torch.manual_seed(0)
    env = RespawnArena(num_envs=4, seed=0, n_agents=4, k=2)
    algo = MAPPO(env, {"rollout_length": 8}, "cpu", ModelConfig(kind="gnn", gnn_conv=conv))
    assert algo.models["agent"].uses_neighbours
    before = [p.clone() for p in algo.models.parameters()]
    metrics = algo.train_iteration().metrics
    assert all(np.isfinite(v) for v in metrics.values())
    assert "neighbour_index" in algo.collector.rollout.groups["agent"]
    assert any(not torch.equal(a, b) for a, b in zip(before, algo.models.parameters(), strict=True))
    batch = algo.prepare_batch()["agent"].data  # the update replays the rollout's policy exactly
    with torch.no_grad():
        dist, values_n = algo.evaluate("agent", batch)
    assert torch.allclose(dist.log_prob(batch.action), batch.log_prob, atol=1e-5)
    assert torch.allclose(values_n, batch.value_n, atol=1e-5)


def test_models_take_any_observation_structure_for_every_learner():
    for kind in ("mlp", "cnn", "entity", "gru"):
        algo = IPPO(BeaconGrid(num_envs=2, seed=0), {"rollout_length": 8}, "cpu", {"kind": kind})
        algo.train_iteration()
        marl.evaluate(algo, BeaconGrid(num_envs=2), 2, deterministic=False, seed=0)


def test_a_vector_group_under_cnn_gets_an_mlp():
    algo = IPPO(ToyWalk(num_envs=2, seed=0), {}, "cpu", ModelConfig(kind="cnn"))
    assert [type(p).__name__ for p in algo.models["walker"].actor_network.encoder.parts] == ["FlatField"]


def test_the_model_group_is_chosen_on_the_command_line(tmp_path):
    from omegaconf import OmegaConf

    from marl.running.cli import main

    run = tmp_path / "run"
    args = ["env=test/toy_walk", "algo=ippo", "algo.rollout_length=8", "num_envs=2", "total_steps=32"]
    main(
        [
            "train",
            *args,
            "model=gru",
            "model.gru_hidden=16",
            "eval_episodes=2",
            "progress=false",
            f"run_dir={run}",
        ]
    )
    model = OmegaConf.load(run / "config.yaml").model
    assert model.kind == "gru" and model.gru_hidden == 16 and model.hidden_sizes == [64, 64]


def test_a_mistyped_model_choice_is_named(tmp_path, capsys):
    from marl.running.cli import main

    with pytest.raises(SystemExit):
        main(["train", "env=test/toy_walk", "model=grru", f"run_dir={tmp_path}"])
    assert "Did you mean 'gru'?" in capsys.readouterr().err


def test_an_algorithm_with_its_own_networks_refuses_a_model(tmp_path, capsys):
    from marl.running.cli import main

    with pytest.raises(SystemExit):
        main(
            [
                "train",
                "env=test/toy_walk",
                "algo=random",
                "model=gru",
                "progress=false",
                f"run_dir={tmp_path}",
            ]
        )
    assert "'random' builds its own networks and takes no model config" in capsys.readouterr().err


def test_an_experiment_takes_a_model_by_name_or_by_keys(tmp_path):
    by_name = marl.Experiment(env="test/toy_walk", algo="ippo", model="gru", run_dir=str(tmp_path / "a"))
    assert by_name.algo.model_config.kind == "gru"
    by_keys = marl.Experiment(
        env="test/toy_walk",
        algo="ippo",
        model={"kind": "cnn", "agent_id_size": 0},
        run_dir=str(tmp_path / "b"),
    )
    assert by_keys.algo.model_config.kind == "cnn" and by_keys.algo.model_config.agent_id_size == 0

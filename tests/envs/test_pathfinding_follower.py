"""Learn to Follow's follower on the pathfinding environment: its observation (obstacles -1 / planned path +1,
agents), the reward for entering the next cell of the planned path, the congestion-aware planner behind both
(following map changes on auto-reset), and `pathfinding_follower` running a trained checkpoint."""

import pytest
import torch

import marl
from envs.pathfinding import register, register_baselines
from envs.pathfinding.congestion import CongestionPlanner, static_penalties
from marl.running.cli import main as marl_main

register()
register_baselines()
WAIT, UP, DOWN, LEFT, RIGHT = range(5)
RING = ("########", "#......#", "#.####.#", "#......#", "########")


def ring_env(tmp_path, n_agents, radius=2, mode="lifelong", **kw):
    ring = tmp_path / "ring.txt"
    ring.write_text("\n".join(RING) + "\n")
    options = dict(map_set=str(ring), n_agents=n_agents, obs_radius=radius, mode=mode, observation="follower")
    return marl.make("pathfinding/maps", num_envs=1, seed=0, **options, **kw)


def windows(env, step):
    grid, direction = env.split_observation(step["agent"].obs)
    assert direction.shape[-1] == 0  # no goal direction: the path says where to go
    return grid[0]  # [n, 2, K, K]


def test_the_observation_draws_obstacles_the_planned_path_up_to_the_window_edge_and_agents(tmp_path):
    env = ring_env(tmp_path, n_agents=2)
    env.reset()
    env.place_agents(0, [(1, 1), (3, 6)], [(1, 6), (3, 2)])
    step = env.step({"agent": torch.tensor([[WAIT, WAIT]])})
    assert env.channels == ("obstacles_path", "agents")
    path, agents = windows(env, step)[0]
    # window rows -1..3, columns -1..3 around (1, 1): off-map and walls are -1; the path along the top row is
    # drawn from the agent's own cell to (1, 3), the last cell inside the window, and not beyond
    expected = torch.tensor(
        [
            [-1, -1, -1, -1, -1],
            [-1, -1, -1, -1, -1],
            [-1, -1, 1, 1, 1],
            [-1, -1, 0, -1, -1],
            [-1, -1, 0, 0, 0],
        ],
        dtype=torch.float32,
    )
    assert torch.equal(path, expected)
    assert agents.sum() == 1 and agents[2, 2] == 1  # itself; the other agent is out of view
    assert env.next_path_cell[0].tolist() == [1 * 8 + 2, 3 * 8 + 5]


def test_entering_the_next_planned_cell_earns_the_path_reward_and_goals_the_goal_reward(tmp_path):
    env = ring_env(tmp_path, n_agents=2, goal_reward=0.0, path_reward=0.01)
    env.reset()
    env.place_agents(0, [(1, 1), (3, 6)], [(1, 3), (3, 2)])
    env.step({"agent": torch.tensor([[WAIT, WAIT]])})
    step = env.step({"agent": torch.tensor([[RIGHT, DOWN]])})  # on the path; into a wall (a wait)
    assert step["agent"].reward[0].tolist() == pytest.approx([0.01, 0.0])
    step = env.step({"agent": torch.tensor([[RIGHT, DOWN]])})  # reaches its goal: path reward only
    assert step["agent"].reward[0].tolist() == pytest.approx([0.01, 0.0])
    assert env.goals_reached[0].item() == 1
    step = env.step({"agent": torch.tensor([[WAIT, LEFT]])})
    assert step["agent"].reward[0, 1].item() == pytest.approx(0.01)

    default = ring_env(tmp_path, n_agents=2)
    default.reset()
    default.place_agents(0, [(1, 1), (3, 6)], [(1, 2), (3, 2)])
    default.step({"agent": torch.tensor([[WAIT, WAIT]])})
    step = default.step({"agent": torch.tensor([[RIGHT, LEFT]])})
    assert step["agent"].reward[0].tolist() == [1.0, 0.0]  # defaults: +1 per goal, no path reward


def test_agents_seen_on_the_short_route_turn_the_planned_path_round_the_long_one(tmp_path):
    # classic mode: agents 1 and 2 stand on their goals on the top row and stay; agent 0 waits at (1, 1) and
    # sees them every step: the top row costs 5 + 2 per step seen against 9 round the bottom (after two steps
    # both cost 9, and the tie goes to the first move in MOVES order: down)
    env = ring_env(tmp_path, n_agents=3, radius=5, mode="classic")
    env.reset()
    env.place_agents(0, [(1, 1), (1, 3), (1, 4)], [(1, 6), (1, 3), (1, 4)])
    wait = {"agent": torch.zeros(1, 3, dtype=torch.long)}
    next_cells = []
    for _ in range(4):
        env.step(wait)
        next_cells.append(env.next_path_cell[0, 0].item())
    assert next_cells == [1 * 8 + 2, 2 * 8 + 1, 2 * 8 + 1, 2 * 8 + 1]
    assert env.next_path_cell[0, 1:].tolist() == [-1, -1]  # on their goals: no path


def test_the_planner_follows_new_maps_on_auto_reset():
    env = marl.make(
        "pathfinding/random", num_envs=3, seed=0, size=9, density=0.3, n_agents=6, max_steps=2,
        observation="follower",
    )  # fmt: skip
    env.reset()
    first_maps = env.free.clone()
    for _ in range(2):
        step = env.step(env.sample_actions())
    assert step.done.all() and not torch.equal(env.free, first_maps)  # every copy has a new random map
    planner = env.congestion
    assert torch.equal(planner.free, env.free)
    assert torch.equal(planner.static, static_penalties(env.free).flatten(1))
    # the counts started again on the new maps: exactly one observation's worth, as a fresh planner's
    fresh = CongestionPlanner(env.free, env.n_agents, env.radius)
    fresh.observe(env.pos, env.goal, env.alive["agent"])
    assert torch.equal(planner.seen, fresh.seen)
    assert torch.equal(env.next_path_cell, fresh.paths(env.pos, env.goal, 1)[..., 0])


def test_bad_follower_settings_are_refused(tmp_path):
    with pytest.raises(ValueError, match="observation=follower already draws"):
        ring_env(tmp_path, n_agents=1, path_channel=True)
    with pytest.raises(ValueError, match="path_reward=0.01 rewards following"):
        marl.make("pathfinding/random", num_envs=1, path_reward=0.01)
    with pytest.raises(ValueError, match="observation"):
        marl.make("pathfinding/random", num_envs=1, observation="pogema2")


TINY = [
    "experiment=pathfinding_follower",
    "env.map_set=maze/maze-17-s0.txt",
    "env.n_agents=4",
    "env.max_steps=16",
    "env.obs_radius=3",
    "model.hidden_sizes=[16]",
    "num_envs=2",
    "total_steps=64",
    "eval_every=64",
    "eval_episodes=1",
    "torch_threads=1",
    "progress=false",
]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run = tmp_path_factory.mktemp("follower_run")
    marl_main(["train", *TINY, f"run_dir={run}"])
    return run


@pytest.mark.slow  # a `marl train` run and a `marl eval` through the command line
def test_pathfinding_follower_runs_a_trained_checkpoint_on_other_maps_and_agent_counts(run, tmp_path):
    entry = marl.core.registry.algo_entry("pathfinding_follower")
    env = marl.make(
        "pathfinding/maps", num_envs=2, seed=0, map_set="random/random-20-*", n_agents=7, max_steps=16,
        obs_radius=3, observation="follower",
    )  # fmt: skip
    policy = entry.factory(env, entry.config_class(checkpoint=str(run)), torch.device("cpu"))
    saved = torch.load(run / "checkpoints" / "last.pt", weights_only=False)["algorithm"]["models"]
    loaded = policy.policy.state_dict()["models"]
    assert saved.keys() == loaded.keys() and all(torch.equal(saved[k], loaded[k]) for k in saved)
    results = marl.evaluate(policy, env, episodes=2, deterministic=False, seed=0)
    assert len(results["throughput"]) == 2
    with pytest.raises(RuntimeError, match="nothing to train"):
        policy.train_iteration()
    # through the command line, as the docs show it
    out = tmp_path / "eval"
    marl_main(
        [
            "eval", "algo=pathfinding_follower", f"algo.checkpoint={run}", "env=pathfinding/maps",
            "env.map_set=maze/maze-21-s0.txt", "env.observation=follower", "env.obs_radius=3", "env.n_agents=5",
            "env.max_steps=8", "eval_episodes=1", "num_envs=1", f"run_dir={out}", "torch_threads=1",
        ]
    )  # fmt: skip
    assert list(out.glob("*.json"))


@pytest.mark.slow  # a `marl train` run and a `marl eval` through the command line
def test_pathfinding_follower_refuses_an_environment_with_other_observations(run):
    entry = marl.core.registry.algo_entry("pathfinding_follower")
    env = marl.make("pathfinding/random", num_envs=1, n_agents=4, obs_radius=3)
    with pytest.raises(ValueError, match="observation.*'pogema' \\(trained: 'follower'\\)"):
        entry.factory(env, entry.config_class(checkpoint=str(run)), torch.device("cpu"))
    with pytest.raises(ValueError, match="needs algo.checkpoint"):
        entry.factory(env, entry.config_class(), torch.device("cpu"))


def test_the_congestion_planner_with_a_fixed_follower_beats_random_actions():
    def throughput(name):
        env = marl.make(
            "pathfinding/random", num_envs=4, seed=0, size=12, density=0.2, n_agents=12, max_steps=48,
            observation="follower",
        )  # fmt: skip
        if name == "random":
            algo = marl.RandomPolicy(env, None, "cpu")
        else:
            entry = marl.core.registry.algo_entry(name)
            algo = entry.factory(env, entry.config_class(), "cpu")
        return sum(marl.evaluate(algo, env, episodes=4, deterministic=True, seed=1)["throughput"]) / 4

    assert throughput("pathfinding_congestion") > 2 * throughput("random")
    entry = marl.core.registry.algo_entry("pathfinding_congestion")
    with pytest.raises(ValueError, match="set env.observation=follower"):
        entry.factory(marl.make("pathfinding/random", num_envs=1), entry.config_class(), "cpu")


def test_a_map_set_can_join_several_specs_with_commas():
    from envs.pathfinding.maps import resolve_map_files

    joined = resolve_map_files("maze/maze-17-*, random/random-16-*,maze/maze-17-s0.txt")
    assert [p.name for p in joined] == sorted(
        p.name for p in resolve_map_files("maze/maze-17-*") + resolve_map_files("random/random-16-*")
    )
    with pytest.raises(ValueError, match="empty part"):
        resolve_map_files("maze/maze-17-*,")

"""Pathfinding environment: modes (termination, rewards, statistics), goal reachability, observations, the
planner's distance maps, seeding and auto-reset."""

from collections import deque

import numpy as np
import pytest
import torch

import marl
from envs.pathfinding import PathfindingConfig, PathfindingEnv, RandomMaps, register
from envs.pathfinding.maps import GridMap, write_map
from envs.pathfinding.planning import UNREACHABLE, ComponentTables, component_labels, distance_maps

register()
WAIT, UP, DOWN, LEFT, RIGHT = range(5)


def corridor_env(tmp_path, mode, n_agents=2, max_steps=20, rows=("#######", "#.....#", "#######"), **kw):
    path = tmp_path / "corridor.txt"
    path.write_text("\n".join(rows) + "\n")
    return marl.make(
        "pathfinding/maps",
        num_envs=1,
        seed=0,
        map_set=str(path),
        n_agents=n_agents,
        mode=mode,
        max_steps=max_steps,
        **kw,
    )


def place(env, positions, goals):
    env.place_agents(0, positions, goals)


def act(env, *actions):
    return env.step({"agent": torch.tensor([list(actions)])})


def test_finish_mode_rewards_terminates_and_removes_arrived_agents(tmp_path):
    env = corridor_env(tmp_path, "finish")
    env.reset()
    place(env, [(1, 2), (1, 1)], [(1, 3), (1, 5)])
    s = act(env, RIGHT, WAIT)
    assert s["agent"].reward.tolist() == [[1.0, 0.0]]
    assert s["agent"].terminated.tolist() == [[True, False]]
    assert s["agent"].alive.tolist() == [[False, True]]
    # agent 0 left the map: agent 1 walks through its goal cell without being blocked
    for _ in range(3):
        s = act(env, WAIT, RIGHT)
        assert not bool(s.done[0])
    assert env.pos[0, 1].item() == 1 * env.width + 4
    s = act(env, WAIT, RIGHT)
    assert s.done.tolist() == [True] and not bool(s.truncated[0])
    assert s["agent"].reward.tolist() == [[0.0, 1.0]]
    assert s.info["isr"].item() == 1.0 and s.info["csr"].item() == 1.0
    assert s.info["sum_of_costs"].item() == 1 + 5 and s.info["makespan"].item() == 5
    assert s.info["episode_length"].item() == 5


def test_agent_on_the_cell_of_a_finished_agent_is_observed(tmp_path):
    # agent 1 leaves the map at (1, 3); agent 0, a lower index, then stands on that cell: the agent channel
    # must still show it (one present agent there), whatever order the two are drawn in
    env = corridor_env(tmp_path, "finish")
    env.reset()
    place(env, [(1, 1), (1, 2)], [(1, 5), (1, 3)])
    act(env, WAIT, RIGHT)
    s = act(env, RIGHT, WAIT)
    s = act(env, RIGHT, WAIT)
    assert env.pos[0].tolist() == [1 * env.width + 3] * 2 and s["agent"].alive.tolist() == [[True, False]]
    grid, _ = env.split_observation(s["agent"].obs)
    agents_channel = env.channels.index("agents")
    assert grid[0, 0, agents_channel, env.radius, env.radius].item() == 1.0


def test_classic_mode_rewards_only_when_all_stand_on_goals(tmp_path):
    env = corridor_env(tmp_path, "classic")
    env.reset()
    place(env, [(1, 2), (1, 4)], [(1, 3), (1, 5)])
    s = act(env, RIGHT, WAIT)  # agent 0 arrives, agent 1 not yet
    assert s["agent"].reward.tolist() == [[0.0, 0.0]] and not s["agent"].terminated.any()
    assert s["agent"].alive.all()  # agents stay on the map
    s = act(env, LEFT, WAIT)  # agent 0 steps off its goal again
    s = act(env, RIGHT, RIGHT)  # now both arrive at once
    assert s["agent"].reward.tolist() == [[1.0, 1.0]]
    assert s["agent"].terminated.tolist() == [[True, True]] and s.done.tolist() == [True]
    assert s.info["csr"].item() == 1.0
    assert s.info["sum_of_costs"].item() == 3 + 3  # agent 0's last arrival counts, not its first


def test_classic_mode_truncates_with_partial_success(tmp_path):
    env = corridor_env(tmp_path, "classic", max_steps=2)
    env.reset()
    place(env, [(1, 2), (1, 4)], [(1, 3), (1, 1)])
    act(env, RIGHT, WAIT)
    s = act(env, WAIT, WAIT)
    assert s.truncated.tolist() == [True] and not s["agent"].terminated.any()
    assert s.info["isr"].item() == 0.5 and s.info["csr"].item() == 0.0
    assert s.info["makespan"].item() == 2  # the episode length for the agent that never arrived


def test_lifelong_mode_draws_new_goals_in_the_same_component(tmp_path):
    rows = ("#########", "#...#...#", "#########")  # two components of three cells
    env = corridor_env(tmp_path, "lifelong", rows=rows, max_steps=30)
    env.reset()
    place(env, [(1, 1), (1, 7)], [(1, 2), (1, 6)])
    left = {1 * env.width + c for c in (1, 2, 3)}
    right = {1 * env.width + c for c in (5, 6, 7)}
    s = act(env, RIGHT, LEFT)
    assert s["agent"].reward.tolist() == [[1.0, 1.0]] and not s["agent"].terminated.any()
    reached = 2
    for _ in range(28):
        goal = env.goal[0].tolist()
        assert goal[0] in left and goal[1] in right
        assert goal[0] != env.pos[0, 0].item() and goal[1] != env.pos[0, 1].item()
        # walk each agent straight at its goal (one row: left or right)
        a = [RIGHT if g > p else LEFT for g, p in zip(goal, env.pos[0].tolist(), strict=True)]
        s = act(env, *a)
        reached += int(s["agent"].reward.sum())
    s = act(env, WAIT, WAIT)
    assert s.truncated.tolist() == [True] and s.done.tolist() == [True]
    assert s.info["throughput"].item() == pytest.approx(reached / 30)
    assert s.info["episode_return"].item() == pytest.approx(reached / 2)


def test_starts_and_goals_are_distinct_and_connected():
    env = marl.make(
        "pathfinding/random", num_envs=64, seed=3, size=16, density=0.3, n_agents=40, mode="finish"
    )
    env.reset()
    labels = component_labels(env.free).flatten(1)
    assert bool((labels.gather(1, env.pos) == labels.gather(1, env.goal)).all())
    assert bool((labels.gather(1, env.pos) >= 0).all())
    cells = torch.cat([env.pos, env.goal], dim=1).sort(dim=1).values
    assert bool((cells[:, 1:] != cells[:, :-1]).all())  # 80 distinct cells per copy


def test_too_many_agents_for_the_map_is_a_clear_error():
    with pytest.raises(ValueError, match="cannot place 300 agents"):
        marl.make("pathfinding/random", num_envs=2, seed=0, size=16, density=0.3, n_agents=300).reset()


def test_component_sampling_stays_in_component_and_excludes_the_cell():
    free = torch.tensor([[1, 1, 0, 1, 1, 1]], dtype=torch.bool).view(1, 1, 6).expand(500, 1, 6).contiguous()
    g = torch.Generator().manual_seed(0)
    tables = ComponentTables.shuffled(component_labels(free).flatten(1), g)
    rows = torch.arange(500)
    from_left = tables.sample_other_cell(rows, torch.zeros(500, dtype=torch.long), g)
    from_right = tables.sample_other_cell(rows, torch.full((500,), 4), g)
    assert set(from_left.tolist()) == {1}
    assert set(from_right.tolist()) == {3, 5}


def python_bfs(free, goal):
    H, W = free.shape
    dist = np.full((H, W), UNREACHABLE)
    dist[goal] = 0
    queue = deque([goal])
    while queue:
        r, c = queue.popleft()
        for nr, nc in ((r - 1, c), (r + 1, c), (r, c - 1), (r, c + 1)):
            if 0 <= nr < H and 0 <= nc < W and free[nr, nc] and dist[nr, nc] == UNREACHABLE:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def test_distance_maps_and_components_match_python_bfs():
    g = torch.Generator().manual_seed(1)
    free = torch.rand(12, 9, 11, generator=g) > 0.3
    goals = torch.tensor([int(torch.nonzero(f.flatten())[0]) for f in free])
    dist = distance_maps(free, goals)
    labels = component_labels(free)
    for k in range(12):
        expected = python_bfs(free[k].numpy(), divmod(int(goals[k]), 11))
        np.testing.assert_array_equal(dist[k].numpy(), expected)
        same = labels[k] == labels[k].flatten()[goals[k]]
        np.testing.assert_array_equal(same.numpy(), expected < UNREACHABLE)


def test_goal_distances_are_shared_and_recomputed_only_on_new_goals(tmp_path):
    env = corridor_env(tmp_path, "lifelong", n_agents=2)
    env.reset()
    place(env, [(1, 1), (1, 2)], [(1, 5), (1, 5)])
    env.goal_distances()
    runs = env.planner.bfs_runs
    place(env, [(1, 1), (1, 2)], [(1, 5), (1, 5)])
    env.goal_distances()
    assert env.planner.bfs_runs == runs  # nothing changed: cached
    place(env, [(1, 1), (1, 2)], [(1, 5), (1, 4)])
    dist = env.goal_distances()
    assert env.planner.bfs_runs == runs + 1  # one new goal, one BFS
    assert dist[0, 1, 1 * env.width + 1].item() == 3 and dist[0, 0, 1 * env.width + 1].item() == 4


def test_observation_window_channels(tmp_path):
    rows = ("#########", "#.......#", "#.#.....#", "#.......#", "#########")
    env = corridor_env(tmp_path, "lifelong", n_agents=2, rows=rows, obs_radius=2, path_channel=True)
    env.reset()
    place(env, [(1, 1), (1, 3)], [(3, 7), (1, 2)])
    obs = env._observe()["agent"]
    grid, direction = env.split_observation(obs)
    assert env.channels == ("obstacles", "agents", "goal", "path")
    obstacles, agents, goal, path = grid[0, 0]
    # agent 0 at (1, 1): window rows -1..3, columns -1..3; off-map and walls are obstacles
    expected = torch.ones(5, 5)
    expected[2:5, 2:5] = torch.tensor([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype=torch.float)
    expected[0, :] = 1
    assert torch.equal(obstacles, expected)
    assert agents[2, 2] == 1 and agents[2, 4] == 1 and agents.sum() == 2
    # goal (3, 7) is outside: projected onto the border at offset (+2, +2)
    assert goal[4, 4] == 1 and goal.sum() == 1
    assert torch.allclose(direction[0, 0], torch.tensor([2.0, 6.0]) / np.sqrt(40))
    # the planned path starts at the agent's next cell and stays on free cells
    assert path.sum() >= 2 and bool((path * obstacles).sum() == 0)
    # agent 1's goal is inside its window, one cell to the left
    goal1 = grid[0, 1, 2]
    assert goal1[2, 1] == 1 and goal1.sum() == 1


def test_action_mask_forbids_walls_only(tmp_path):
    env = corridor_env(tmp_path, "lifelong", action_mask=True)
    env.reset()
    place(env, [(1, 1), (1, 3)], [(1, 5), (1, 4)])
    mask = env._action_mask()["agent"][0].tolist()
    assert mask[0] == [True, False, False, False, True]  # wall above, below and left
    assert mask[1] == [True, False, False, True, True]  # another agent is not a wall
    with pytest.raises(ValueError, match="illegal under the action mask"):
        act(env, LEFT, WAIT)


@pytest.mark.parametrize("collision", ["priority", "block_both", "soft"])
def test_random_play_keeps_agents_on_distinct_free_cells(collision):
    env = marl.make(
        "pathfinding/random",
        num_envs=8,
        seed=2,
        size=12,
        density=0.25,
        n_agents=30,
        collision=collision,
        max_steps=16,
    )
    env.reset()
    for _ in range(40):
        s = env.step(env.sample_actions())
        assert bool(env.free.flatten(1).gather(1, env.pos).all())
        cells = env.pos.sort(dim=1).values
        assert bool((cells[:, 1:] != cells[:, :-1]).all())
        assert s["agent"].obs.shape == (8, 30, 3 * 121 + 2)
        assert s.state.shape == (8, env.state_space.shape[0])


def test_same_seed_same_trajectory_and_auto_reset():
    def rollout():
        env = marl.make(
            "pathfinding/random", num_envs=4, seed=11, size=10, n_agents=8, mode="finish", max_steps=6
        )
        s, obs, dones = env.reset(), [], []
        gen = torch.Generator().manual_seed(5)
        for _ in range(14):
            s = env.step(env.sample_actions(gen))
            obs.append(s["agent"].obs.clone())
            dones.append(s.done.clone())
            if bool(s.done.any()):  # the final observation differs from the new episode's first one
                assert not torch.equal(s.final_obs["agent"][s.done], s["agent"].obs[s.done])
        return torch.stack(obs), torch.stack(dones)

    (o1, d1), (o2, d2) = rollout(), rollout()
    assert torch.equal(o1, o2) and torch.equal(d1, d2)
    assert bool(d1[5].all())  # every copy truncated at max_steps = 6 (or finished earlier)


def test_map_sets_of_different_sizes_are_padded_with_obstacles(tmp_path):
    write_map(GridMap(np.zeros((4, 6), dtype=bool)), tmp_path / "a.txt")
    write_map(GridMap(np.zeros((7, 5), dtype=bool)), tmp_path / "b.map")
    env = marl.make("pathfinding/maps", num_envs=16, seed=0, map_set=str(tmp_path), n_agents=3)
    env.reset()
    assert (env.height, env.width) == (7, 6)
    small = env.map_id == 0
    assert bool((~env.free[small][:, 4:, :]).all()) and bool((~env.free[~small][:, :, 5:]).all())
    assert {tuple(s) for s in env.map_size.tolist()} == {(4, 6), (7, 5)}


def test_render_draws_agents_and_goals(tmp_path):
    env = marl.make(
        "pathfinding/random", num_envs=2, seed=0, size=10, n_agents=5, render_paths=True, render_windows=True
    )
    env.reset()
    frame = env.render(1)
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
    assert len(np.unique(frame.reshape(-1, 3), axis=0)) > 6  # obstacles, free cells and agent colours


def test_place_agents_checks_cells(tmp_path):
    rows = ("#########", "#...#...#", "#########")
    env = corridor_env(tmp_path, "lifelong", rows=rows)
    env.reset()
    with pytest.raises(ValueError, match=r"position \(0, 1\) of agent_0 is not a free cell"):
        place(env, [(0, 1), (1, 2)], [(1, 3), (1, 1)])
    with pytest.raises(ValueError, match="distinct"):
        place(env, [(1, 1), (1, 1)], [(1, 3), (1, 2)])
    with pytest.raises(ValueError, match=r"goal \(1, 5\) of agent_1 cannot be reached"):
        place(env, [(1, 1), (1, 2)], [(1, 3), (1, 5)])


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="mode must be one of"):
        PathfindingEnv(RandomMaps(8, 8, 0.1), PathfindingConfig(mode="restart"))
    with pytest.raises(ValueError, match="collision must be one of"):
        marl.make("pathfinding/random", collision="soft_cascade")
    with pytest.raises(ValueError, match=r"density must be a finite number in \[0.0, 1.0\), got 1.5"):
        marl.make("pathfinding/random", density=1.5)


def test_large_committed_maps_hold_1024_agents():
    env = marl.make(
        "pathfinding/maps",
        num_envs=2,
        seed=0,
        map_set="large/random-256-d20-s0.map",
        n_agents=1024,
        collision="soft",
    )
    env.reset()
    for _ in range(3):
        s = env.step(env.sample_actions())
    assert s["agent"].obs.shape == (2, 1024, 3 * 121 + 2)
    cells = env.pos.sort(dim=1).values
    assert bool((cells[:, 1:] != cells[:, :-1]).all())


@pytest.mark.parametrize("env_id", ["pathfinding/random", "pathfinding/maps"])
def test_registered_tasks_build_with_their_defaults(env_id):
    env = marl.make(env_id, num_envs=2, seed=0)
    step = env.reset()
    assert step["agent"].obs.shape == (2, 32, 3 * 121 + 2)
    assert env.observation_space("agent_0").contains(step["agent"].obs[0, 0].numpy())
    assert env.state_space.contains(step.state[0].numpy())

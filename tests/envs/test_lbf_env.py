"""Level-based foraging: the reference's own test cases (lbforaging's tests/test_env.py) on our side, the
spawning rules as invariants and as distributions against the reference, masks, ends, ids and configs."""

import functools

import numpy as np
import pytest
import torch
from lbforaging.foraging.environment import ForagingEnv

import marl
import marl.testing
from envs.lbf import GROUP, TASKS, LBFConfig, LBFEnv, make_lbf, parse_task, register, register_baselines
from envs.lbf.baselines import HeuristicConfig, HeuristicForager
from envs.lbf.env import EAST, LOAD, NONE, NORTH, WEST
from marl.running.config import compose_run_config

register()


def two_loaders(sight=None, num_envs=1, **keys):
    """The reference tests' fixture: 8x8, a food of level 2 at (4, 4), level-2 players at (4, 3), (4, 5)."""
    env = make_lbf("8x8-2p-1f", num_envs=num_envs, seed=0, sight=sight, **keys)
    env.reset()
    field = torch.zeros(num_envs, 8, 8, dtype=torch.long)
    field[:, 4, 4] = 2
    env.set_state(
        torch.tensor([[4, 3], [4, 5]]).expand(num_envs, -1, -1), torch.full((num_envs, 2), 2), field
    )
    return env


def act(env, *actions):
    return env.step({GROUP: torch.tensor([list(actions)])})


def test_two_loaders_share_a_food_half_and_half():  # the reference's test_reward_0
    step = act(two_loaders(), LOAD, LOAD)
    assert step[GROUP].reward.tolist() == [[0.5, 0.5]]
    assert step[GROUP].terminated.tolist() == [[True, True]] and not bool(step.truncated[0])


def test_one_loader_strong_enough_takes_it_all():  # the reference's test_reward_1
    step = act(two_loaders(), NONE, LOAD)
    assert step[GROUP].reward.tolist() == [[0.0, 1.0]]


def test_loaders_too_weak_fail_and_pay_the_penalty():
    env = two_loaders(penalty=0.1)
    env.set_state(env.pos, torch.tensor([[1, 1]]), env.food_map().view(1, 8, 8) * 2)  # food of level 4
    step = act(env, LOAD, LOAD)
    assert step[GROUP].reward[0].tolist() == pytest.approx([-0.1, -0.1])
    assert int(env.food_level.sum()) == 4 and not bool(step.done[0])


def test_sight_1_hides_the_other_player_and_sight_2_shows_it():  # test_partial_obs_1, _2, _3
    obs = two_loaders(sight=1)._observe()[GROUP]
    assert obs[0, 0, -2] == -1 and obs[0, 1, -2] == -1
    env = two_loaders(sight=2)
    obs = env._observe()[GROUP]
    assert obs[0, 0, -2] > -1 and obs[0, 1, -2] > -1
    obs = act(env, WEST, NONE)[GROUP].obs
    assert obs[0, 0, -2] == -1 and obs[0, 1, -2] == -1
    env = two_loaders()
    obs = act(env, WEST, NONE)[GROUP].obs
    assert obs[0, 0, -2] > -1 and obs[0, 1, -2] > -1


def test_claims_block_a_shared_target_and_a_standing_player_but_not_a_chain():
    env = make_lbf("8x8-2p-1f", num_envs=1, seed=0, n_agents=3, action_mask=False)
    env.reset()
    field = torch.zeros(1, 8, 8, dtype=torch.long)
    field[0, 6, 6] = 1
    env.set_state(torch.tensor([[[2, 2], [2, 4], [0, 0]]]), torch.ones(1, 3), field)
    act(env, EAST, WEST, NONE)  # both claim (2, 3): both stay
    assert env.pos[0].tolist() == [[2, 2], [2, 4], [0, 0]]
    act(env, EAST, NONE, NONE)  # (2, 3) is free: player 0 moves there
    act(env, EAST, NONE, NONE)  # into a standing player: blocked
    assert env.pos[0, 0].tolist() == [2, 3]
    act(env, EAST, EAST, NONE)  # a chain: both move
    assert env.pos[0, :2].tolist() == [[2, 4], [2, 5]]


def test_invalid_actions_become_none_without_masks_and_are_refused_with_them():
    env = two_loaders(action_mask=False)
    step = act(env, NORTH, WEST)  # player 1 walks into the food: NONE
    assert env.pos[0].tolist() == [[3, 3], [4, 5]] and step[GROUP].action_mask is None
    masked = two_loaders()
    mask = masked._action_mask()[GROUP][0]
    assert mask.tolist() == [[True] * 4 + [False, True], [True, True, True, False, True, True]]
    with pytest.raises(ValueError, match="agent_1.*illegal under the action mask"):
        act(masked, NORTH, WEST)
    masked.validate_actions = False  # masks published but not enforced: the reference's outcome
    act(masked, NORTH, WEST)
    assert masked.pos[0].tolist() == [[3, 3], [4, 5]]


def test_the_time_limit_is_truncation_and_eating_everything_is_termination():
    env = two_loaders(max_steps=3)
    for _ in range(2):
        step = act(env, NONE, NONE)
        assert not bool(step.done[0])
    step = act(env, NONE, NONE)
    assert bool(step.truncated[0]) and not bool(step[GROUP].terminated.any())
    assert step.info["foods_eaten"].tolist() == [0.0] and step.info["all_food_eaten"].tolist() == [0.0]
    env = two_loaders()
    step = act(env, LOAD, LOAD)
    assert bool(step.done[0]) and not bool(step.truncated[0])
    assert step.info["episode_return"].tolist() == [0.5]  # mean over the agents: the team ate everything
    assert step.info["all_food_eaten"].tolist() == [1.0]


def spawned(task, num_envs=2000, **keys):
    env = make_lbf(task, num_envs=num_envs, seed=1, **keys)
    env.reset()
    env.step({GROUP: torch.zeros(num_envs, env.n_agents, dtype=torch.long)})  # an auto-reset spawn too
    env.reset()
    return env


@pytest.mark.parametrize("draw_every_copy", [False, True], ids=["reset-copies-only", "every-copy"])
def test_a_reset_redraws_its_copies_and_leaves_the_others_untouched(draw_every_copy):
    """Both ways of drawing a reset (only the reset copies, the CPU's; every copy with the mask selecting, an
    accelerator's) keep every field of the other copies, half-eaten foods and their normaliser included."""
    env = make_lbf("8x8-2p-2f", num_envs=64, seed=0)
    env.draw_every_copy = draw_every_copy
    env.reset()
    env.food_level[:, 0] = 0  # a food eaten everywhere: food_spawned must not follow food_level
    env._valid_cache = None
    fields = ("pos", "level", "food_cell", "food_pos", "food_level", "food_spawned")
    before = {name: getattr(env, name).clone() for name in fields}
    mask = torch.arange(64) % 3 == 0
    env._reset(mask)
    for name in fields:
        assert torch.equal(getattr(env, name)[~mask], before[name][~mask]), name
    assert not torch.equal(env.pos[mask], before["pos"][mask])
    assert torch.equal(env.food_spawned[mask], env.food_level[mask].sum(1).float())
    assert torch.equal(env.food_pos, torch.stack([env.food_cell // 8, env.food_cell % 8], -1))


@pytest.mark.parametrize("task, foods", [("6x6-2p-2f", 2), ("8x8-2p-3f", 3)])
def test_food_spawning_follows_the_reference_rules(task, foods):  # test_food_spawning_0, _1 and more
    env = spawned(task)
    S = env.size
    cells = env.food_cell
    assert (cells < S * S).all(), "every food fits on these grids"
    row, col = cells // S, cells % S
    assert ((row >= 1) & (row <= S - 2) & (col >= 1) & (col <= S - 2)).all()
    d_row, d_col = (row[:, :, None] - row[:, None]).abs(), (col[:, :, None] - col[:, None]).abs()
    close = ((d_row <= 1) & (d_col <= 1)) | ((d_row == 0) & (d_col <= 2)) | ((d_col == 0) & (d_row <= 2))
    assert not (close & ~torch.eye(foods, dtype=torch.bool)).any()
    players = env.pos[..., 0] * S + env.pos[..., 1]
    assert not (players[:, :, None] == cells[:, None]).any(), "no food under a player"
    assert not (players[:, 0] == players[:, 1]).any(), "players on distinct cells"
    assert set(env.level.unique().tolist()) == {1, 2}
    cap = env.level.sum(1, keepdim=True)
    assert ((env.food_level >= 1) & (env.food_level <= cap)).all()
    assert (env.food_spawned == env.food_level.sum(1)).all()


def test_coop_foods_need_the_three_weakest_players():
    env = spawned("12x12-5p-4f-coop", num_envs=500)
    cap = env.level.sort(1).values[:, :3].sum(1, keepdim=True)
    assert (env.food_level == cap).all()
    assert (env.food_level.view(-1) <= env.observation_space("agent_0").high[2]).all()


def reference_spawn_statistics(keys, episodes):
    env = ForagingEnv(
        players=keys["n_agents"],
        min_player_level=1,
        max_player_level=2,
        min_food_level=1,
        max_food_level=None,
        field_size=(keys["size"], keys["size"]),
        max_num_food=keys["n_food"],
        sight=keys["size"],
        max_episode_steps=50,
        force_coop=keys["coop"],
    )
    env.reset(seed=0)
    stats = []
    for _ in range(episodes):
        env.reset()
        levels = env.field[env.field > 0]
        corner = sum(p.position in ((0, 0), (0, keys["size"] - 1)) for p in env.players)
        stats.append([len(levels), levels.mean(), np.mean([p.level for p in env.players]), corner])
    return np.array(stats)


@pytest.mark.parametrize("task", ["5x5-4p-2f", "7x7-4p-4f"])
def test_spawn_distribution_matches_the_reference(task):
    """Food counts (crowded grids fit fewer foods than asked for), food levels, player levels and how
    often players start in a corner: means within 4 standard errors of the reference's."""
    keys = parse_task(task)
    ref = reference_spawn_statistics(keys, 1000)
    env = make_lbf(task, num_envs=4000, seed=3)
    env.reset()
    for _ in range(3):  # auto-resets after the first episode, as the reference's later resets
        env.step({GROUP: torch.zeros(4000, env.n_agents, dtype=torch.long)})
        env.elapsed.fill_(env.max_steps - 1)
    S = env.size
    spawned = env.food_level > 0
    count = spawned.sum(1).float()
    food_mean = (env.food_level * spawned).sum(1) / count
    corner = ((env.pos[..., 0] == 0) & ((env.pos[..., 1] == 0) | (env.pos[..., 1] == S - 1))).sum(1)
    ours = torch.stack([count, food_mean, env.level.float().mean(1), corner.float()], 1).numpy()
    for j, name in enumerate(("foods spawned", "food level", "player level", "players in a corner")):
        error = np.sqrt(ref[:, j].var() / len(ref) + ours[:, j].var() / len(ours)) + 1e-9
        assert abs(ours[:, j].mean() - ref[:, j].mean()) < 4 * error, (
            name,
            ours[:, j].mean(),
            ref[:, j].mean(),
        )


def test_grid_observation_layers_and_state():
    env = two_loaders(sight=1, grid_observation=True)
    obs = env._observe()[GROUP][0, 0]  # player 0 at (4, 3): food east, player 1 out of sight
    assert obs.shape == (3, 3, 3)
    assert obs[0].tolist() == [[0, 0, 0], [0, 2, 0], [0, 0, 0]]
    assert obs[1].tolist() == [[0, 0, 0], [0, 0, 2], [0, 0, 0]]
    assert obs[2].tolist() == [[1, 1, 1], [1, 0, 0], [1, 1, 1]]
    assert env._state()[0].tolist() == [4, 4, 2, 4, 3, 2, 4, 5, 2]


def test_task_ids_configs_and_bad_input():
    assert set(TASKS) <= {t.split("/")[1] for t in marl.list_envs() if t.startswith("lbf/")}
    assert parse_task("grid-2s-8x8-2p-2f-coop-penalty") == {
        "size": 8,
        "n_agents": 2,
        "n_food": 2,
        "sight": 2,
        "coop": True,
        "penalty": 0.1,
        "grid_observation": True,
    }
    env = marl.make("lbf/2s-8x8-2p-2f-coop", num_envs=2, size=10, max_steps=20)
    assert (env.size, env.sight, env.coop, env.max_steps) == (10, 2, True, 20)
    env = marl.make("lbf/foraging", n_agents=4, n_food=3)
    assert env.group_specs[GROUP].agents == ("agent_0", "agent_1", "agent_2", "agent_3")
    run = compose_run_config(["env=lbf/2s-8x8-2p-2f-coop", "env.size=10", "algo=mappo"])  # the Hydra schema
    assert (run.env.size, run.env.sight, run.env.coop) == (10, 2, True)
    with pytest.raises(ValueError, match="env.sight"):
        compose_run_config(["env=lbf/foraging", "env.sight=two"])
    with pytest.raises(ValueError, match="does not match"):
        parse_task("8x9-2p-2f")
    with pytest.raises(ValueError, match="n_agents must be at most"):
        LBFEnv(LBFConfig(size=3, n_agents=5))
    with pytest.raises(ValueError, match="min_food_level must be at most"):
        LBFEnv(LBFConfig(min_food_level=5))
    with pytest.raises(TypeError, match="did you mean 'n_food'"):
        marl.make("lbf/8x8-2p-2f", n_foods=3)
    env = two_loaders()
    with pytest.raises(ValueError, match="at most n_food=1 foods"):
        env.set_state(env.pos, env.level, torch.ones(1, 8, 8))


def test_render_draws_one_copy():
    env = make_lbf("8x8-2p-2f", num_envs=2, seed=0)
    env.reset()
    frame = env.render(1)
    assert frame.shape == (8 * 24, 8 * 24, 3) and frame.dtype == np.uint8
    assert (frame == (200, 40, 40)).all(-1).any(), "player 0 is drawn"


def test_pettingzoo_tests_pass_on_the_grid_observation_without_masks():
    """The registered tasks (vector observations, masks) run PettingZoo's tests in the conformance suite;
    this is the grid observation with the reference's unmasked actions."""
    factory = functools.partial(make_lbf, "grid-2s-6x6-3p-2f", action_mask=False)
    for check in (
        "pettingzoo_parallel_api",
        "pettingzoo_aec_api",
        "pettingzoo_parallel_seed",
        "pettingzoo_aec_seed",
    ):
        marl.testing.CHECKS[check](factory, num_envs=2, steps=20)


def test_the_heuristic_forager_is_registered_and_eats_far_more_than_random_play():
    register_baselines()
    assert "lbf_heuristic" in marl.list_algos()
    team_return = {}
    for name in ("heuristic", "random"):
        env = make_lbf("8x8-2p-2f", num_envs=64, seed=0)
        forager = HeuristicForager(env, HeuristicConfig(seed=0), env.device)
        out, first = env.reset(), torch.full((64,), float("nan"))
        for _ in range(50):  # every copy ends its first episode by step 50
            out = env.step(forager.act(out, None)[0] if name == "heuristic" else env.sample_actions())
            if bool(out.done.any()):  # the statistics come with the steps where an episode ended
                ended = out.done & first.isnan()
                first[ended] = out.info["team_return"][ended]
        team_return[name] = first.mean().item()
    assert team_return["heuristic"] > 0.4 > 0.2 > team_return["random"], team_return  # 0.49 and 0.14
    with pytest.raises(TypeError, match="vector observations"):
        HeuristicForager(make_lbf("grid-2s-8x8-2p-2f"), HeuristicConfig(), torch.device("cpu"))

"""Kitchen rules beyond the two-chef reference replay: layouts and their errors, N chefs, shaped-reward weight,
episode statistics, rendering and the scripted chef."""

import numpy as np
import pytest
import torch

import marl
from envs import kitchen
from envs.kitchen import LayoutError, layout_names, load_layout, make_kitchen
from envs.kitchen.baselines import GreedyChef, GreedyConfig
from envs.kitchen.env import (
    DISH,
    EAST,
    GROUP,
    INTERACT,
    NORTH,
    NOTHING,
    ONION,
    SOUP,
    SOUTH,
    STAY,
    WEST,
    channel_names,
)
from envs.kitchen.layout import parse_layout

kitchen.register()
kitchen.register_baselines()

GOOD = '''{
    "grid":  """XXPXX
                O  2O
                X1  X
                XDXSX""",
    "start_all_orders" : [
        { "ingredients" : ["onion", "onion", "onion"]}
    ],
    "rew_shaping_params": None
}
'''


def layout_error(grid_rows, tmp_path, rest='"start_all_orders": [{"ingredients": ["onion"]}]'):
    text = '{\n    "grid": """' + "\n                ".join(grid_rows) + '""",\n    ' + rest + "\n}\n"
    path = tmp_path / "broken.layout"
    path.write_text(text)
    with pytest.raises(LayoutError) as info:
        load_layout(path)
    return str(info.value)


def step(env, *chef_actions):
    return env.step({GROUP: torch.tensor([chef_actions])})


def test_the_good_layout_parses_like_the_reference_grid(tmp_path):
    layout = parse_layout(GOOD, tmp_path / "good.layout")
    assert layout.rows == ("XXPXX", "O  2O", "X1  X", "XDXSX")
    assert layout.starts == ((1, 2), (3, 1))
    assert layout.cook_time[3] == 20 and layout.delivery_value == (0, 0, 0, 20)


@pytest.mark.parametrize(
    "rows, line, rule",
    [
        (["XXPXX", "O  2O", "X1  XX", "XDXSX"], 4, "ragged grid"),
        (["XXPXX", "O  2O", "X1 QX", "XDXSX"], 4, "unknown symbol 'Q'"),
        (["XXXXX", "O  2O", "X1  X", "XDXSX"], 5, "at least one 'P'"),
        (["XXPXX", "O  2O", "X1  X", "XXXSX"], 5, "at least one 'D'"),
        (["XXPXX", "O  2O", "X1  X", "XDXXX"], 5, "at least one 'S'"),
        (["XXPXX", "O  3O", "X1  X", "XDXSX"], 5, "missing [2]"),
        (["X PXX", "O  2O", "X1  X", "XDXSX"], 2, "border must not be floor"),
        (["XXPXX", "T  2O", "X1  X", "XDXSX"], 3, "tomato dispensers are not supported"),
    ],
)
def test_malformed_layouts_name_the_file_line_and_rule(tmp_path, rows, line, rule):
    message = layout_error(rows, tmp_path)
    assert message.startswith(f"{tmp_path / 'broken.layout'}:{line}: ")
    assert rule in message


def test_orders_of_tomatoes_and_unknown_keys_are_rejected(tmp_path):
    rows = ["XXPXX", "O  2O", "X1  X", "XDXSX"]
    message = layout_error(rows, tmp_path, '"start_all_orders": [{"ingredients": ["tomato"]}]')
    assert ":6: only onion recipes" in message
    message = layout_error(rows, tmp_path, '"start_state": {}')
    assert ":6: unknown key 'start_state'" in message


def test_too_many_chefs_for_the_start_cells_names_the_layout():
    with pytest.raises(LayoutError, match=r"cramped_room\.layout:1: 3 chefs need 3 start cells"):
        make_kitchen(layout="cramped_room", n_chefs=3)
    with pytest.raises(LayoutError, match="old_dynamics needs every order to have 3 onions"):
        make_kitchen(layout="pipeline", old_dynamics=True)


@pytest.mark.parametrize("name", layout_names())
def test_every_shipped_layout_runs(name):
    env = make_kitchen(layout=name, num_envs=3, seed=0)
    n, layout = env.n_chefs, env.layout
    first = env.reset()[GROUP].obs
    assert first.shape == (3, n, 5 * n + 16, layout.height, layout.width)
    for _ in range(20):
        out = env.step(env.sample_actions())
    assert env.observation_space("chef_0").contains(out[GROUP].obs[0, 0].numpy())
    assert torch.equal(out.state, out[GROUP].obs[:, 0].flatten(1))  # chef 0's encoding
    assert torch.equal(env._state(), env.lossless_encoding(chefs=[0]).flatten(1))


def test_encoding_puts_the_own_chef_first_and_the_others_in_index_order():
    env = make_kitchen(layout="trio_ring", num_envs=1, seed=0)
    obs = env.reset()[GROUP].obs[0]
    names = channel_names(3)
    assert names[:3] == ("own_position", "other_1_position", "other_2_position")
    cells = [divmod(int(p), env.width) for p in env.pos[0]]  # (y, x)
    order = {0: (0, 1, 2), 1: (1, 0, 2), 2: (2, 0, 1)}
    for chef, chefs in order.items():
        for channel, who in enumerate(chefs):
            assert obs[chef, channel].nonzero().tolist() == [list(cells[who])]
        assert obs[chef, 3 + 4 * 0 + NORTH, cells[chef][0], cells[chef][1]] == 1  # facing north at the start


def test_any_collision_among_many_chefs_keeps_every_chef_of_that_copy_in_place():
    env = make_kitchen(layout="quad_room", num_envs=1, seed=0)  # starts (2,1) (7,1) (2,5) (7,5)
    env.reset()
    start = env.pos.clone()
    step(env, EAST, WEST, EAST, STAY)  # chefs 0 and 1 are far apart: everyone who moves moves
    assert (env.pos != start).tolist() == [[True, True, True, False]]
    env.pos[0] = torch.tensor([1 * 10 + 3, 1 * 10 + 5, 5 * 10 + 3, 5 * 10 + 7])
    step(env, EAST, WEST, EAST, STAY)  # chefs 0 and 1 both want cell (4, 1): nobody moves, all turn
    assert env.pos[0].tolist() == [13, 15, 53, 57]
    assert env.facing[0].tolist() == [EAST, WEST, EAST, NORTH]


def test_interacts_follow_chef_order_within_a_step():
    env = make_kitchen(layout="trio_ring", num_envs=1, seed=0)
    env.reset()
    # chefs 0 and 2 both face the counter (4, 2) holding an onion; chef 2 holds nothing, chef 0 a dish
    env.pos[0] = torch.tensor([1 * 9 + 4, 3 * 9 + 2, 3 * 9 + 4])
    env.facing[0] = torch.tensor([SOUTH, NORTH, NORTH])
    env.item[0, 2 * 9 + 4] = ONION
    env.held[0] = torch.tensor([DISH, NOTHING, NOTHING])
    step(env, INTERACT, STAY, INTERACT)  # chef 0 cannot drop (counter full); chef 2 takes the onion
    assert env.held[0].tolist() == [DISH, NOTHING, ONION] and env.item[0, 2 * 9 + 4] == NOTHING
    env.held[0, 2] = NOTHING
    env.item[0, 2 * 9 + 4] = NOTHING
    step(env, INTERACT, STAY, INTERACT)  # chef 0 drops its dish first, then chef 2 picks it up
    assert env.held[0].tolist() == [NOTHING, NOTHING, DISH] and env.item[0, 2 * 9 + 4] == NOTHING


def test_a_full_soup_cycle_pays_shaped_and_sparse_rewards_and_counts_the_soup():
    env = make_kitchen(layout="cramped_room", num_envs=1, seed=0, shaped_reward_weight=0.5)
    env.reset()
    # chef 1 stands below the pot at (2, 1) facing it; chef 0 waits at (1, 2)
    env.pos[0, 1] = 1 * 5 + 2
    for _ in range(3):
        env.held[0, 1] = ONION
        out = step(env, STAY, INTERACT)
        assert env.shaped_reward[0].tolist() == [0.0, 3.0] and out[GROUP].reward[0].tolist() == [0.0, 1.5]
    assert env.tick[0, 2] == 1  # old dynamics: the full pot started cooking by itself and ticked once
    for _ in range(19):
        step(env, STAY, STAY)
    env.held[0, 1] = DISH
    step(env, STAY, INTERACT)
    assert env.held[0, 1] == SOUP and env.shaped_reward[0].tolist() == [0.0, 5.0]
    env.pos[0, 1], env.facing[0, 1] = 2 * 5 + 3, SOUTH  # above the serving tile (3, 3)
    out = step(env, STAY, INTERACT)
    assert env.sparse_reward[0].tolist() == [0.0, 20.0] and out[GROUP].reward[0].tolist() == [0.0, 20.0]
    for _ in range(400 - 24):
        out = step(env, STAY, STAY)
    assert bool(out.done[0])
    assert out.info["soups_delivered"].tolist() == [1.0] and out.info["sparse_return"].tolist() == [20.0]
    assert out.info["shaped_return"].tolist() == [14.0]


def test_shaped_reward_weight_anneals_to_zero_over_its_horizon():
    env = make_kitchen(layout="cramped_room", num_envs=4, seed=0, shaped_reward_horizon=8)
    env.reset()
    assert env.shaping_weight() == 1.0
    step_all = {GROUP: torch.full((4, 2), STAY)}
    env.step(step_all)
    assert env.shaping_weight() == 0.5
    env.step(step_all)
    env.step(step_all)
    assert env.shaping_weight() == 0.0


def test_render_draws_the_chefs_and_a_grid_of_copies():
    env = make_kitchen(layout="cramped_room", num_envs=2, seed=0)
    env.reset()
    frame = env.render(0)
    assert frame.dtype == np.uint8 and frame.shape == (4 * 48 + 28, 5 * 48, 3)
    x, y = 1, 2  # chef 0 starts at (1, 2): its colour at the cell's centre-left
    assert tuple(frame[y * 48 + 24, x * 48 + 12]) == (60, 110, 220)
    assert env.render_grid([0, 1], columns=2).shape == (4 * 48 + 28, 10 * 48, 3)


def test_the_greedy_chef_is_registered_and_serves_soups():
    assert "kitchen_greedy" in marl.list_algos()
    env = make_kitchen(layout="cramped_room", num_envs=4, seed=0)
    chef = GreedyChef(env, GreedyConfig(seed=0), env.device)
    out = env.reset()
    for _ in range(400):
        actions, _ = chef.act(out, None)
        out = env.step(actions)
    assert bool(out.done.all()) and bool((out.info["soups_delivered"] >= 3).all())

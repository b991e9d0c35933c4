"""MAgent's battle against hand computations: formation, action tables, attack order, kills, moves, views."""

import pytest
import torch

import marl
from envs import magent
from envs.magent.battle import FIRST_ATTACK, STAY

magent.register()

RIGHT, LEFT, UP_TWO = 7, 5, 0  # moves (+1, 0), (-1, 0), (0, -2)


def attack(dx: int, dy: int) -> int:
    return FIRST_ATTACK + magent.ATTACKS.index((dx, dy))


def small(**keys) -> magent.MAgentBattle:
    """12 x 12: two agents per army (slots red 0, 1 and blue 2, 3)."""
    env = marl.make("magent/battle", num_envs=1, map_size=12, seed=0, **keys)
    env.reset()
    return env


def place(env, pos, hp=None, living=None) -> None:
    n = len(pos)
    hp = [10.0] * n if hp is None else hp
    living = [True] * n if living is None else living
    env.set_state(torch.tensor([pos]), torch.tensor([hp]), torch.tensor([living]))


def play(env, red, blue, order=None):
    if order is not None:
        env.set_attack_order(torch.tensor([order]))
    step = env.step({"red": torch.tensor([red]), "blue": torch.tensor([blue])})
    return step, torch.cat([step["red"].reward, step["blue"].reward], 1)[0].tolist()


def test_formations_are_battle_v4s():
    assert [len(a) for a in magent.formation(45)] == [81, 81]
    assert [len(a) for a in magent.formation(40)] == [64, 64]  # Yang et al.'s 64 vs 64
    assert [len(a) for a in magent.formation(20)] == [12, 12]
    red, blue = magent.formation(20)
    assert red[:2] == [(1, 6), (1, 8)] and blue[:2] == [(13, 6), (13, 8)]
    env = marl.make("magent/battle", map_size=20)
    assert env.group_specs["red"].n == 12 and env.group_specs["blue"].agents[0] == "blue_0"
    red, blue = magent.formation(20, gap=1)  # closer armies: the fronts 4 cells apart instead of 8
    assert len(red) == len(blue) == 16 and max(x for x, _ in red) == 7 and min(x for x, _ in blue) == 11


def test_action_tables_are_magents_circle_ranges():
    # moves: every (dx, dy) within distance 2, row by row; attacks: distance in (0.5, 1.5)
    cells = [(dx, dy) for dy in range(-2, 3) for dx in range(-2, 3)]
    assert list(magent.MOVES) == [c for c in cells if c[0] ** 2 + c[1] ** 2 <= 4]
    assert magent.MOVES[STAY] == (0, 0) and magent.N_ACTIONS == 21
    assert list(magent.ATTACKS) == [c for c in cells if 0.25 < c[0] ** 2 + c[1] ** 2 <= 2.25]


def test_six_hits_kill_a_full_agent_and_end_the_game():
    env = small()
    # red 0 next to blue 2; red 1 and blue 3 dead (out of the way)
    place(env, [(4, 4), (1, 1), (5, 4), (9, 9)], living=[True, False, True, False])
    hit = attack(1, 0)
    for _ in range(5):  # 10 -> 8.1 -> 6.2 -> 4.3 -> 2.4 -> 0.5 HP (hits, then 0.1 recovered)
        step, reward = play(env, [hit, STAY], [STAY, STAY])
        assert reward[0] == pytest.approx(-0.005 - 0.1 + 0.2) and reward[2] == pytest.approx(-0.005)
        assert not step.done[0]
    assert env.hp[0, 2].item() == pytest.approx(0.5, abs=1e-5)
    step, reward = play(env, [hit, STAY], [STAY, STAY])  # 0.5 - 2 < 0: dead
    assert reward[0] == pytest.approx(-0.005 - 0.1 + 5.0) and reward[2] == pytest.approx(-0.1)
    assert step.done[0] and step["red"].terminated[0, 0] and step["blue"].terminated[0, 0]
    assert step.info["red_win"].item() == 1.0 and step.info["red_kills"].item() == 2.0


def test_zero_hp_is_not_dead_below_zero_is():
    env = small()
    place(env, [(4, 4), (1, 1), (5, 4), (9, 9)], hp=[10, 10, 2.0, 10], living=[True, False, True, False])
    step, reward = play(env, [attack(1, 0), STAY], [STAY, STAY])  # 2 - 2 = 0: alive, then 0.1
    assert env.living[0, 2] and env.hp[0, 2].item() == pytest.approx(0.1)


def test_the_attack_order_decides_the_kill():
    # red 0 and red 1 hit blue 2 (3.9 HP: the second hit kills); blue 3 stands by
    pos = [(4, 4), (4, 5), (5, 4), (9, 9)]
    for order, killer in (([0, 1, 2, 3], 1), ([1, 0, 2, 3], 0)):
        env = small()
        place(env, pos, hp=[10, 10, 3.9, 10])
        _, reward = play(env, [attack(1, 0), attack(1, -1)], [STAY, STAY], order)
        other = 1 - killer
        assert reward[killer] == pytest.approx(-0.005 - 0.1 + 5.0)
        assert reward[other] == pytest.approx(-0.005 - 0.1 + 0.2)
        assert reward[2] == pytest.approx(-0.1)


def test_an_attack_on_a_dead_agent_only_pays_the_penalty():
    env = small()
    place(env, [(4, 4), (4, 5), (5, 4), (9, 9)], hp=[10, 10, 1.0, 10])  # one hit kills blue 2
    _, reward = play(env, [attack(1, 0), attack(1, -1)], [STAY, STAY], [0, 1, 2, 3])
    assert reward[0] == pytest.approx(-0.005 - 0.1 + 5.0)
    assert reward[1] == pytest.approx(-0.005 - 0.1)  # blue 2 had left the map


def test_an_agent_killed_before_its_turn_does_not_attack():
    # red 0 (1 HP) and blue 2 (1 HP) attack each other: whoever goes first kills the other
    pos = [(4, 4), (1, 1), (5, 4), (9, 9)]
    for order, (winner, loser) in (([0, 3, 1, 2], (0, 2)), ([2, 3, 1, 0], (2, 0))):
        env = small()
        place(env, pos, hp=[1.0, 10, 1.0, 10], living=[True, False, True, True])
        step, reward = play(env, [attack(1, 0), STAY], [attack(-1, 0), STAY], order)
        assert reward[winner] == pytest.approx(-0.005 - 0.1 + 5.0) and reward[loser] == pytest.approx(-0.1)
        # red 0 was the last of its army: its death ends the game; blue 3 fights on after blue 2's
        assert bool(step.done[0]) == (loser == 0)


def test_a_hit_before_dying_still_pays_the_opponent_reward():
    # red 0 (1 HP) hits blue 3, then blue 2 kills red 0: dead penalty plus the hit's +0.2
    env = small()
    place(env, [(4, 4), (1, 1), (5, 4), (4, 3)], hp=[1.0, 10, 10, 10])
    _, reward = play(env, [attack(0, -1), STAY], [attack(-1, 0), STAY], [0, 3, 1, 2])
    assert reward[0] == pytest.approx(-0.1 + 0.2)
    assert env.hp[0, 3].item() == pytest.approx(8.1)


def test_attacks_on_team_mates_walls_and_empty_cells_only_cost_the_penalty():
    env = small()
    place(env, [(1, 4), (2, 4), (9, 4), (9, 6)])
    _, reward = play(env, [attack(1, 0), attack(0, 1)], [attack(1, 0), STAY])  # team-mate, empty, wall
    assert reward[:3] == pytest.approx([-0.105] * 3) and reward[3] == pytest.approx(-0.005)
    assert env.hp[0].tolist() == pytest.approx([10.0] * 4)


def test_moves_go_one_agent_at_a_time_in_slot_order():
    env = small()
    # red 1 walks into the cell red 0 leaves (red 0 moves first); blue 2 is blocked by blue 3, which
    # moves only after it; the walls stop red 0's second move
    place(env, [(2, 4), (3, 4), (7, 4), (6, 4)])
    play(env, [LEFT, LEFT], [LEFT, LEFT])
    assert env.pos[0].tolist() == [[1, 4], [2, 4], [7, 4], [5, 4]]
    play(env, [LEFT, STAY], [STAY, STAY])
    assert env.pos[0, 0].tolist() == [1, 4]  # x = 0 is a wall


def test_the_earlier_slot_takes_a_contested_cell_and_moves_of_two_jump():
    env = small()
    place(env, [(4, 4), (6, 4), (4, 6), (9, 9)])
    play(env, [RIGHT, LEFT], [UP_TWO, STAY])  # red 0 and red 1 both want (5, 4); blue 2 jumps over (4, 5)
    assert env.pos[0, :3].tolist() == [[5, 4], [6, 4], [4, 4]]


def test_views_by_hand():
    env = small()
    place(env, [(3, 4), (1, 1), (5, 3), (9, 9)], hp=[10, 10, 4.0, 10])
    step = env.step({"red": torch.tensor([[STAY, STAY]]), "blue": torch.tensor([[STAY, STAY]])})
    view = step["red"].obs["view"][0, 0]  # red 0 at (3, 4): rows y - 4 + 6, columns x - 3 + 6
    assert view.shape == (5, 13, 13)
    assert view[1, 6, 6] == 1 and view[2, 6, 6] == pytest.approx(1.0)  # itself
    assert view[3, 5, 8] == 1 and view[4, 5, 8] == pytest.approx(0.41)  # blue 2 at (+2, -1), 4.1 HP
    assert view[1, 3, 4] == 1  # red 1 at (-2, -3)
    assert view[3, 11, 12] == 0  # blue 3 at (+6, +5): farther than 6
    assert view[0, 6, 3] == 1 and view[0, 6, 2] == 0  # the wall at x = 0; off the map beyond
    blue = step["blue"].obs["view"][0, 0]  # blue's view puts its own army first
    assert blue[1, 6, 6] == 1 and blue[3, 7, 4] == 1
    state = step.state[0].view(5, 12, 12)
    assert state[1, 4, 3] == 1 and state[4, 3, 5] == pytest.approx(0.41)


def test_neighbours_are_the_nearest_live_team_mates_in_view():
    env = marl.make("magent/battle", num_envs=1, map_size=20, neighbours=3, seed=0)
    step = env.reset()
    nb = step["red"].neighbours
    # red 0 at (1, 6): nearest red 1 (1, 8) and red 4 (3, 6), then red 5 (3, 8)
    assert nb.index[0, 0].tolist() == [1, 4, 5] and nb.mask[0, 0].all()
    alive = torch.ones(1, 24, dtype=torch.bool)
    alive[0, 1] = False
    env.set_state(env.pos, env.hp, alive)
    nb = env._neighbours()["red"]
    assert 1 not in nb.index[0, 0][nb.mask[0, 0]].tolist()


def test_features_extra_and_minimap():
    env = marl.make("magent/battle", num_envs=1, map_size=20, extra_features=True, minimap_mode=True, seed=0)
    env.reset()
    actions = {"red": torch.full((1, 12), RIGHT), "blue": torch.full((1, 12), STAY)}
    step = env.step(actions)
    features = step["blue"].obs["features"][0]
    assert features.shape == (12, 10 + 21 + 1 + 2)
    assert features[1, :10].tolist() == [1.0, 0, 1.0, 1.0] + [0.0] * 6  # blue 1 is engine id 13
    assert features[1, 10 + STAY] == 1 and features[1, 31] == 0  # the action just taken; reward before: 0
    assert features[0, 32:].tolist() == pytest.approx([13 / 20, 6 / 20])
    view = step["red"].obs["view"][0, 0]
    assert view.shape == (7, 13, 13) and view[3].sum().item() == pytest.approx(1 + 1)  # density + own bin


def test_bad_config_and_states_are_refused():
    with pytest.raises(ValueError, match="map_size"):
        marl.make("magent/battle", map_size=10)
    env = small()
    with pytest.raises(ValueError, match="share a cell"):
        place(env, [(4, 4), (4, 4), (6, 6), (7, 7)])
    with pytest.raises(ValueError, match="distinct"):
        env.set_attack_order(torch.zeros(1, 4, dtype=torch.long))


@pytest.mark.parametrize("algo", ["mfq", "mfac"])
def test_mean_field_learners_train_on_the_battle(algo):
    from algos.meanfield import MFAC, MFQ

    env = marl.make("magent/battle", num_envs=2, map_size=16, max_steps=8, seed=0)
    if algo == "mfq":
        learner = MFQ(env, {"learning_starts": 2, "batch_size": 2}, "cpu")
    else:
        learner = MFAC(env, {"rollout_length": 4}, "cpu")
    for _ in range(3):  # acting on the published neighbours' mean action, storing, updating
        learner.train_iteration()
    assert learner.updates > 0

"""Battle rules: damage and cooldown timing, shields, ranges and sight, edges, heals and explosions, the ends
of a battle, the reward's scale, SMACv2's team draw (chi-square against the race weights) and start
positions, observation and state sizes (SMACv2's, computed from its layout), the heuristic opponent."""

import pytest
import torch
from scipy.stats import chisquare

import marl
import marl.testing
from envs.battle import BattleConfig, BattleEnv, Scenario, get_scenario, register
from envs.battle.env import EAST, N_BASIC, STOP, WEST
from envs.battle.scenarios import RACE_WEIGHTS
from envs.battle.units import UNIT_TYPES, unit_index

register()


def duel(allies, enemies, positions, **keys):
    """A self-play battle of the given unit lists, units placed at `positions` (allies first)."""
    scenario = Scenario("test", len(allies), len(enemies), 100, allies=tuple(allies), enemies=tuple(enemies))
    env = BattleEnv(scenario, BattleConfig(opponent="self_play", **keys), num_envs=1, seed=0)
    env.reset()
    env.pos[0] = torch.tensor(positions, dtype=torch.float32)
    return env


def act(env, allies, enemies):
    return env.step({"allies": torch.tensor([allies]), "enemies": torch.tensor([enemies])})


def test_a_marine_strikes_at_once_then_after_its_cooldown():
    env = duel(["marine"], ["marine"], [[10, 16], [14, 16]])
    act(env, [N_BASIC], [STOP])  # first tick: cooldown over, strike; next due 0.61 s (+- jitter) later
    assert env.health[0].tolist() == [45, 36]
    act(env, [N_BASIC], [STOP])  # second strike 9 to 12 ticks after the first: within the second step
    assert env.health[0].tolist() == [45, 27]
    # the second strike came 9 to 12 ticks after the first: 4 to 7 of its cooldown's ticks are gone
    assert 0.61 - 8 / 16 <= float(env.cooldown[0, 0]) <= 0.61 + 2 / 16 - 4 / 16


def test_shields_absorb_damage_first():
    env = duel(["stalker"], ["zealot"], [[10, 16], [14, 16]])
    act(env, [N_BASIC], [STOP])
    assert env.shield[0, 1].item() == 50 - 13 and env.health[0, 1].item() == 100


def test_attack_needs_the_target_in_range_and_observation_stops_at_sight():
    env = duel(["marine"], ["marine"], [[10, 16], [15.05, 16]])  # marine range 5, sight 9
    mask = env._action_mask()["allies"][0, 0]
    assert not mask[N_BASIC] and mask[STOP] and not mask[0]
    env.pos[0, 1, 0] = 14.95
    assert env._action_mask()["allies"][0, 0, N_BASIC]
    obs = env._observe()["allies"][0, 0]
    assert obs[4] == 1 and obs[5] == pytest.approx(4.95 / 9)  # shootable, distance over sight
    env.pos[0, 1, 0] = 19.05
    assert env._observe()["allies"][0, 0, 4:9].abs().sum() == 0  # beyond sight: all zeros


def test_map_edges_stop_units_or_kill_them():
    env = duel(["marine"], ["marine"], [[1, 16], [30, 16]])
    mask = env._action_mask()["allies"][0, 0]
    assert not mask[WEST] and mask[EAST]  # a move needs 2 units of room
    with pytest.raises(ValueError, match="illegal under the action mask"):
        act(env, [WEST], [STOP])
    env.pos[0, 0, 0] = 2.0
    act(env, [WEST], [STOP])
    assert env.pos[0, 0, 0].item() == pytest.approx(2 - 3.15 / 2)  # a marine covers 1.575 per step
    fast = duel(["zergling"], ["marine"], [[2, 16], [30, 16]])
    act(fast, [WEST], [STOP])  # a zergling covers 2.065: it stops at the edge
    assert fast.pos[0, 0, 0].item() == 0.0 and fast.health[0, 0] > 0
    killer = duel(["zergling", "zergling"], ["marine"], [[2, 16], [20, 30], [30, 16]], walls_kill=True)
    step = act(killer, [WEST, STOP], [STOP])
    assert killer.health[0, 0].item() == 0 and step["allies"].terminated[0].tolist() == [True, False]


def test_medivacs_heal_allies_and_banelings_explode():
    env = duel(["medivac", "marine"], ["zergling", "zergling"], [[10, 16], [12, 16], [30, 5], [30, 8]])
    env.health[0, 1] = 20.0
    act(env, [N_BASIC + 1, STOP], [STOP, STOP])  # the medivac's second slot: the marine
    assert env.health[0, 1].item() == pytest.approx(20 + 12.6 * 0.5)
    where = [[10, 16], [30, 30], [11.5, 16], [12, 16.5], [16, 16]]  # a far zergling keeps the battle going
    bomb = duel(["baneling", "zergling"], ["marine", "marine", "marine"], where)
    step = act(bomb, [N_BASIC, STOP], [STOP, STOP, STOP])
    # 16 damage to every enemy within 2.2 of the baneling; the baneling dies
    assert bomb.health[0].tolist() == [0, 35, 45 - 16, 45 - 16, 45]
    assert step["allies"].terminated[0].tolist() == [True, False]


@pytest.mark.parametrize(("reward", "maximum"), [("smac", 20.0), ("smax", 2.0)])
def test_a_flawless_scripted_win_returns_the_maximum_reward(reward, maximum):
    env = BattleEnv("3m", BattleConfig(opponent="self_play", reward=reward), num_envs=1, seed=0)
    env.reset()
    env.pos[0] = torch.tensor(
        [[10, 15], [10, 16], [10, 17], [13, 15], [13, 16], [13, 17]], dtype=torch.float32
    )
    total, step = 0.0, None
    for _ in range(40):
        alive = env.health[0, 3:] > 0
        target = int(alive.nonzero()[0])  # focus fire on the first living enemy
        step = act(env, [N_BASIC + target] * 3, [STOP] * 3)
        total += step["allies"].reward[0, 0].item()
        if step.done[0]:
            break
    assert step.done[0] and step.info["battle_won"][0] == 1 and step.info["dead_enemies"][0] == 3
    assert total == pytest.approx(maximum, abs=1e-4)
    assert step.info["episode_return/allies"][0] == pytest.approx(maximum, abs=1e-4)


def test_loss_and_timeout():
    env = duel(["marine"], ["marine"], [[10, 16], [14, 16]])
    env.health[0, 0] = 5.0
    step = act(env, [STOP], [N_BASIC])
    assert step.done[0] and not step.truncated[0] and step.info["battle_won"][0] == 0
    assert step["allies"].terminated[0, 0] and step["enemies"].terminated[0, 0]
    slow = BattleEnv("3m", BattleConfig(episode_limit=3), num_envs=2, seed=0)
    slow.reset()
    slow.pos[:, 3:, 0] = 30.0  # enemies far away: out of sight, nobody dies in 3 steps
    for _ in range(3):
        step = slow.step({"allies": torch.full((2, 3), STOP)})
    assert step.truncated.all() and (step.info["battle_won"] == 0).all()


def test_team_draws_follow_the_race_weights():
    for race in RACE_WEIGHTS:
        env = BattleEnv(f"{race}_5_vs_5", num_envs=2000, seed=1)
        env.reset()
        types = env.unit_type[:, :5].flatten()
        names = list(RACE_WEIGHTS[race])
        counts = torch.stack([(types == unit_index(n)).sum() for n in names]).double()
        expected = torch.tensor(list(RACE_WEIGHTS[race].values()), dtype=torch.float64) * counts.sum()
        assert chisquare(counts.numpy(), expected.numpy()).pvalue > 1e-3, (race, counts)
        assert (env.unit_type[:, 5:] == env.unit_type[:, :5]).all()  # the enemies copy the allies


def test_a_team_of_only_the_exception_unit_is_drawn_again():
    env = BattleEnv("terran_1_vs_3", num_envs=3000, seed=2)
    env.reset()
    assert (env.unit_type[:, 0] != unit_index("medivac")).all()
    extra = env.unit_type[:, 1:]  # two extra enemies: a team of two medivacs is drawn again
    assert ((extra == unit_index("medivac")).sum(1) < 2).all()


def test_start_positions_are_reflect_or_surrounded_half_the_time():
    env = BattleEnv("zerg_5_vs_7", num_envs=2000, seed=3)
    env.reset()
    pos = env.pos
    centre = (pos[:, :5] == 16.0).all(-1).all(-1)
    corners = torch.tensor([[2, 2], [30, 30], [30, 2], [2, 30]], dtype=torch.float32)
    at_corner = (pos[:, 5:, None] == corners).all(-1).any(-1).all(-1)
    assert (centre == at_corner).all()  # surrounded: allies at the centre, enemies in corner groups
    reflect = ~centre
    assert (pos[reflect, :5, 0] <= 15).all() and (pos[reflect, 5:, 0] >= 17).all()
    mirrored = torch.stack([32 - pos[reflect, :5, 0], pos[reflect, :5, 1]], -1)
    assert torch.allclose(mirrored, pos[reflect, 5:10])
    assert abs(centre.float().mean().item() - 0.5) < 0.05


def test_shapes_match_smacv2():
    for name, obs, state in (
        ("protoss_5_vs_5", 92, 130),
        ("terran_5_vs_5", 82, 120),
        ("zerg_5_vs_5", 82, 120),
    ):
        env = marl.make(f"battle/{name}", num_envs=1)
        spec = env.group_specs["allies"]
        assert spec.observation_space.shape == (obs,) and env.state_space.shape == (state,)
        assert spec.action_space.n == 11


def test_the_heuristic_beats_random_play():
    env = BattleEnv("3m", num_envs=64, seed=4)
    env.reset()
    won = []
    for _ in range(60):
        step = env.step(env.sample_actions())
        if step.info:
            won.append(step.info["battle_won"][step.done])
    won = torch.cat(won)
    assert won.numel() > 64 and won.mean() < 0.2


def test_bad_scenarios_and_configs_say_what_is_expected():
    with pytest.raises(ValueError, match="unknown battle scenario"):
        get_scenario("protoss_5_vs")
    with pytest.raises(ValueError, match="opponent"):
        marl.make("battle/3m", opponent="nobody")
    assert UNIT_TYPES[unit_index("medivac")].heals


def test_self_play_passes_the_conformance_suite():
    """Two learning groups (the registered ids check the heuristic mode with PettingZoo's tests)."""
    results = marl.testing.check_env(
        "battle/scenario",
        num_envs=3,
        steps=10,
        pettingzoo=False,
        scenario="terran_2_vs_3",
        opponent="self_play",
    )
    assert all(r == "passed" or r.startswith("skipped") for r in results.values())


@pytest.mark.parametrize(("mode", "target"), [("closest", 0), ("weakest", 1)])
def test_the_heuristic_attacks_the_closest_or_the_weakest_in_range(mode, target):
    env = duel(["marine"], ["marine", "marine", "marine"], [[10, 16], [13, 16], [14, 16], [25, 16]])
    env.config.attack_mode = mode
    env.health[0, 2] = 5.0
    assert env.heuristic_actions(0).tolist() == [[N_BASIC + target]]
    env.pos[0, 1:3, 0] = 20.0  # nobody in range: the marine moves east, toward the closest visible enemy
    assert env.heuristic_actions(0).tolist() == [[EAST]]


def test_the_step_compiles_as_one_graph():
    """`fullgraph=True` raises at the first graph break: the rules (a medivac, banelings and shields on the
    field, the heuristic enemy, the cooldown draws made before the step), the view after an auto-reset and
    the episode statistics each trace whole."""
    scenario = Scenario(
        "mixed", 3, 3, 3, allies=("marine", "medivac", "baneling"), enemies=("zealot", "marine", "baneling")
    )
    env = BattleEnv(scenario, num_envs=2, seed=0).compile(backend="eager", fullgraph=True)
    env.reset()
    for _ in range(4):  # through the auto-reset at the 3-step limit
        step = env.step(env.sample_actions())
    assert step.done.sum() == 0 and env.elapsed.eq(1).all()

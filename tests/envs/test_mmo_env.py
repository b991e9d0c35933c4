"""The MMO world's rules on hand-built maps (fed through `reset_to`, as a side-by-side check feeds the
reference's): survival ticks, foraging and regrowth, each combat style's damage and weakness, spawn immunity,
NPC bands and behaviour, death and masks, tasks, and bad input."""

import math

import numpy as np
import pytest
import torch

import marl
from envs import mmo
from envs.mmo.baselines import Forager, ForagerConfig
from envs.mmo.env import AGGRESSIVE, GROUP, NEUTRAL, PASSIVE, STAY, MMOConfig, MMOEnv
from envs.mmo.terrain import (
    FOLIAGE,
    GRASS,
    PASSABLE,
    SCRUB,
    STONE,
    VOID,
    WATER,
    danger,
    edge_ring,
    generate,
)

mmo.register()
mmo.register_baselines()
SIZE, CENTRE = 32, 16  # a void border of 8 tiles: the 15x15 crop fits
LOW, HIGH = 8, 24  # first and last playable row / column (NM: border to border + centre)


def grass_map(num_envs: int = 1) -> torch.Tensor:
    terrain = torch.full((num_envs, SIZE, SIZE), VOID, dtype=torch.long)
    terrain[:, LOW : HIGH + 1, LOW : HIGH + 1] = GRASS
    return terrain


def world(terrain: torch.Tensor, spawns: list[tuple[int, int]], **keys) -> tuple[MMOEnv, marl.Step]:
    keys = {"npcs": False, "combat": False, **keys}
    config = MMOConfig(
        n_agents=len(spawns), map_size=SIZE, map_center=CENTRE, n_npcs=keys.pop("n_npcs", 2), **keys
    )
    env = MMOEnv(config, num_envs=terrain.shape[0], seed=0)
    spawn = torch.tensor(spawns, dtype=torch.long).expand(terrain.shape[0], -1, -1).contiguous()
    return env, env.reset_to(terrain, spawn)


def act(env: MMOEnv, moves: list[int], attacks: list[int] | None = None) -> torch.Tensor:
    attacks = attacks or [0] * len(moves)
    return {GROUP: torch.tensor([moves, attacks]).T.expand(env.num_envs, -1, -1).contiguous()}


def reference_survival(ticks: int, food_at: set[int] = frozenset(), water_at: set[int] = frozenset()):
    """NM's Player.update, written out for one player: (health, food, water) after each tick."""
    health, food, water, out = 100, 100, 100, []
    for t in range(ticks):
        if food > 50 and water > 50:
            health = min(health + 10, 100)
        health -= 10 * (food == 0) + 10 * (water == 0)
        food, water = max(food - 5, 0), max(water - 5, 0)
        food = 100 if t in food_at else food
        water = 100 if t in water_at else water
        out.append((health, food, water))
        if health <= 0:
            break
    return out


def test_food_water_and_health_follow_the_reference_until_death():
    env, step = world(grass_map(), [(LOW, LOW + 3)])
    expected = reference_survival(100)
    seen = []
    for _ in expected[:-1]:
        step = env.step(act(env, [STAY]))
        assert bool(step[GROUP].alive[0, 0])
        seen.append((int(env.health[0, 0]), int(env.food[0, 0]), int(env.water[0, 0])))
    assert seen == expected[:-1]
    assert expected[19] == (100, 0, 0) and expected[-1][0] <= 0 and len(expected) == 25
    step = env.step(act(env, [STAY]))  # health 0: it dies at tick 25
    assert bool(step[GROUP].terminated[0, 0]) and float(step[GROUP].reward[0, 0]) == pytest.approx(
        1 / 1024 - 1
    )
    assert bool(step.done[0])  # its only player died: the copy ended (and was reset)


def test_foliage_feeds_once_then_is_scrub_and_water_refills_when_adjacent():
    terrain = grass_map()
    terrain[0, LOW + 5, LOW + 5] = FOLIAGE
    terrain[0, LOW + 8, LOW + 9] = WATER
    env, _ = world(terrain, [(LOW, LOW + 1)], foliage_regrowth=0.0)  # no regrowth in this test
    env.pos[0, 0] = torch.tensor([LOW + 5, LOW + 5])
    env.food[0, 0] = 40
    env.step(act(env, [STAY]))
    assert int(env.food[0, 0]) == 100 and int(env.eaten[0, 0]) == 1
    assert int(env.tiles[0, LOW + 5, LOW + 5]) == SCRUB
    env.step(act(env, [STAY]))
    assert int(env.food[0, 0]) == 95  # scrub feeds nobody
    env.pos[0, 0] = torch.tensor([LOW + 8, LOW + 8])  # west of the water
    env.water[0, 0] = 10
    env.step(act(env, [STAY]))
    assert int(env.water[0, 0]) == 100 and int(env.drunk[0, 0]) == 1
    env.pos[0, 0] = torch.tensor([LOW + 7, LOW + 8])  # diagonal: not 4-adjacent
    env.step(act(env, [STAY]))
    assert int(env.water[0, 0]) == 95


def test_two_players_on_one_foliage_tile_one_harvests():
    terrain = grass_map()
    terrain[0, LOW + 5, LOW + 5] = FOLIAGE
    env, _ = world(terrain, [(LOW, LOW + 1), (LOW, LOW + 2)])
    env.pos[0, :] = torch.tensor([LOW + 5, LOW + 5])
    env.food[0, :] = 40
    env.step(act(env, [STAY, STAY]))
    assert env.food[0].tolist() == [100, 35]


def test_scrub_regrows_with_probability_0_025_per_tick():
    terrain = grass_map(16)
    terrain[:, LOW + 1 : HIGH, LOW + 1 : HIGH] = SCRUB  # 225 tiles per copy
    env, _ = world(terrain, [(LOW, LOW + 1)])
    scrub = env.tiles == SCRUB
    total, remaining, regrown = 0, int(scrub.sum()), []
    for _ in range(20):
        env.step(act(env, [STAY]))
        now = int((env.tiles == SCRUB).sum())
        regrown.append(remaining - now)
        total += remaining
        remaining = now
    rate = sum(regrown) / total
    assert abs(rate - 0.025) < 0.004, rate  # ~ 60,000 tile-ticks: the standard error is 0.0006
    env, _ = world(terrain, [(LOW, LOW + 1)], foliage_regrowth=0.2)
    for _ in range(3):
        env.step(act(env, [STAY]))
    assert abs(float((env.tiles == SCRUB).float().sum() / scrub.sum()) - 0.8**3) < 0.02
    assert int(env.tiles[env.tiles != VOID].eq(STONE).sum()) == 0


@pytest.mark.parametrize(
    ("style", "target_top", "attacker_xp", "target_xp", "damage"),
    [
        (0, 0, 0, 6, 10),  # melee on a melee player: 15 - 5
        (1, 0, 0, 6, 10),  # range on melee
        (2, 0, 0, 6, 17),  # mage beats melee: int(1.5 * 15 - 5)
        (0, 1, 0, 6, 17),  # melee beats range
        (1, 2, 0, 6, 17),  # range beats mage
        (2, 0, 0, 0, 10),  # a target with no XP (all three equal) has no top style: no bonus
        (0, 2, 373, 6, 25),  # melee level 4 (373 XP): 10 + 20 = 30 offense, minus 5
        (1, 1, 0, 1737, 3),  # target level 10: defense 50, so the floor int(0.25 * 15)
    ],
)
def test_damage_per_style_with_the_weakness_multiplier(style, target_top, attacker_xp, target_xp, damage):
    env, step = world(grass_map(), [(LOW, LOW + 3), (LOW, LOW + 5)], combat=True)
    env.time_alive[:] = 20  # past spawn immunity
    env.xp[0, 0, style] = attacker_xp
    env.xp[0, 1, target_top] = target_xp
    env.health[0, 1] = 50
    env._view_cache = None  # state edited by hand: recompute the view
    slot = int((env._sight().slots[0, 0] == 1).nonzero()[0])
    assert bool(env._action_mask()[GROUP][0, 0, 5])  # attacking nobody is always legal
    env.step(act(env, [STAY, STAY], [1 + style * env.K + slot, 0]))
    assert int(env.health[0, 1]) == 60 - damage  # +10 from the update (fed and watered), then the hit
    assert int(env.xp[0, 0, style]) == attacker_xp + 6  # NM's PROGRESSION_COMBAT_XP_SCALE


def test_combat_levels_follow_the_reference_thresholds():
    env, _ = world(grass_map(), [(LOW, LOW + 3)])
    thresholds = [0, 90, 217, 373, 553, 754, 974, 1212, 1467, 1737]  # default_exp_threshold(90, 10)
    for level, xp in enumerate(thresholds, start=1):
        env.xp[0, 0] = torch.tensor([max(xp - 1, 0), xp, 10**6])
        assert env.levels()[0, 0].tolist() == [max(level - 1, 1), level, 10]


def test_players_younger_than_20_ticks_are_immune_to_players_and_reach_is_3():
    env, step = world(grass_map(), [(LOW, LOW + 3), (LOW, LOW + 6), (LOW, LOW + 10)], combat=True)
    slots = env._sight().slots[0, 0].tolist()
    assert not bool(step[GROUP].action_mask[0, 0, 6:].any())  # everybody is 0 ticks old
    for target, allowed in ((19, False), (20, True)):
        env.time_alive[0, 1:] = target
        legal = env._action_mask()[GROUP][0, 0, 6 : 6 + env.K]
        assert bool(legal[slots.index(1)]) == allowed
        assert not bool(legal[slots.index(2)])  # 7 tiles away: seen, not in reach


def test_npc_kinds_and_levels_follow_the_danger_bands():
    env = marl.make("mmo/medium", num_envs=2, seed=3)
    env.reset()
    live = env.live[:, env.N :]
    pos = env.pos[:, env.N :]
    d = danger(pos, env.H, env.centre)
    kind = torch.where(d >= 0.8, AGGRESSIVE, torch.where(d >= 0.5, NEUTRAL, PASSIVE))
    assert bool((env.npc_kind[live] == kind[live]).all())
    assert bool((env.npc_level[live] == (d * (env.npc_max_level - 1) + 1).long()[live]).all())
    assert {PASSIVE, NEUTRAL, AGGRESSIVE} <= set(env.npc_kind[live].tolist())
    ring = edge_ring(env.H, env.centre, torch.device("cpu"))
    assert float(danger(ring, env.H, env.centre).max()) == 0.0
    assert math.isclose(float(danger(torch.tensor([[80, 80]]), 160, 128)), 2 * 63 / 128)
    tiles = env.tiles.flatten(1).gather(1, env.flat(pos))
    assert bool(torch.tensor(PASSABLE)[tiles.long()][live].all())


def test_an_aggressive_npc_chases_and_strikes_and_npcs_regenerate():
    env, _ = world(grass_map(), [(LOW, LOW + 3)], npcs=True, combat=True, n_npcs=2)
    N = env.N
    env.pos[0, N] = torch.tensor([LOW + 6, LOW + 3])  # 6 rows south of the player
    env.pos[0, N + 1] = torch.tensor([LOW + 14, LOW + 14])
    env.live[0, N:] = True
    env.npc_kind[0] = torch.tensor([AGGRESSIVE, PASSIVE])
    env.npc_offense[0, 0], env.npc_style[0, 0] = 20, 0
    env.health[0, N:] = torch.tensor([50, 50])
    env._view_cache = None
    env.step(act(env, [STAY]))
    assert env.pos[0, N].tolist() == [LOW + 5, LOW + 3]  # a step north, towards the player
    assert int(env.health[0, N]) == 51 and int(env.health[0, N + 1]) == 51
    for _ in range(2):
        env.step(act(env, [STAY]))
    assert env.pos[0, N].tolist() == [LOW + 3, LOW + 3]  # in reach (3): it stops and strikes
    health = int(env.health[0, 0])
    env.step(act(env, [STAY]))
    assert int(env.health[0, 0]) == min(health + 10, 100) - (20 - 5)


def test_a_neutral_npc_strikes_back_and_a_defeat_counts():
    env, step = world(
        grass_map(), [(LOW, LOW + 3)], npcs=True, combat=True, n_npcs=1, tasks=["defeat_npcs:1"]
    )
    N = env.N
    env.pos[0, N] = torch.tensor([LOW + 2, LOW + 3])
    env.live[0, N] = True
    env.npc_kind[0, 0], env.npc_offense[0, 0], env.npc_defense[0, 0] = NEUTRAL, 20, 0
    env.npc_style[0, 0] = 0  # melee: a melee hit is not super effective
    env.health[0, N] = 40
    env._view_cache = None
    step = env.step(act(env, [STAY]))
    assert int(env.npc_target[0, 0]) == -1 and int(env.health[0, 0]) == 100  # not attacked: it meanders
    env.pos[0, N] = torch.tensor([LOW + 2, LOW + 3])
    env._view_cache = None
    slot = int((env._sight().slots[0, 0] == N).nonzero()[0])
    step = env.step(act(env, [STAY], [1 + slot]))  # melee: 15 damage
    assert int(env.health[0, N]) == 41 + 1 - 15 and int(env.npc_attacker[0, 0]) == 0
    env.time_alive[0, 0] = 25
    step = env.step(act(env, [STAY]))  # it takes the player as its target, strikes (20 - 5) and closes in
    assert int(env.npc_target[0, 0]) == 0 and int(env.health[0, 0]) == 100 - 15
    env._view_cache = None
    slot = int((env._sight().slots[0, 0] == N).nonzero()[0])
    env.health[0, N] = 10
    step = env.step(act(env, [STAY], [1 + slot]))
    assert int(env.kills[0, 0]) == 1 and float(step[GROUP].reward[0, 0]) == pytest.approx(1.0)
    assert float(env.progress[0, 0]) == 1.0


def test_the_dead_leave_the_entity_sets_and_get_minus_one():
    env, step = world(grass_map(), [(LOW, LOW + 3), (LOW, LOW + 5)])
    env.health[0, 1], env.food[0, 1], env.water[0, 1] = 10, 0, 0
    step = env.step(act(env, [STAY, STAY]))
    assert step[GROUP].terminated[0].tolist() == [False, True]
    assert step[GROUP].alive[0].tolist() == [True, False]
    assert float(step[GROUP].reward[0, 1]) == pytest.approx(1 / env.horizon - 1)
    assert not bool(step[GROUP].obs["entities_mask"][0, 0].any())


def test_agents_that_die_leave_agents_in_the_pettingzoo_view():
    env = marl.make("mmo/small", num_envs=1, seed=0, npcs=False, combat=False)
    par = marl.to_parallel(env)
    par.reset(seed=0)
    env.health[0, 3], env.food[0, 3], env.water[0, 3] = 10, 0, 0
    actions = {a: np.array([STAY, 0]) for a in par.agents}
    _, _, terminations, _, _ = par.step(actions)
    assert terminations["agent_3"] and "agent_3" not in par.agents and "agent_2" in par.agents


def test_random_legal_play_never_stands_on_water_stone_or_void_and_illegal_moves_stay_put():
    env = marl.make("mmo/small", num_envs=4, seed=1)
    step = env.reset()
    passable = torch.tensor(PASSABLE)
    for _ in range(60):
        step = env.step(env.sample_actions())
        tiles = env.tiles.flatten(1).gather(1, env.flat(env.pos)).long()
        assert bool(passable[tiles][env.live].all())
    terrain = grass_map()
    terrain[0, LOW + 4, LOW + 3] = STONE
    env, step = world(terrain, [(LOW + 3, LOW + 3)])
    env.pos[0, 0] = torch.tensor([LOW + 5, LOW + 3])
    env._view_cache = None
    assert not bool(env._action_mask()[GROUP][0, 0, 0])  # north is stone
    with pytest.raises(ValueError, match="illegal under the action mask"):
        env.step(act(env, [0]))
    env.validate_actions = False
    env.step(act(env, [0]))
    assert env.pos[0, 0].tolist() == [LOW + 5, LOW + 3]


def test_tasks_pay_their_progress_once():
    terrain = grass_map()
    terrain[0, LOW + 1, LOW + 4] = FOLIAGE
    tasks = ["eat:1", f"reach:{LOW + 2},{LOW + 6}", "explore:3", "survive:4"]
    env, step = world(terrain, [(LOW, LOW + 4), (LOW, LOW + 5), (LOW, LOW + 6), (LOW, LOW + 7)], tasks=tasks)
    assert env.progress[0].tolist() == [0.0, 0.0, pytest.approx(1 / 3), 0.0]
    total = torch.zeros(4)
    for moves in ([1, 1, 1, STAY], [STAY, 1, 1, STAY], [STAY, 2, STAY, STAY], [STAY, STAY, STAY, STAY]):
        step = env.step(act(env, moves))
        total += step[GROUP].reward[0]
    # eat: harvested at tick 2; reach: two steps south, one east; explore: 3 tiles; survive: 4 ticks
    assert total.tolist() == pytest.approx([1.0, 1.0, 2 / 3, 1.0])
    assert env.progress[0].tolist() == [1.0, 1.0, 1.0, 1.0]


def test_tasks_are_sampled_per_agent_from_the_list():
    env = marl.make(
        "mmo/small", num_envs=8, seed=0, tasks=["eat", "drink", "survive"], task_assignment="sample"
    )
    env.reset()
    assert set(env.task.flatten().tolist()) == {0, 1, 2}
    cycled = marl.make("mmo/small", num_envs=2, seed=0, tasks=["eat", "drink"])
    cycled.reset()
    assert cycled.task[1, :4].tolist() == [0, 1, 0, 1]


def test_respawn_rejoins_after_the_delay():
    env, step = world(grass_map(), [(LOW, LOW + 3), (LOW, LOW + 5)], respawn_delay=3, max_steps=40)
    assert env.group_specs[GROUP].lives > 1
    env.health[0, 1], env.food[0, 1], env.water[0, 1] = 10, 0, 0
    step = env.step(act(env, [STAY, STAY]))
    assert not bool(step[GROUP].alive[0, 1])
    for _ in range(2):
        step = env.step(act(env, [STAY, STAY]))
        assert not bool(step[GROUP].alive[0, 1]) and not bool(step[GROUP].joined[0, 1])
    step = env.step(act(env, [STAY, STAY]))
    assert bool(step[GROUP].joined[0, 1]) and bool(step[GROUP].alive[0, 1])
    assert int(env.health[0, 1]) == 100 and int(env.time_alive[0, 1]) == 0


def test_presets_observations_and_state():
    small = marl.make("mmo/small", num_envs=2, seed=0)
    step = small.reset()
    obs = step[GROUP].obs
    assert obs["tiles"].shape == (2, 64, 8, 15, 15) and obs["entities"].shape == (2, 64, 16, 13)
    assert step[GROUP].action_mask.shape == (2, 64, 5 + 1 + 3 * 16)
    assert step.state.shape == (2, (64 + 32) * 11 + 1)  # O(entities), not one copy per agent
    assert bool((obs["tiles"][:, :, :6].sum(2) == 1).all())  # one material per crop tile
    assert (small.H, small.N, small.M, small.horizon) == (64, 64, 32, 128)
    spawn_rows = small.pos[:, : small.N]
    ring = {tuple(p) for p in edge_ring(64, 32, torch.device("cpu")).tolist()}
    assert all(tuple(p) in ring for p in spawn_rows.reshape(-1, 2).tolist())
    # distinct entries of NM's edge list, which holds the corner (border, border) twice
    assert len({tuple(p) for p in spawn_rows[0].tolist()}) >= small.N - 1
    assert len(ring) == 4 * 32 - 1 and len(edge_ring(64, 32, torch.device("cpu"))) == 4 * 32
    medium = marl.make("mmo/medium", num_envs=1, seed=0, map_size=150)
    assert (medium.H, medium.N, medium.M, medium.horizon) == (150, 128, 128, 1024)
    large = mmo.MMOLargeConfig()
    assert (large.n_agents, large.map_size, large.map_center, large.max_steps) == (1024, 1056, 1024, 8192)
    image = small.render(1)
    assert image.dtype == np.uint8 and image.shape == (512, 512, 3)
    small.render_region = (16, 16, 32)
    assert small.render(0).shape == (512, 512, 3)


def test_reset_to_puts_players_where_asked_and_rejects_bad_input():
    env, step = world(grass_map(2), [(LOW, LOW + 3), (LOW + 4, LOW + 4)])
    assert env.pos[:, :2].tolist() == [[[LOW, LOW + 3], [LOW + 4, LOW + 4]]] * 2
    assert bool((env.tiles.long() == grass_map(2)).all())
    spawns = torch.tensor([[[LOW, LOW + 3], [LOW + 4, LOW + 4]]] * 2)
    with pytest.raises(ValueError, match="LongTensor of shape"):
        env.reset_to(grass_map(2).int(), spawns)
    with pytest.raises(ValueError, match="resource tiles"):
        bad = grass_map(2)
        bad[0, LOW, LOW] = 9
        env.reset_to(bad, spawns)
    with pytest.raises(ValueError, match="outside the playable"):
        env.reset_to(grass_map(2), spawns - LOW)
    with pytest.raises(ValueError, match=r"grass at \(7, 12\), outside the playable square"):
        outside = grass_map(2)
        outside[0, LOW - 1, LOW + 4] = GRASS
        env.reset_to(outside, spawns)
    water = grass_map(2)
    water[1, LOW + 4, LOW + 4] = WATER
    with pytest.raises(ValueError, match="agent 1 in copy 1 .* water"):
        env.reset_to(water, spawns)


def test_bad_config_fails_before_any_work():
    with pytest.raises(ValueError, match="unknown task 'fly'"):
        marl.make("mmo/small", tasks=["fly"])
    with pytest.raises(ValueError, match="positive int"):
        marl.make("mmo/small", tasks=["eat:0"])
    with pytest.raises(ValueError, match="do not fit the spawn edge"):
        marl.make("mmo/small", n_agents=200)
    with pytest.raises(ValueError, match="wider than vision"):
        marl.make("mmo/small", map_size=40)


def test_the_forager_outlives_random_play():
    assert "mmo_forager" in marl.list_algos()
    lifetime = {}
    for name in ("forager", "random"):
        env = marl.make("mmo/small", num_envs=4, seed=0, npcs=False, combat=False)
        forager = Forager(env, ForagerConfig(seed=0), env.device)
        step, first = env.reset(), torch.full((4,), float("nan"))
        for _ in range(128):  # every copy ends its first episode by the horizon
            step = env.step(forager.act(step, None)[0] if name == "forager" else env.sample_actions())
            if bool(step.done.any()):
                ended = step.done & first.isnan()
                first[ended] = step.info["lifetime"][ended]
        lifetime[name] = float(first.mean())
    assert lifetime["forager"] > 1.5 * lifetime["random"], lifetime
    with pytest.raises(TypeError, match="plays the MMO world"):
        Forager(marl.make("lbf/8x8-2p-2f"), ForagerConfig(), torch.device("cpu"))


def test_generated_maps_have_the_reference_layout_and_proportions():
    size, centre = 160, 128
    tiles = generate(16, size, centre, torch.Generator().manual_seed(0), torch.device("cpu")).long()
    first, last = 16, 16 + centre  # the playable square, NM's rows border to border + centre
    inside = torch.zeros(size, size, dtype=torch.bool)
    inside[first : last + 1, first : last + 1] = True
    assert bool((tiles[:, ~inside] == VOID).all())
    ring = inside.clone()
    ring[first + 1 : last, first + 1 : last] = False
    assert bool((tiles[:, ring] == GRASS).all())
    inner_edge = torch.zeros_like(inside)
    inner_edge[first + 1 : last, first + 1 : last] = True
    inner_edge[first + 2 : last - 1, first + 2 : last - 1] = False
    assert not bool(((tiles[:, inner_edge] == STONE) | (tiles[:, inner_edge] == WATER)).any())
    counts = torch.bincount(tiles[:, inside].flatten(), minlength=6).float()
    share = (counts / counts.sum()).tolist()  # NM's Small map: 26% water, 48% grass, 15% foliage, 11% stone
    assert 0.2 < share[WATER] < 0.32 and 0.4 < share[GRASS] < 0.56
    assert 0.1 < share[FOLIAGE] < 0.2 and 0.07 < share[STONE] < 0.17 and share[SCRUB] == 0


def test_npcs_without_a_target_meander_one_tile_each_tick():
    env, _ = world(grass_map(4), [(LOW, LOW + 3)], npcs=True, combat=True, n_npcs=3)
    N = env.N
    env.pos[:, N:] = torch.tensor([[LOW + 8, LOW + 8], [LOW + 10, LOW + 4], [LOW + 12, LOW + 12]])
    env.live[:, N:] = True
    env.npc_kind[:] = PASSIVE
    env._view_cache = None
    for _ in range(5):
        before = env.pos[:, N:].clone()
        env.step(act(env, [STAY]))
        assert bool(((env.pos[:, N:] - before).abs().sum(-1) == 1).all())  # NM's meander never stays

"""The smacv2/* adapter over a stand-in with SMACv2's interface (neither SMACv2 nor StarCraft II runs here).

The stand-in (tests/helpers/smacv2_standin.py) has the method names and return shapes of SMACv2's
`StarCraftCapabilityEnvWrapper`; it is injected either as the adapter's `game_fn` or, for the registered ids,
as the `smacv2.env` module the ids import.
"""

import importlib.util
import sys
import types

import numpy as np
import pytest
import torch
from smacv2_standin import StandInSMACv2

import marl
import marl.testing
from envs import smacv2
from envs.smacv2 import GROUP, SMACv2Env, capability_config

smacv2.register()
HAS_SMACV2 = importlib.util.find_spec("smacv2") is not None


def make(num_envs=2, seed=0, n_units=3, n_enemies=4, **game):
    """The adapter over stand-in games of `n_units` allies and `n_enemies` enemies; `game` are the
    stand-in's options (episode_limit, ally_damage, enemy_damage); the built games are in `env.games`."""
    config = capability_config("protoss", n_units, n_enemies)

    def game_fn(seed):
        return StandInSMACv2(config, seed=seed, continuing_episode=True, **game)

    return SMACv2Env(game_fn, num_envs=num_envs, seed=seed)


def actions(env, choose):
    """`choose(avail [n, A]) -> [n]` per copy, as the batched action tensor."""
    masks = env._action_mask()[GROUP].numpy()
    return {GROUP: torch.tensor(np.stack([choose(m) for m in masks]))}


def attack_or_east(avail):
    """Attack the first enemy in range, else move east (towards the enemies); no-op when dead."""
    out = []
    for row in avail:
        attacks = np.flatnonzero(row[6:])
        out.append(6 + attacks[0] if len(attacks) else 4 if row[4] else 1 if row[1] else 0)
    return np.array(out)


def test_spaces_and_shapes_come_from_get_env_info():
    env = make(num_envs=3)
    info = env.games[0].get_env_info()
    step = env.reset()
    assert env.possible_agents == ["agent_0", "agent_1", "agent_2"]
    assert env.action_space("agent_0").n == info["n_actions"] == 6 + 4
    assert env.observation_space("agent_1").shape == (info["obs_shape"],)
    assert env.state_space.shape == (info["state_shape"],)
    assert env.episode_limit == info["episode_limit"]
    assert step[GROUP].obs.shape == (3, 3, info["obs_shape"]) and step.state.shape == (3, info["state_shape"])
    for b, game in enumerate(env.games):
        assert np.array_equal(step[GROUP].obs[b].numpy(), np.stack(game.get_obs()))
        assert np.array_equal(step.state[b].numpy(), game.get_state())
        assert np.array_equal(step[GROUP].action_mask[b].numpy(), np.array(game.get_avail_actions(), bool))


def test_dead_allies_are_masked_and_send_no_op():
    env = make(num_envs=2, enemy_damage=(40, 60), episode_limit=200)
    step = env.reset(seed=3)
    died = False
    while not died:
        alive_before = step[GROUP].alive.clone()
        # a dead agent's action is ignored (SMACv2 would refuse anything but no-op): send "stop" for it
        chosen = actions(env, lambda avail: np.where(avail[:, 0], 1, np.argmax(avail[:, 1:], 1) + 1))
        step = env.step(chosen)
        gone = alive_before & ~step[GROUP].alive & ~step.done[:, None]
        died = bool(gone.any())
    b, i = (int(x) for x in gone.nonzero()[0])
    assert step[GROUP].terminated[b, i] and not step.truncated[b]
    mask = step[GROUP].action_mask[b, i]
    assert mask[0] and not mask[1:].any()  # SMACv2: no-op only, for dead units only
    assert not step[GROUP].action_mask[step[GROUP].alive][:, 0].any()
    assert env.games[b].ally_health[i] == 0


def test_team_reward_goes_to_every_alive_agent_and_sums_to_team_return():
    env = make(num_envs=2, enemy_damage=(20, 40), episode_limit=100)
    step = env.reset(seed=1)
    totals = np.zeros(2)
    for _ in range(200):
        alive = step[GROUP].alive.clone()
        before = [g.enemy_health.sum() for g in env.games]
        step = env.step(actions(env, attack_or_east))
        reward = step[GROUP].reward
        for b in range(2):
            if alive[b].any():
                team = reward[b][alive[b]]
                assert torch.all(team == team[0]), "every alive agent gets the same team reward"
                totals[b] += float(team[0])
                if not step.done[b]:
                    assert (float(team[0]) > 0) == (env.games[b].enemy_health.sum() < before[b])
            assert torch.all(reward[b][~alive[b]] == 0)
        if step.done.any():
            b = int(step.done.nonzero()[0])
            assert step.info["team_return"][b] == pytest.approx(totals[b], rel=1e-5)
            return
    pytest.fail("no episode ended")


def test_a_won_battle_terminates_every_agent_and_counts_in_the_win_rate():
    env = make(num_envs=2, ally_damage=60.0, enemy_damage=(0, 1), episode_limit=60)
    env.reset(seed=0)
    for _ in range(60):
        step = env.step(actions(env, attack_or_east))
        if step.done.all():
            break
    assert step.done.all() and not step.truncated.any()
    assert step[GROUP].terminated.all()
    assert step.info["battle_won"].tolist() == [1.0, 1.0] and step.info["timeout"].tolist() == [0.0, 0.0]
    assert step.info["dead_enemies"].tolist() == [4.0, 4.0]
    assert [g.get_stats()["win_rate"] for g in env.games] == [1.0, 1.0]
    assert step[GROUP].alive.all() and (env.elapsed == 0).all()  # the new episode started


def test_the_episode_limit_is_a_truncation_not_a_termination():
    env = make(num_envs=2, enemy_damage=(0, 0), episode_limit=5)
    step = env.reset(seed=0)
    for t in range(5):
        last_obs = step[GROUP].obs.clone()
        step = env.step(actions(env, lambda avail: np.ones(len(avail), int)))  # everyone stops
        assert bool(step.done.any()) == (t == 4)
    assert step.truncated.all() and not step[GROUP].terminated.any()
    assert step.info["timeout"].tolist() == [1.0, 1.0] and step.info["battle_won"].tolist() == [0.0, 0.0]
    assert torch.equal(step.final_obs[GROUP][:, :, 4:], last_obs[:, :, 4:])  # nothing moved: the last obs
    assert all(g.resets == 2 for g in env.games)


def test_a_step_without_info_is_a_truncation():
    """SMACv2 answers `(0, True, {})` when it had to restart a crashed game."""
    env = make(num_envs=2)
    env.reset(seed=0)
    env.games[1].step = lambda actions: (0, True, {})
    step = env.step(actions(env, lambda avail: np.ones(len(avail), int)))
    assert step.done.tolist() == [False, True] and step.truncated.tolist() == [False, True]
    assert not step[GROUP].terminated.any()


def test_auto_reset_resets_only_the_ended_copies():
    env = make(num_envs=3, enemy_damage=(30, 60), episode_limit=50)
    env.reset(seed=2)
    for _ in range(200):
        resets = [g.resets for g in env.games]
        step = env.step(env.sample_actions())
        assert [g.resets - r for g, r in zip(env.games, resets, strict=True)] == step.done.int().tolist()
        if step.done.any() and not step.done.all():
            b = int(step.done.nonzero()[0])
            assert np.array_equal(step[GROUP].obs[b].numpy(), np.stack(env.games[b].get_obs()))
            return
    pytest.fail("no copy ended alone")


def test_seeding_gives_each_copy_a_game_built_with_its_own_seed():
    env = make(num_envs=3, seed=7)
    first = env.games
    assert [g.seed() for g in first] == env.copy_seeds and len(set(env.copy_seeds)) == 3
    a = env.reset(seed=7)
    assert all(g.closed for g in first) and env.copy_seeds == [g.seed() for g in env.games]
    same = make(num_envs=3, seed=0).reset(seed=7)
    other = make(num_envs=3, seed=0).reset(seed=8)
    assert torch.equal(a[GROUP].obs, same[GROUP].obs) and not torch.equal(a[GROUP].obs, other[GROUP].obs)
    games = env.games
    env.reset()  # no seed: the same games go on
    assert env.games is games and all(g.resets == 2 for g in games)


def test_close_closes_every_game():
    env = make(num_envs=3)
    games = env.games
    env.reset()
    env.close()
    assert all(g.closed for g in games)


def test_the_adapter_passes_the_conformance_checks():
    results = marl.testing.check_env(make, num_envs=3, steps=20)
    skipped = {name for name, result in results.items() if result != "passed"}
    # external games: a loop on the host by design, nothing to compile
    assert skipped == {"batched_ops", "matches_cpu", "compiled"}, results


def test_registered_ids_build_smacv2s_wrapper_with_its_example_config(monkeypatch):
    built = []

    def wrapper(**kwargs):
        built.append(kwargs)
        return StandInSMACv2(**kwargs)

    fake = types.ModuleType("smacv2.env")
    fake.StarCraftCapabilityEnvWrapper = wrapper
    monkeypatch.setitem(sys.modules, "smacv2", types.ModuleType("smacv2"))
    monkeypatch.setitem(sys.modules, "smacv2.env", fake)
    env = marl.make("smacv2/terran_10_vs_11", num_envs=2, seed=0, difficulty="5")
    assert (
        env.possible_agents == [f"agent_{i}" for i in range(10)] and env.action_space("agent_0").n == 6 + 11
    )
    kwargs = built[-1]
    assert kwargs["map_name"] == "10gen_terran" and kwargs["difficulty"] == "5"
    assert kwargs["continuing_episode"] is True and kwargs["seed"] == env.copy_seeds[-1]
    assert (kwargs["obs_own_pos"], kwargs["use_unit_ranges"], kwargs["min_attack_range"]) == (True, True, 2)
    assert kwargs["capability_config"] == {
        "n_units": 10,
        "n_enemies": 11,
        "team_gen": {
            "dist_type": "weighted_teams",
            "unit_types": ["marine", "marauder", "medivac"],
            "weights": [0.45, 0.45, 0.1],
            "exception_unit_types": ["medivac"],
            "observe": True,
        },
        "start_positions": {"dist_type": "surrounded_and_reflect", "p": 0.5, "map_x": 32, "map_y": 32},
    }
    env.reset()
    env.step(env.sample_actions())
    env.close()
    with pytest.raises(ValueError, match="difficulty"):
        marl.make("smacv2/terran_10_vs_11", difficulty="hard")


def test_every_scenario_is_listed():
    ids = [e for e in marl.list_envs() if e.startswith("smacv2/")]
    assert len(ids) == 15 and "smacv2/protoss_5_vs_5" in ids and "smacv2/zerg_20_vs_23" in ids


@pytest.mark.skipif(HAS_SMACV2, reason="smacv2 is installed here")
def test_without_smacv2_make_fails_with_one_message_saying_how_to_install():
    with pytest.raises(marl.MissingDependency) as error:
        marl.make("smacv2/protoss_5_vs_5")
    message = str(error.value)
    assert "pip install git+https://github.com/oxwhirl/smacv2.git" in message
    assert "StarCraft II" in message and "SC2PATH" in message and "SMAC_Maps" in message
    results = marl.testing.check_env("smacv2/protoss_5_vs_5", num_envs=2, steps=2)
    assert all(result.startswith("skipped: the smacv2/* environments need") for result in results.values())


@pytest.mark.skipif(HAS_SMACV2, reason="smacv2 is installed here")
def test_without_smacv2_marl_train_stops_with_that_message_in_one_line(tmp_path, capsys):
    from marl.running.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["train", "env=smacv2/protoss_5_vs_5", "algo=mappo", f"hydra.run.dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and len(err.splitlines()) == 1
    assert err.startswith("marl train: the smacv2/* environments need SMACv2 and StarCraft II")
    assert not (tmp_path / "run").exists()


def test_a_game_that_breaks_smacv2s_interface_is_refused_clearly():
    config = capability_config("protoss", 3, 4)

    class NoLimit(StandInSMACv2):
        def get_env_info(self):
            return {k: v for k, v in super().get_env_info().items() if k != "episode_limit"}

    class ShortObs(StandInSMACv2):
        def get_obs(self):
            return [o[:-1] for o in super().get_obs()]

    with pytest.raises(KeyError, match="lacks \\['episode_limit'\\]"):
        SMACv2Env(lambda seed: NoLimit(config, seed=seed))
    env = SMACv2Env(lambda seed: ShortObs(config, seed=seed), num_envs=2)
    with pytest.raises(ValueError, match=r"copy 0: get_obs\(\) has shape \(3, 36\), expected \(3, 37\)"):
        env.reset()

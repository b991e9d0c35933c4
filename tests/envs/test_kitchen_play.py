"""`marl play` on the kitchen, headless (SDL's dummy video driver, set in conftest.py): scripted key presses
drive a chef beside the scripted partner or a second person; the saved trajectory is the episode played."""

import json

import imageio.v3 as iio
import pytest

import marl
from envs import kitchen
from envs.kitchen.env import EAST, INTERACT, NORTH, NOTHING, ONION, SOUTH, STAY, WEST, KitchenEnv
from marl.running.cli import main
from marl.running.config import compose_run_config
from marl.running.play import play_run

kitchen.register()
kitchen.register_baselines()

# cramped_room: chef_0 starts two cells below the counter at (1, 0); up, face the onion dispenser on the
# left, take an onion, face the counter, put the onion there, wait
ONION_TO_COUNTER = ["up", "left", "space", "up", "space", "none"]
EXPECTED = [NORTH, WEST, INTERACT, NORTH, INTERACT, STAY]
COUNTER_CELL = 1  # (x, y) = (1, 0) on the 5-wide grid


def play(tmp_path, *overrides: str) -> dict:
    main(["play", "env=kitchen/cramped_room", "play.fps=1000", f"run_dir={tmp_path}", *overrides])
    return json.loads((tmp_path / "play" / "episode_0.json").read_text())


def replay(record: dict) -> tuple[KitchenEnv, list[dict[str, float]]]:
    """A fresh copy with the same seed after the saved joint actions, and the rewards they gave."""
    env = marl.make(record["env"], num_envs=1, seed=record["seed"])
    env.reset(seed=record["seed"])
    rewards = []
    for step in record["steps"]:
        actions = env.sample_actions()
        for i, agent in enumerate(env.possible_agents):
            actions["chefs"][0, i] = step["actions"][agent]
        result = env.step(actions)
        rewards.append(dict(zip(env.possible_agents, result["chefs"].reward[0].tolist(), strict=True)))
    return env, rewards


def test_scripted_keys_drive_a_chef_beside_the_scripted_partner_and_the_trajectory_replays(tmp_path):
    record = play(tmp_path, "play.partner=kitchen_greedy", f"play.script=[{','.join(ONION_TO_COUNTER)}]")
    assert record["controllers"] == {"chef_0": "human (up/down/right/left/space)", "chef_1": "kitchen_greedy"}
    assert record["length"] == len(ONION_TO_COUNTER) and record["ended"] == "scripted keys ran out"
    assert [s["actions"]["chef_0"] for s in record["steps"]] == EXPECTED
    assert [s["keys"]["chef_0"] for s in record["steps"]] == [*ONION_TO_COUNTER[:-1], ""]
    env, rewards = replay(record)
    assert rewards == [s["rewards"] for s in record["steps"]]
    assert env.item[0, COUNTER_CELL] == ONION and env.held[0, 0] == NOTHING
    assert record["returns"] == {"chef_0": 0.0, "chef_1": 3.0}  # the partner put its onion in the pot
    frames = iio.imread(tmp_path / "videos" / "play_0.gif", index=None)
    env_frame = marl.make("kitchen/cramped_room").render()
    assert frames.shape[0] == len(ONION_TO_COUNTER) + 1
    assert frames.shape[1] > env_frame.shape[0]  # the text bar above the kitchen


def test_two_people_share_the_keyboard_and_escape_ends_the_episode(tmp_path):
    script = "[up+w,left+s,d,escape,up]"
    record = play(tmp_path, "play.partner=human", f"play.script={script}")
    assert record["controllers"] == {
        "chef_0": "human (up/down/right/left/space)",
        "chef_1": "human (w/s/d/a/e)",
    }
    assert record["length"] == 3 and record["ended"] == "window closed"
    assert [s["actions"]["chef_0"] for s in record["steps"]] == [NORTH, WEST, STAY]
    assert [s["actions"]["chef_1"] for s in record["steps"]] == [NORTH, SOUTH, EAST]


@pytest.mark.parametrize(
    "values, message",
    [
        ({"env": "kitchen/cramped_room"}, "play.partner=checkpoint needs checkpoint=RUN_DIR"),
        ({"env": "kitchen/cramped_room", "play": {"partner": "greedy"}}, "play.partner must be checkpoint"),
        (
            {"env": "kitchen/cramped_room", "play": {"partner": "random", "agent": "chef_7"}},
            "no agent 'chef_7'",
        ),
        (
            {"env": "kitchen/cramped_room", "play": {"partner": "random", "second": "chef_1"}},
            "needs play.partner",
        ),
        (
            {"env": "kitchen/cramped_room", "play": {"partner": "random", "script": ["upp"]}},
            r"play.script\[0\]",
        ),
        (
            {"checkpoint": "runs/x", "play": {"partner": "kitchen_greedy"}},
            "checkpoint= is for play.partner=checkpoint",
        ),
        ({"env": "kitchen/quad_room", "play": {"partner": "human"}}, "seats two people but .* has 4 agents"),
        (
            {"env": "mpe/simple_spread", "play": {"partner": "random"}},
            "cannot be played: .* defines no `play_keys`",
        ),
    ],
)
def test_bad_play_options_are_named(tmp_path, values, message):
    cfg = compose_run_config(values={**values, "run_dir": str(tmp_path)})
    with pytest.raises(ValueError, match=message):
        play_run(cfg)


def test_a_checkpoints_policy_is_the_partner_and_sessions_add_episodes_to_its_run(tmp_path):
    run = tmp_path / "run"
    fast = ["num_envs=2", "total_steps=64", "eval_episodes=1", "progress=false", "~experiment"]
    main(["train", "env=kitchen/cramped_room", "algo=random", *fast, f"run_dir={run}"])
    for script in ("[down,space]", "[up]"):
        main(["play", f"checkpoint={run}", "play.agent=chef_1", f"play.script={script}", "play.fps=1000"])
    first, second = (json.loads((run / "play" / f"episode_{k}.json").read_text()) for k in (0, 1))
    assert first["controllers"] == {
        "chef_0": f"random from {run}",
        "chef_1": "human (up/down/right/left/space)",
    }
    assert [s["actions"]["chef_1"] for s in first["steps"]] == [SOUTH, INTERACT]
    assert second["episode"] == 1 and [s["actions"]["chef_1"] for s in second["steps"]] == [NORTH]
    assert (run / "videos" / "play_0.gif").is_file() and (run / "videos" / "play_1.gif").is_file()


def test_episodes_follow_one_another_until_the_script_runs_out(tmp_path):
    overrides = [
        "env.horizon=3",
        "play.episodes=3",
        "play.partner=kitchen_greedy",
        "play.script=[up,up,up,down,down]",
    ]
    main(["play", "env=kitchen/cramped_room", "play.fps=1000", f"run_dir={tmp_path}", *overrides])
    records = [json.loads((tmp_path / "play" / f"episode_{k}.json").read_text()) for k in (0, 1)]
    assert [(r["length"], r["ended"]) for r in records] == [(3, "episode over"), (2, "scripted keys ran out")]
    assert [s["actions"]["chef_0"] for s in records[1]["steps"]] == [SOUTH, SOUTH]
    assert not (tmp_path / "play" / "episode_2.json").exists()

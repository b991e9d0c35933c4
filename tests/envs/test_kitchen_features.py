"""overcooked_ai's featurized state (`observation=features`): equal to the reference's `featurize_state` at every
step of recorded trajectories (benchmarks/kitchen_features_reference.py, run in the reference's own virtual
environment, records it along episodes of the recorded joint actions of tests/data/kitchen/*_dynamics.npz on
the five classic layouts, and along random joint actions on overcooked_ai's 4-chef `multiplayer_schelling`),
and its planner-based "closest" rule checked on hand-made cases."""

import functools
from pathlib import Path

import numpy as np
import pytest
import torch

import marl.testing
from envs.kitchen import make_kitchen
from envs.kitchen.env import GROUP, ONION, SOUP
from envs.kitchen.features import feature_names, features_size

DATA = Path(__file__).resolve().parents[1] / "data" / "kitchen"
FILES = sorted(DATA.glob("*_features.npz"))
NAMES = feature_names(2)


def test_feature_recordings_cover_the_five_classic_layouts_in_both_dynamics():
    layouts = ("cramped_room", "asymmetric_advantages", "coordination_ring", "forced_coordination")
    expected = {
        f"{layout}_{d}_features.npz" for layout in (*layouts, "counter_circuit") for d in ("old", "new")
    }
    assert expected <= {f.name for f in FILES}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_features_equal_the_reference_at_every_step(path):
    ref = dict(np.load(path))
    layout, dynamics = path.stem.rsplit("_", 2)[0], path.stem.rsplit("_", 2)[1]
    E, T, n = ref["actions"].shape
    names = feature_names(n)
    env = make_kitchen(
        layout=layout, num_envs=E, seed=0, old_dynamics=dynamics == "old", horizon=T, observation="features"
    )
    obs = env.reset()[GROUP].obs
    held_soup = ready_pot = 0
    for t in range(T + 1):
        got = obs.numpy()
        if not np.array_equal(got, ref["features"][:, t]):
            e, chef, k = np.argwhere(got != ref["features"][:, t])[0]
            pytest.fail(
                f"{path.stem}, episode {ref['episodes'][e]}, after step {t}, chef {chef}: {names[k]} is "
                f"{got[e, chef, k]}, the reference {ref['features'][e, t, chef, k]}"
            )
        held_soup += int((env.held == SOUP).sum())
        ready_pot += int(got[..., NAMES.index("p0_closest_pot_0_is_ready")].sum())
        if t < T:
            step = env.step({GROUP: torch.as_tensor(ref["actions"][:, t]).long()})
            obs = step.final_obs[GROUP]  # the last step's state before the auto-reset; the same otherwise
    if "new" in path.stem and layout not in (
        "counter_circuit",
        "multiplayer_schelling",
    ):  # picked to hold soups
        assert held_soup > 0 and ready_pot > 0


def test_observation_space_and_names_have_the_reference_size():
    env = make_kitchen(layout="cramped_room", num_envs=3, observation="features")
    assert features_size(2) == 96 == len(NAMES) == env.observation_space("chef_0").shape[0]
    obs = env.reset()[GROUP].obs
    assert obs.shape == (3, 2, 96) and env.observation_space("chef_0").contains(obs[0, 0].numpy())
    four = make_kitchen(layout="multiplayer_schelling", num_envs=2, observation="features")
    assert four.reset()[GROUP].obs.shape == (2, 4, 4 * 48) and len(feature_names(4)) == 4 * 48


TWO_POTS = """{
    "grid":  \"\"\"XXOXX
                XP1PX
                X 2 X
                XDXSX\"\"\",
    "start_bonus_orders": [],
    "start_all_orders" : [{ "ingredients" : ["onion", "onion", "onion"]}],
    "rew_shaping_params": None
}"""


def test_closest_pots_follow_the_facing_then_row_major_order(tmp_path):
    # chef 0 at (2, 1) between pots at (1, 1) and (3, 1): the faced pot is 0 actions away, the other 1 (a turn);
    # facing north both need a turn (a tie): the first in row-major order, (1, 1), comes first
    path = tmp_path / "two_pots.layout"
    path.write_text(TWO_POTS)
    env = make_kitchen(layout=str(path), num_envs=3, observation="features")
    env.reset()
    env.facing[:, 0] = torch.tensor([2, 3, 0])  # east, west, north
    obs = env._observe()[GROUP][:, 0]
    pot_0 = obs[:, NAMES.index("p0_closest_pot_0_dx")].tolist()
    pot_1 = obs[:, NAMES.index("p0_closest_pot_1_dx")].tolist()
    assert pot_0 == [1.0, -1.0, -1.0] and pot_1 == [-1.0, 1.0, 1.0]
    assert obs[:, NAMES.index("p0_closest_pot_1_exists")].tolist() == [1.0] * 3
    # the onion dispenser faced at the start: (0, -1); holding an onion: (0, 0); the other chef's vector
    # lists chef 0's features second, and the relative and absolute positions close both vectors
    assert obs[2, NAMES.index("p0_closest_onion_dx") : NAMES.index("p0_closest_onion_dy") + 1].tolist() == [
        0,
        -1,
    ]
    env.held[2, 0] = ONION
    obs = env._observe()[GROUP][2]
    assert obs[0, NAMES.index("p0_closest_onion_dy")] == 0 and obs[0, NAMES.index("p0_holds_onion")] == 1
    assert obs[1, 46 + NAMES.index("p0_holds_onion")] == 1
    assert obs[0, -4:].tolist() == [0.0, 1.0, 2.0, 1.0] and obs[1, -4:].tolist() == [0.0, -1.0, 2.0, 2.0]


def test_a_pot_out_of_reach_does_not_exist():
    # forced_coordination: chef 1 starts on the left side, which reaches no pot; chef 0 reaches both
    env = make_kitchen(layout="forced_coordination", num_envs=1, observation="features")
    obs = env.reset()[GROUP].obs[0]
    exists = [NAMES.index(f"p0_closest_pot_{j}_exists") for j in range(2)]
    assert obs[0, exists].tolist() == [1.0, 1.0] and obs[1, exists].tolist() == [0.0, 0.0]


def test_features_are_refused_for_unknown_observation_names():
    with pytest.raises(ValueError, match="observation"):
        make_kitchen(layout="cramped_room", observation="pixels")


@pytest.mark.parametrize("check", [c for c in marl.testing.CHECKS if not c.startswith("pettingzoo")])
def test_the_features_observation_passes_the_contract_checks(check):
    source = functools.partial(make_kitchen, layout="cramped_room", observation="features")
    try:
        marl.testing.CHECKS[check](source, num_envs=3, steps=20)
    except marl.testing.CheckSkipped as reason:
        pytest.skip(str(reason))

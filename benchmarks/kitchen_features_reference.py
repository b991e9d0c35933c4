"""Record the reference game's 96-value featurized state along recorded trajectories, for the kitchen's
`observation=features` equality test.

Runs in the reference's own virtual environment (PyPI `overcooked` 0.2.1, see benchmarks/kitchen_reference.py),
after that script: it replays the joint actions of a few episodes of each `tests/data/kitchen/*_dynamics.npz`
(see `pick_episodes`; on overcooked_ai's 4-chef `multiplayer_schelling`, random joint actions drawn here) in
the reference and stores, for the start state and after every step, every chef's
vector (96 values for 2 chefs, 48 N for N) from
`OvercookedGridworld.featurize_state(state, mlam, num_pots=2)`:

    .venv-overcooked/bin/python benchmarks/kitchen_features_reference.py   # writes tests/data/kitchen/*_features.npz

The planner is the one overcooked_ai's `OvercookedEnv.featurize_state_mdp` passes: the motion planner of a
`MediumLevelActionManager` built with the default `NO_COUNTERS_PARAMS` (that manager's `motion_planner` is a
`MotionPlanner(mdp, counter_goals=NO_COUNTERS_PARAMS["counter_goals"])`; building it alone skips the joint
planner, which featurization never uses). The fork's `MotionPlanner.min_cost_to_feature` lacks overcooked_ai
master's `with_argmin` keyword, which `featurize_state` passes (the fork raises a TypeError there), and starts
its argmin at the first feature instead of None; the adapter below restores master's contract: the argmin is
None when no feature is reachable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from kitchen_reference import CLASSIC, INTERACT_BIASED

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "kitchen"
# layouts without recorded trajectories, replayed from random joint actions drawn here (seeded)
DRAWN = {"multiplayer_schelling": "multiplayer_schelling"}  # overcooked_ai's 4-chef layout


def master_min_cost_to_feature(original):
    """overcooked_ai master's `min_cost_to_feature(start, features, with_argmin=False)` on top of the fork's."""

    def min_cost_to_feature(self, start_pos_and_or, feature_pos_list, with_argmin=False):
        cost, best = (
            original(self, start_pos_and_or, feature_pos_list) if feature_pos_list else (np.inf, None)
        )
        if cost == np.inf:
            best = None
        return (cost, best) if with_argmin else cost

    return min_cost_to_feature


def pick_episodes(shaped: np.ndarray, count: int) -> list[int]:
    """The first uniform and the first interact-biased episode, then those where a soup is taken from a pot
    earliest (so that held soups and ready pots show), `count` in all."""
    E = shaped.shape[0]
    chosen = [0, E // 2]
    pickup = (shaped == 5).any(axis=2)  # [E, T]: a soup taken from a pot (the 5-point shaped reward)
    first = np.where(pickup.any(axis=1), pickup.argmax(axis=1), shaped.shape[1])
    for e in np.argsort(first, kind="stable"):
        if len(chosen) < count and int(e) not in chosen and first[e] < shaped.shape[1]:
            chosen.append(int(e))
    return chosen


def record(layout: str, old_dynamics: bool, episodes: int, steps: int) -> dict[str, np.ndarray]:
    from types import SimpleNamespace

    from overcooked.mdp.actions import Action
    from overcooked.mdp.overcooked_mdp import OvercookedGridworld
    from overcooked.planning.planners import NO_COUNTERS_PARAMS, MotionPlanner

    if not hasattr(MotionPlanner, "_fork_min_cost_to_feature"):
        MotionPlanner._fork_min_cost_to_feature = MotionPlanner.min_cost_to_feature
        MotionPlanner.min_cost_to_feature = master_min_cost_to_feature(
            MotionPlanner._fork_min_cost_to_feature
        )
    mdp = OvercookedGridworld.from_layout_name({**CLASSIC, **DRAWN}[layout], old_dynamics=old_dynamics)
    mlam = SimpleNamespace(
        motion_planner=MotionPlanner(mdp, counter_goals=NO_COUNTERS_PARAMS["counter_goals"])
    )
    n = mdp.num_players
    if layout in DRAWN:  # half uniform, half with interact drawn 40% of the time
        rng = np.random.default_rng(7 + old_dynamics)
        chosen = list(range(episodes))
        actions = np.stack(
            [rng.choice(6, size=(steps, n), p=None if e < episodes // 2 else INTERACT_BIASED) for e in chosen]
        ).astype(np.int8)
    else:
        source = np.load(DATA / f"{layout}_{'old' if old_dynamics else 'new'}_dynamics.npz")
        chosen = pick_episodes(source["shaped"], episodes)
        actions = source["actions"][chosen, :steps]
    features = np.zeros((len(chosen), steps + 1, n, 48 * n), np.int8)
    for e in range(len(chosen)):
        state = mdp.get_standard_start_state().deepcopy()
        for t in range(steps + 1):
            vectors = np.stack(mdp.featurize_state(state, mlam, num_pots=2))
            assert np.array_equal(vectors, vectors.astype(np.int8)), "a feature does not fit in int8"
            features[e, t] = vectors
            if t < steps:
                joint = tuple(Action.INDEX_TO_ACTION[a] for a in actions[e, t])
                state, _ = mdp.get_state_transition(state, joint)
    return {"episodes": np.array(chosen), "actions": actions, "features": features}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=4, help="episodes per file (see pick_episodes)")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--layouts", nargs="+", default=[*CLASSIC, *DRAWN])
    args = parser.parse_args()
    for layout in args.layouts:
        # both dynamics on the classic layouts; the 4-chef recording checks the N-chef vector (old dynamics)
        for old_dynamics in (True,) if layout in DRAWN else (True, False):
            arrays = record(layout, old_dynamics, args.episodes, args.steps)
            name = f"{layout}_{'old' if old_dynamics else 'new'}_features.npz"
            np.savez_compressed(DATA / name, **arrays)
            print(f"{name}: episodes {arrays['episodes'].tolist()} x {args.steps} steps", flush=True)


if __name__ == "__main__":
    main()

"""Record reference trajectories of the Overcooked game (overcooked_ai's rules) for the kitchen equality test.

Runs in its own virtual environment, since the reference package pins pygame and numpy versions that clash
with the project's (PyPI `overcooked` 0.2.1, a fork whose step rules and encodings are identical to
HumanCompatibleAI/overcooked_ai master and which has `old_dynamics`):

    python -m venv .venv-overcooked && .venv-overcooked/bin/pip install overcooked==0.2.1
    .venv-overcooked/bin/python benchmarks/kitchen_reference.py            # writes tests/data/kitchen/*.npz

Per classic layout and dynamics: `--episodes` episodes of `--steps` random joint actions from the standard
start (half uniform over the 6 actions, half with interact drawn 40% of the time so that soups get cooked and
served). Per step it stores the actions, then after the step: chef positions (x, y), facings, held items
(code and onions of a held soup), each pot's onions and cooking tick, sparse and shaped rewards per chef, and a
32-bit digest of both chefs' lossless encodings (an integer-weighted sum, weights stored in the file); the
first episode also keeps the full encodings. The test replays the actions in ours and compares everything.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLASSIC = {
    "cramped_room": "cramped_room",
    "asymmetric_advantages": "asymmetric_advantages",
    "coordination_ring": "coordination_ring",
    "forced_coordination": "forced_coordination",
    "counter_circuit": "counter_circuit_o_1order",
}
HELD_CODES = {None: 0, "onion": 1, "tomato": 2, "dish": 3, "soup": 4}
INTERACT_BIASED = np.array([0.12, 0.12, 0.12, 0.12, 0.12, 0.40])


def digest(encoding: np.ndarray, weights: np.ndarray) -> np.int64:
    """Exact integer digest of integer-valued encodings, modulo 2^32 (the test computes the same)."""
    return np.int64(int((encoding.astype(np.int64).ravel() * weights).sum()) % (1 << 32))


def record(layout: str, old_dynamics: bool, episodes: int, steps: int, seed: int) -> dict[str, np.ndarray]:
    from overcooked.mdp.actions import Action, Direction
    from overcooked.mdp.overcooked_mdp import OvercookedGridworld

    mdp = OvercookedGridworld.from_layout_name(CLASSIC[layout], old_dynamics=old_dynamics)
    pots = mdp.get_pot_locations()
    shape = (2, 26, mdp.height, mdp.width)  # [chef, C, H, W]
    weights = np.random.default_rng(1234).integers(1, 1 << 31, size=int(np.prod(shape)), dtype=np.int64)
    rng = np.random.default_rng(seed)
    E, T = episodes, steps
    out = {
        "actions": np.zeros((E, T, 2), np.int8),
        "position": np.zeros((E, T, 2, 2), np.int8),
        "facing": np.zeros((E, T, 2), np.int8),
        "held": np.zeros((E, T, 2), np.int8),
        "held_onions": np.zeros((E, T, 2), np.int8),
        "pot_onions": np.zeros((E, T, len(pots)), np.int8),
        "pot_tick": np.zeros((E, T, len(pots)), np.int16),
        "sparse": np.zeros((E, T, 2), np.int16),
        "shaped": np.zeros((E, T, 2), np.int16),
        "digest": np.zeros((E, T), np.int64),
        "first_episode_encoding": np.zeros((T, *shape), np.int8),
        "digest_weights": weights,
    }
    for e in range(E):
        state = mdp.get_standard_start_state().deepcopy()
        probabilities = None if e < E // 2 else INTERACT_BIASED
        for t in range(T):
            joint = rng.choice(6, size=2, p=probabilities)
            state, info = mdp.get_state_transition(state, tuple(Action.INDEX_TO_ACTION[a] for a in joint))
            out["actions"][e, t] = joint
            for i, player in enumerate(state.players):
                out["position"][e, t, i] = player.position
                out["facing"][e, t, i] = Direction.DIRECTION_TO_INDEX[player.orientation]
                held = player.held_object
                out["held"][e, t, i] = HELD_CODES[None if held is None else held.name]
                out["held_onions"][e, t, i] = (
                    len(held.ingredients) if held is not None and held.name == "soup" else 0
                )
            for k, pot in enumerate(pots):
                soup = state.objects.get(pot)
                out["pot_onions"][e, t, k] = 0 if soup is None else len(soup.ingredients)
                out["pot_tick"][e, t, k] = -1 if soup is None else soup._cooking_tick
            out["sparse"][e, t] = info["sparse_reward_by_agent"]
            out["shaped"][e, t] = info["shaped_reward_by_agent"]
            encoding = np.stack(
                [enc.transpose(2, 1, 0) for enc in mdp.lossless_state_encoding(state, horizon=T)]
            )
            out["digest"][e, t] = digest(encoding, weights)
            if e == 0:
                out["first_episode_encoding"][t] = encoding
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--layouts", nargs="+", default=list(CLASSIC))
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "kitchen")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for index, layout in enumerate(args.layouts):
        for old_dynamics in (True, False):
            arrays = record(layout, old_dynamics, args.episodes, args.steps, seed=100 * index + old_dynamics)
            name = f"{layout}_{'old' if old_dynamics else 'new'}_dynamics.npz"
            np.savez_compressed(args.out / name, **arrays)
            served = int((arrays["sparse"] > 0).sum())
            print(f"{name}: {args.episodes} x {args.steps} steps, {served} soups served", flush=True)


if __name__ == "__main__":
    main()

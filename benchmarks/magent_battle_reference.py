"""Record magent2 `battle_v4` episodes for the replay test of `magent/battle` (tests/envs/test_magent_reference.py).

Runs in magent2's own virtual environment, never the project's (magent2 is a compiled engine with its own
pins), with one OpenMP thread: the engine resolves attacks in a parallel loop, which is only deterministic
on one thread.

    python3 -m venv .venv-magent2 && .venv-magent2/bin/pip install magent2
    OMP_NUM_THREADS=1 .venv-magent2/bin/python benchmarks/magent_battle_reference.py \\
        --out tests/data/magent_battle_reference.npz

Each episode is played by a scripted policy that makes fights happen (attack an adjacent enemy, walk towards
the other army, sometimes attack empty cells or move at random), seeded, on the reference. Per step it
stores every agent's action, observation, reward and termination, the positions, the global state, and the
order in which the engine resolved the attacks: the engine shuffles its attack list with its own generator
(`std::default_random_engine`, libstdc++'s minstd_rand0, seeded with the episode's seed), and this script
reproduces that shuffle, so the replay can resolve attacks in the same order.

A reference bug shows in the first step of every episode: battle_v4's `reset` counts the armies before it
places them, so at that step it hands the engine zero-length action slices and both armies play the red
army's actions (blue agent i plays red agent i's). The recording stores the actions the engine played.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from magent2.environments import battle_v4

MINSTD_A, MINSTD_M = 16807, 2147483647
ATTACKS = ((-1, -1), (0, -1), (1, -1), (-1, 0), (1, 0), (-1, 1), (0, 1), (1, 1))
FIRST_ATTACK, CENTRE = 13, 6


class MinstdRand0:
    """libstdc++'s `std::default_random_engine` (minstd_rand0): x <- 16807 x mod (2^31 - 1)."""

    def __init__(self, seed: int) -> None:
        self.x = seed % MINSTD_M or 1

    def __call__(self) -> int:
        self.x = self.x * MINSTD_A % MINSTD_M
        return self.x


def attack_rank(actions: np.ndarray, alive: np.ndarray, engine: MinstdRand0) -> np.ndarray:
    """Rank of each slot (red, then blue) in the engine's shuffled list of the live agents' attacks; slots
    that do not attack come after, in slot order."""
    attackers = [i for i, a in enumerate(actions) if alive[i] and a >= FIRST_ATTACK]
    for i in range(len(attackers)):  # GridWorld::step's shuffle
        j = engine() % (i + 1)
        attackers[i], attackers[j] = attackers[j], attackers[i]
    rank = np.arange(len(actions)) + len(actions)
    rank[attackers] = np.arange(len(attackers))
    return rank


def policy(obs: np.ndarray, team: int, enemy_channel: int, rng: np.random.Generator) -> int:
    """Attack an adjacent enemy (80%), else sometimes attack anything (10%), else move (half of the time
    towards the other army)."""
    adjacent = [k for k, (dx, dy) in enumerate(ATTACKS) if obs[CENTRE + dy, CENTRE + dx, enemy_channel] > 0]
    if adjacent and rng.random() < 0.8:
        return FIRST_ATTACK + int(rng.choice(adjacent))
    if rng.random() < 0.1:
        return FIRST_ATTACK + int(rng.integers(len(ATTACKS)))
    if rng.random() < 0.5:
        forward = (7, 8) if team == 0 else (5, 4)  # (+1, 0), (+2, 0) or (-1, 0), (-2, 0)
        return int(rng.choice(forward))
    return int(rng.integers(FIRST_ATTACK))


def record(map_size: int, seed: int, max_cycles: int, minimap: bool, extra: bool) -> dict[str, np.ndarray]:
    env = battle_v4.parallel_env(
        map_size=map_size, max_cycles=max_cycles, minimap_mode=minimap, extra_features=extra
    )
    obs, _ = env.reset(seed=seed)
    engine = MinstdRand0(seed)
    rng = np.random.default_rng(seed)
    names = list(env.possible_agents)
    n = len(names)
    enemy_channel = 4 if minimap else 3
    columns: dict[str, list[np.ndarray]] = {k: [] for k in ("action", "rank", "reward", "terminated", "obs")}
    columns |= {"present": [], "pos": [], "living": [], "state": []}
    first_obs = np.stack([obs[a] for a in names])
    alive = np.ones(n, bool)
    while env.agents:
        actions = np.full(n, 6, np.int64)  # dead slots: ignored by both implementations
        for i, a in enumerate(names):
            if alive[i]:
                actions[i] = policy(obs[a], 0 if a.startswith("red") else 1, enemy_channel, rng)
        played = actions.copy()
        if not columns["action"]:  # the first step: both armies play red's actions (see the docstring)
            played[n // 2 :] = actions[: n - n // 2]
        rank = attack_rank(played, alive, engine)
        obs, rewards, terms, truncs, _ = env.step(
            {a: int(actions[i]) for i, a in enumerate(names) if alive[i]}
        )
        present = np.array([a in obs for a in names])
        full = np.zeros((n, *first_obs.shape[1:]), np.float32)
        full[present] = np.stack([obs[a] for a in names if a in obs])
        # the engine's live agents (its ids are the slots), also those left when the game ended
        living_now, pos = np.zeros(n, bool), np.zeros((n, 2), np.int64)
        for handle in env.handles:
            ids = env.env.get_agent_id(handle)
            living_now[ids], pos[ids] = True, env.env.get_pos(handle)
        columns["action"].append(played)
        columns["rank"].append(rank)
        columns["reward"].append(np.array([rewards.get(a, 0.0) for a in names], np.float32))
        columns["terminated"].append(np.array([terms.get(a, False) for a in names]))
        columns["obs"].append(full)
        columns["present"].append(present)
        columns["pos"].append(pos)
        columns["living"].append(living_now)
        columns["state"].append(env.state())
        alive = living_now
        if any(truncs.values()):
            break
    episode = {k: np.stack(v) for k, v in columns.items()}
    episode["first_obs"] = first_obs
    return episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("tests/data/magent_battle_reference.npz"))
    args = parser.parse_args()
    # (map size, seed, max cycles, minimap_mode, extra_features)
    episodes = [(20, 3, 150, False, False), (20, 11, 60, True, True), (24, 5, 150, False, False)]
    arrays, meta = {}, []
    for k, (size, seed, cycles, minimap, extra) in enumerate(episodes):
        episode = record(size, seed, cycles, minimap, extra)
        arrays |= {f"{k}/{name}": value for name, value in episode.items()}
        steps = len(episode["action"])
        meta.append(
            dict(map_size=size, seed=seed, max_cycles=cycles, minimap_mode=minimap, extra_features=extra)
        )
        kills = int((episode["terminated"] & ~episode["living"]).sum())
        print(f"episode {k}: {steps} steps, {kills} deaths", flush=True)
    arrays["meta"] = np.array(json.dumps({"magent2": __import__("magent2").__version__, "episodes": meta}))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)


if __name__ == "__main__":
    main()

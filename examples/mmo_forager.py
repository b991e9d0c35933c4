"""The MMO world in a few lines: the scripted forager against random play on `mmo/small`, then a copy reset
onto a hand-made map with `reset_to` (as a side-by-side check against the reference feeds its terrain).

    python examples/mmo_forager.py
"""

import torch

import marl
from envs import mmo
from envs.mmo.baselines import Forager, ForagerConfig
from envs.mmo.terrain import GRASS, VOID, WATER

mmo.register()


def first_episodes(policy: str, num_envs: int = 8) -> dict[str, float]:
    """Mean statistics of the first episode of every copy (random legal play, or the forager)."""
    env = marl.make("mmo/small", num_envs=num_envs, seed=0)
    forager = Forager(env, ForagerConfig(seed=0), env.device)
    step, stats = env.reset(), {}
    while len(stats.get("lifetime", [])) < num_envs:
        actions = forager.act(step, None)[0] if policy == "forager" else env.sample_actions()
        step = env.step(actions)
        for name, value in step.info.items():
            stats.setdefault(name, []).extend(value[step.done].tolist())
    return {name: sum(v[:num_envs]) / num_envs for name, v in stats.items()}


for policy in ("random", "forager"):
    stats = first_episodes(policy)
    print(
        f"{policy:8s} lifetime {stats['lifetime']:5.1f} ticks of 128, survive-task progress "
        f"{stats['task_progress']:.2f}, NPCs defeated per copy {stats['npcs_defeated']:.1f}"
    )

# a survival-only game on a hand-made 32 x 32 map (playable rows and columns 8 to 24): a lake in a meadow
env = marl.make(
    "mmo/small", num_envs=1, seed=0, n_agents=2, map_size=32, map_center=16, npcs=False, combat=False
)
terrain = torch.full((1, 32, 32), VOID, dtype=torch.long)
terrain[:, 8:25, 8:25] = GRASS
terrain[:, 14:17, 14:17] = WATER
step = env.reset_to(terrain, torch.tensor([[[8, 8], [13, 15]]]))  # (row, col): the second one is by the lake
for _ in range(10):
    step = env.step({"agent": torch.tensor([[[4, 0], [4, 0]]])})  # both stay
print("water after 10 ticks (far from / next to the lake):", env.water[0].tolist())

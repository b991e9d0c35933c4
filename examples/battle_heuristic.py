"""The battle environment's scripted policy on both sides of a SMACv2 scenario, and a GIF of one battle.

Both teams play `BattleEnv.heuristic_actions` in self-play mode on 256 copies for 300 steps; the script
prints the allies' win rate and writes the first 120 frames of copy 0 as a GIF (units as discs by team and
type, health bars, attack lines). Run it: `python examples/battle_heuristic.py [--scenario protoss_5_vs_5]`.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import torch  # noqa: E402

from envs.battle import BattleConfig, BattleEnv  # noqa: E402
from marl.running.trainer import write_video  # noqa: E402

parser = argparse.ArgumentParser(description="Scripted policy against itself on a battle scenario.")
parser.add_argument("--scenario", default="protoss_5_vs_5")
parser.add_argument("--gif", type=Path, default=Path("battle.gif"))
args = parser.parse_args()

env = BattleEnv(args.scenario, BattleConfig(opponent="self_play"), num_envs=256, seed=0)
env.reset()
won, frames = [], []
for t in range(300):
    step = env.step({"allies": env.heuristic_actions(0), "enemies": env.heuristic_actions(1)})
    if step.info:
        won.append(step.info["battle_won"][step.done])
    if t < 120:
        frames.append(env.render(0))
won = torch.cat(won)
print(f"{args.scenario}: {won.numel()} battles, allies won {won.mean():.2f} of them")
print(f"wrote {write_video(frames, args.gif, fps=8)}")

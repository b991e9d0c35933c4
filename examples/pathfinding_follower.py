"""Learn to Follow's follower observation on a maze, walked by the congestion-aware planner alone.

Builds `pathfinding/maps` with `observation=follower` (each agent sees obstacles as -1 and its congestion-aware
planned path as +1 in one window, other agents in a second; the path is replanned every step), prints agent 0's
first window as text, and runs the `pathfinding_congestion` baseline (a fixed follower of that path) in lifelong
mode, printing its throughput and the path reward it would have earned. A learned follower is trained with
`marl train experiment=pathfinding_follower` and evaluated with `marl eval algo=pathfinding_follower
algo.checkpoint=RUN_DIR ...` (docs/environments/pathfinding.md). Run it:
`python examples/pathfinding_follower.py [--map-set maze/maze-21-s0.txt] [--agents 16]`.
"""

from __future__ import annotations

import argparse

import torch

import marl
from envs.pathfinding import register, register_baselines

parser = argparse.ArgumentParser(
    description="Learn to Follow's observation and planner on a pathfinding map."
)
parser.add_argument("--map-set", default="maze/maze-21-s0.txt")
parser.add_argument("--agents", type=int, default=16)
parser.add_argument("--steps", type=int, default=64)
args = parser.parse_args()

register()
register_baselines()
env = marl.make(
    "pathfinding/maps",
    num_envs=4,
    seed=0,
    map_set=args.map_set,
    n_agents=args.agents,
    max_steps=args.steps,
    observation="follower",
    goal_reward=0.0,
    path_reward=0.01,
)
step = env.reset(seed=0)
window, _ = env.split_observation(step["agent"].obs)
symbols = {-1.0: "#", 0.0: ".", 1.0: "*"}
print("agent 0's window (# obstacle, * planned path, A agent):")
for path_row, agents_row in zip(window[0, 0, 0].tolist(), window[0, 0, 1].tolist(), strict=True):
    print(" ".join("A" if a else symbols[p + 0.0] for p, a in zip(path_row, agents_row, strict=True)))

entry = marl.core.registry.algo_entry("pathfinding_congestion")
policy = entry.factory(env, entry.config_class(), env.device)
state, path_reward = policy.initial_policy_state(env.num_envs), torch.zeros(())
for _ in range(args.steps):
    actions, state = policy.act(step, state, deterministic=True)
    step = env.step(actions)
    path_reward += step["agent"].reward.sum()
print(
    f"pathfinding_congestion, {args.agents} agents, {args.steps} steps: "
    f"{step.info['throughput'].mean().item():.3f} goals per step, path reward {path_reward.item():.2f} in all"
)

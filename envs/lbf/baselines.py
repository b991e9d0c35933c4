"""A scripted forager that needs no training (`lbf_heuristic`): the reference's heuristic agent H1.

Each agent reads only its own vector observation (decentralised): it picks the visible food closest to it
(squared Euclidean distance, ties to the first in the observation's row-major order, as lbforaging's
`_closest_food`), loads when that food is 4-adjacent, and otherwise steps towards it, trying north, south,
east, west in that order among the moves that bring it closer and are valid. With no food in sight, or no such
move, it takes a uniformly random valid action, as H1 does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

import marl
from envs.lbf.env import EAST, GROUP, LOAD, NORTH, SOUTH, WEST, LBFEnv
from marl.core.env import sample_actions


@dataclass
class HeuristicConfig(marl.RandomConfig):
    seed: int = 0  # of its random actions


class HeuristicForager(marl.RandomPolicy):
    """Walk to the closest visible food and load it; random valid actions otherwise. Under `marl train` it
    only plays (as the random policy it extends), so its curve is the heuristic's baseline of the task."""

    def __init__(self, env: marl.BatchedEnv, config: HeuristicConfig, device: torch.device) -> None:
        if not isinstance(env, LBFEnv) or env.grid_observation:
            raise TypeError("lbf_heuristic plays level-based foraging with vector observations")
        super().__init__(env, config, device)
        self.generator.manual_seed(int(config.seed))

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: LBFEnv = self.env
        generator = self.generator if generator is None else generator
        F = env.n_food
        obs = step[GROUP].obs
        food = obs[..., : 3 * F].unflatten(-1, (F, 3))  # [B, n, F, (row, col, level)]
        row, col = obs[..., 3 * F], obs[..., 3 * F + 1]  # the agent itself: the first player slot
        d_row, d_col = food[..., 0] - row.unsqueeze(-1), food[..., 1] - col.unsqueeze(-1)
        distance = torch.where(food[..., 2] > 0, d_row**2 + d_col**2, float("inf"))
        closest = distance.argmin(-1, keepdim=True)
        seen = distance.gather(-1, closest).squeeze(-1) < float("inf")
        d_row, d_col = d_row.gather(-1, closest).squeeze(-1), d_col.gather(-1, closest).squeeze(-1)
        mask = step[GROUP].action_mask
        valid = env._valid_actions()[0] if mask is None else mask
        random = sample_actions(env.group_specs, env.num_envs, {GROUP: valid}, generator, env.device)[GROUP]
        action = random
        for move, wanted in ((WEST, d_col < 0), (EAST, d_col > 0), (SOUTH, d_row > 0), (NORTH, d_row < 0)):
            action = torch.where(wanted & valid[..., move], move, action)  # the last assignment wins: N first
        action = torch.where(d_row.abs() + d_col.abs() == 1, LOAD, action)
        return {GROUP: torch.where(seen, action, random)}, policy_state


def register() -> None:
    """Register the scripted forager (idempotent)."""
    marl.register_algo("lbf_heuristic", HeuristicForager, HeuristicConfig)

"""A scripted forager that needs no training (`mmo_forager`): it keeps food and water up and never fights.

Each player reads only its own observation (decentralised): it heads for the resource it has less of, the
nearest foliage tile (to stand on) or water tile (to stand next to) in its 15x15 crop, or, with none in sight,
for the middle of the map; it steps along the axis with the larger distance first, then the other, among the
moves its mask allows, and at its goal it stays. With no such move it takes a uniformly random legal move. It
never attacks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

import marl
from envs.mmo.env import EAST, GROUP, MOVES, NORTH, SOUTH, STAY, WEST, MMOEnv
from envs.mmo.terrain import FOLIAGE, WATER
from marl.core.env import sample_actions


@dataclass
class ForagerConfig:
    seed: int = 0  # of its random moves


class Forager(marl.ScriptedPolicy):
    """Walk to the nearest foliage or water, whichever is lower, and eat or drink; never attack."""

    def __init__(self, env: marl.BatchedEnv, config: ForagerConfig, device: torch.device) -> None:
        if not isinstance(env, MMOEnv):
            raise TypeError(f"mmo_forager plays the MMO world; got {type(env).__name__}")
        super().__init__(env, config, device)
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(int(config.seed))
        v = env.vision
        offsets = torch.arange(-v, v + 1, device=env.device)
        self.d_row = offsets[:, None].expand(-1, 2 * v + 1).flatten()
        self.d_col = offsets[None, :].expand(2 * v + 1, -1).flatten()
        self.distance = (self.d_row.abs() + self.d_col.abs()).float()

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: MMOEnv = self.env
        generator = self.generator if generator is None else generator
        obs, mask = step[GROUP].obs, step[GROUP].action_mask
        tiles = obs["tiles"].flatten(-2)  # [B, n, C, crop]
        food, water = obs["self"][..., 1], obs["self"][..., 2]
        want_water = water < food
        goal = torch.where(want_water[..., None], tiles[:, :, WATER], tiles[:, :, FOLIAGE]) > 0
        score = torch.where(goal, self.distance, torch.inf)
        nearest = score.argmin(-1)
        seen = score.gather(-1, nearest[..., None])[..., 0] < torch.inf
        # with nothing in sight, head for the middle of the map, where there is more of everything than at the edge
        middle = 0.5 - obs["self"][..., 6:8]
        d_row = torch.where(seen, self.d_row[nearest].float(), middle[..., 0])
        d_col = torch.where(seen, self.d_col[nearest].float(), middle[..., 1])
        arrived = seen & (self.distance[nearest] == want_water.float())  # on foliage, or next to water
        moves = mask[..., : len(MOVES)]
        random = sample_actions(env.group_specs, env.num_envs, {GROUP: mask}, generator, env.device)[GROUP][
            ..., 0
        ]
        row_move = torch.where(d_row < 0, NORTH, SOUTH)
        col_move = torch.where(d_col > 0, EAST, WEST)
        rows_first = d_row.abs() >= d_col.abs()
        first, second = (
            torch.where(rows_first, row_move, col_move),
            torch.where(rows_first, col_move, row_move),
        )
        second_needed = torch.where(rows_first, d_col != 0, d_row != 0)

        def legal(move: torch.Tensor) -> torch.Tensor:
            return moves.gather(-1, move[..., None])[..., 0]

        step_move = torch.where(
            legal(first), first, torch.where(second_needed & legal(second), second, random)
        )
        move = torch.where(arrived, STAY, step_move)
        return {GROUP: torch.stack([move, torch.zeros_like(move)], dim=-1)}, policy_state


def register() -> None:
    """Register the scripted forager (idempotent)."""
    marl.register_algo("mmo_forager", Forager, ForagerConfig)

"""A small environment with a Dict observation whose reward needs both of its parts: a grid and an entity set.

Agents (group `agent`) walk on a `size` x `size` grid towards their own beacon. Observation:
`{"grid": [1, size, size]` (the agent's own position, nothing else), `"beacons": [K, 3]` (row, column, mine:
the agent's beacon among up to K - 1 decoys, coordinates scaled to [0, 1]), `"beacons_mask": [K]`}. Between 2
and K slots are valid; the empty slots hold random noise, including a false "mine" flag, so a policy must read
the mask. The reward of a step is how much closer (Manhattan distance) it brought the agent to its beacon:
where the agent is comes only from the grid, where it must go only from the entity set. Episodes are
truncated after `max_steps`; random walkers score about 0, a walker that heads straight for its beacon about
the initial distance (3.2 on average on 5 x 5).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, agent_names

MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


class BeaconGrid(BatchedEnv):
    """Agents walk to their beacon, which only the entity set names (see the module docstring)."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
        n_agents: int = 2,
        size: int = 5,
        slots: int = 4,
        max_steps: int = 8,
    ) -> None:
        self.size, self.slots = size, slots
        observation = gym.spaces.Dict(
            {
                "grid": gym.spaces.Box(0.0, 1.0, (1, size, size), np.float32),
                "beacons": gym.spaces.Box(0.0, 1.0, (slots, 3), np.float32),
                "beacons_mask": gym.spaces.Box(0.0, 1.0, (slots,), np.float32),
            }
        )
        spec = GroupSpec(agent_names("agent", n_agents), observation, gym.spaces.Discrete(5))
        super().__init__(
            groups={"agent": spec}, num_envs=num_envs, device=device, seed=seed, max_steps=max_steps
        )
        B, n, dev = num_envs, n_agents, self.device
        self.moves = torch.tensor(MOVES, device=dev)
        self.pos = torch.zeros(B, n, 2, dtype=torch.long, device=dev)
        self.beacon = torch.zeros(B, n, 2, dtype=torch.long, device=dev)
        self.beacons = torch.zeros(B, n, slots, 3, device=dev)  # what the agent sees, noise included
        self.valid = torch.zeros(B, n, slots, dtype=torch.bool, device=dev)

    def _rand(self, *shape: int) -> Tensor:
        return torch.rand(shape, generator=self.generator, device=self.device)

    def _reset(self, mask: Tensor) -> None:
        B, n, K = self.valid.shape
        scale = self.size - 1
        pos = (self._rand(B, n, 2) * self.size).long()
        cells = (self._rand(B, n, K, 2) * self.size).long()
        mine = (self._rand(B, n) * K).long()
        slot = torch.arange(K, device=self.device)
        is_mine = slot == mine[..., None]
        count = 2 + (self._rand(B, n) * (K - 1)).long()  # valid slots: 2 .. K, the agent's always among them
        valid = is_mine | (((slot - mine[..., None]) % K) < count[..., None])
        seen = torch.cat([cells.float() / scale, is_mine[..., None].float()], dim=-1)
        noise = torch.cat([self._rand(B, n, K, 2), (self._rand(B, n, K, 1) < 0.5).float()], dim=-1)
        beacon = cells.gather(2, mine[..., None, None].expand(B, n, 1, 2)).squeeze(2)
        self.pos = self.where(mask, pos, self.pos)
        self.beacon = self.where(mask, beacon, self.beacon)
        self.valid = self.where(mask, valid, self.valid)
        self.beacons = self.where(mask, torch.where(valid[..., None], seen, noise), self.beacons)

    def _distance(self) -> Tensor:
        return (self.pos - self.beacon).abs().sum(-1).float()

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        before = self._distance()
        self.pos = (self.pos + self.moves[actions["agent"]]).clamp(0, self.size - 1)
        reward = before - self._distance()
        return {"agent": (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _observe(self) -> dict[str, dict[str, Tensor]]:
        B, n = self.pos.shape[:2]
        grid = torch.zeros(B, n, self.size * self.size, device=self.device)
        grid.scatter_(-1, (self.pos[..., 0] * self.size + self.pos[..., 1])[..., None], 1.0)
        return {
            "agent": {
                "grid": grid.view(B, n, 1, self.size, self.size),
                "beacons": self.beacons,
                "beacons_mask": self.valid.float(),
            }
        }

    def _episode_stats(self) -> dict[str, Tensor]:
        return {"distance_left": self._distance().mean(dim=1)}

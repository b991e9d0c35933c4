"""Yang et al. (2018)'s mean-field Ising model: every spin of an L x L periodic lattice is an agent.

At each step every agent picks its spin (action 0: down, -1; action 1: up, +1) and earns
`r_j = h s_j + (J / 2) s_j sum_{k in N(j)} s_k` over its four lattice neighbours N(j) (up, down, left, right,
wrapping at the edges), so aligned neighbours pay and the ordered lattice (all spins equal) is the optimum.
Each agent observes its four neighbours' current spins. The order parameter `xi = |N_up - N_down| / N` is
reported at the end of every episode: near 0 for random spins, 1 for an ordered lattice.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, Neighbours, agent_names
from marl.core.validation import check_int, check_number, check_positive_int, validated

GROUP = "spin"
# the four lattice neighbours, as (row, column) steps; the observation lists them in this order
DIRECTIONS = ((-1, 0), (1, 0), (0, -1), (0, 1))


@dataclass
class IsingConfig:
    """Config keys of `ising/lattice`."""

    size: int = 10  # L: the lattice is L x L spins (agents), periodic
    coupling: float = 1.0  # J: reward per aligned neighbour pair, halved (the pair's two agents share it)
    field: float = 0.0  # h: external field; an up spin earns h, a down spin -h
    max_steps: int = 50  # steps per episode

    def validate(self) -> None:
        check_int("size", self.size, low=2)
        check_number("coupling", self.coupling)
        check_number("field", self.field)
        check_positive_int("max_steps", self.max_steps)


def lattice_neighbours(size: int, device: torch.device | str = "cpu") -> Tensor:
    """`long [L * L, 4]`: the flat indices of each site's up, down, left and right neighbours (periodic)."""
    row, col = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    steps = [((row + dr) % size) * size + (col + dc) % size for dr, dc in DIRECTIONS]
    return torch.stack(steps, dim=-1).reshape(size * size, 4).to(device)


class IsingLattice(BatchedEnv):
    """`num_envs` lattices of `size**2` spin agents; spins start uniformly random."""

    def __init__(
        self,
        config: IsingConfig | None = None,
        *,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, IsingConfig)
        self.config = config
        self.size, self.n_agents = config.size, config.size**2
        spec = GroupSpec(
            agent_names(GROUP, self.n_agents),
            observation_space=gym.spaces.Box(-1.0, 1.0, (4,), np.float32),
            action_space=gym.spaces.Discrete(2),
            neighbours=4,
        )
        super().__init__(
            groups={GROUP: spec},
            num_envs=num_envs,
            device=device,
            seed=seed,
            max_steps=config.max_steps,
            state_space=gym.spaces.Box(-1.0, 1.0, (self.n_agents,), np.float32),
        )
        index = lattice_neighbours(self.size, self.device)
        self.neighbour_index = index
        self._neighbours_published = Neighbours(
            index=index.expand(num_envs, -1, -1).contiguous(),
            mask=torch.ones(num_envs, self.n_agents, 4, dtype=torch.bool, device=self.device),
        )
        self.spins = torch.ones(num_envs, self.n_agents, device=self.device)  # +1 up, -1 down

    def _reset(self, mask: Tensor) -> None:
        draw = torch.randint(2, self.spins.shape, generator=self.generator, device=self.device)
        self.spins = self.where(mask, draw.float() * 2 - 1, self.spins)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        self.spins = actions[GROUP].float() * 2 - 1
        cfg = self.config
        neighbour_sum = self._neighbour_spins().sum(-1)
        reward = cfg.field * self.spins + 0.5 * cfg.coupling * self.spins * neighbour_sum
        return {GROUP: (reward, torch.zeros_like(self.spins, dtype=torch.bool))}

    def _neighbour_spins(self) -> Tensor:
        """`[B, N, 4]`: each site's neighbours' spins, in `DIRECTIONS` order."""
        return self.spins[:, self.neighbour_index]

    def _observe(self) -> dict[str, Tensor]:
        return {GROUP: self._neighbour_spins()}

    def _state(self) -> Tensor:
        return self.spins.clone()

    def _neighbours(self) -> dict[str, Neighbours]:
        return {GROUP: self._neighbours_published}

    def order_parameter(self) -> Tensor:
        """`[B]`: `|N_up - N_down| / N` of every copy's current lattice."""
        return self.spins.mean(dim=1).abs()

    def _episode_stats(self) -> dict[str, Tensor]:
        return {"order_parameter": self.order_parameter()}

    def _render(self, index: int) -> np.ndarray:
        """Up spins light, down spins dark, one square of 16 pixels per site."""
        up = (self.spins[index] > 0).reshape(self.size, self.size).cpu().numpy()
        colours = np.where(up[..., None], np.array([240, 200, 60]), np.array([40, 50, 110])).astype(np.uint8)
        return colours.repeat(16, axis=0).repeat(16, axis=1)

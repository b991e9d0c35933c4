"""A small environment for the contract's second shape: structured observations, agents that die, respawn and
join late, a MultiDiscrete action with per-component masks, and a published neighbour structure.

Agents (group `agent`) walk on a `size` x `size` grid with one lava cell and one food cell per agent.
Action `MultiDiscrete([5, 2])`: a move (stay, up, down, left, right; moves off the grid are masked out) and
eat (1 is legal only on one's own food cell). Eating gives +1 and moves that agent's food; stepping on lava
gives -1 and kills the agent (terminated), which comes back `respawn_delay` steps later at a random cell (a
new life: `joined`). With `late_join`, each slot except the first starts empty with probability 1/2 and joins
at step `late_join`. Observation: `{"grid": [3, size, size]` (own position, own food, lava), `"others": [k, 3]`
(offsets to the k nearest live agents and 1), `"others_mask": [k]`}; neighbours: the same k agents.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, Neighbours, agent_names

MOVES = ((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1))


class RespawnArena(BatchedEnv):
    """Agents eat food and die in lava; the dead respawn after a delay (see the module docstring)."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
        n_agents: int = 3,
        size: int = 5,
        k: int = 2,
        respawn_delay: int = 2,
        late_join: int = 0,
        max_steps: int = 30,
    ) -> None:
        if not 0 < k < n_agents:
            raise ValueError(f"k must be in [1, n_agents), got k={k} with n_agents={n_agents}")
        self.size, self.k, self.respawn_delay, self.late_join = size, k, respawn_delay, late_join
        observation = gym.spaces.Dict(
            {
                "grid": gym.spaces.Box(0.0, 1.0, (3, size, size), np.float32),
                "others": gym.spaces.Box(-1.0, 1.0, (k, 3), np.float32),
                "others_mask": gym.spaces.Box(0.0, 1.0, (k,), np.float32),
            }
        )
        lives = 1 + max_steps // (respawn_delay + 1)
        spec = GroupSpec(
            agent_names("agent", n_agents),
            observation,
            gym.spaces.MultiDiscrete([5, 2]),
            neighbours=k,
            lives=lives,
        )
        super().__init__(
            groups={"agent": spec}, num_envs=num_envs, device=device, seed=seed, max_steps=max_steps
        )
        B, dev = num_envs, self.device
        self.moves = torch.tensor(MOVES, device=dev)
        self.pos = torch.zeros(B, n_agents, 2, dtype=torch.long, device=dev)
        self.food = torch.zeros_like(self.pos)
        self.lava = torch.zeros(B, 2, dtype=torch.long, device=dev)
        self.dead_for = torch.zeros(B, n_agents, dtype=torch.long, device=dev)  # steps since death
        self.waiting = torch.zeros(B, n_agents, dtype=torch.bool, device=dev)  # late joiners not yet in

    def _cells(self, shape: tuple[int, ...]) -> Tensor:
        return torch.randint(self.size, (*shape, 2), generator=self.generator, device=self.device)

    def _reset(self, mask: Tensor) -> None:
        B, n = self.dead_for.shape
        lava = self._cells((B,))
        pos, food = self._cells((B, n)), self._cells((B, n))
        # nobody starts on the lava
        on_lava = (pos == lava[:, None]).all(-1, keepdim=True)
        pos = torch.where(on_lava, (pos + 1) % self.size, pos)
        self.lava = self.where(mask, lava, self.lava)
        self.pos, self.food = self.where(mask, pos, self.pos), self.where(mask, food, self.food)
        self.dead_for.masked_fill_(mask[:, None], 0)
        late = torch.zeros(B, n, dtype=torch.bool, device=self.device)
        if self.late_join:
            late[:, 1:] = torch.rand(B, n - 1, generator=self.generator, device=self.device) < 0.5
        self.waiting = torch.where(mask[:, None], late, self.waiting)
        self.alive["agent"] &= ~(late & mask[:, None])

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor, Tensor]]:
        alive = self.alive["agent"]
        move, eat = actions["agent"].unbind(-1)
        self.pos = torch.where(
            alive[..., None], (self.pos + self.moves[move]).clamp(0, self.size - 1), self.pos
        )
        on_food = (self.pos == self.food).all(-1)
        ate = alive & (eat == 1) & on_food
        self.food = torch.where(ate[..., None], self._cells(ate.shape), self.food)
        burnt = alive & (self.pos == self.lava[:, None]).all(-1)
        reward = ate.float() - burnt.float()
        # the dead count the steps since their death and come back at a random cell off the lava
        self.dead_for = torch.where(alive & ~burnt, 0, self.dead_for + 1)
        respawn = ~alive & ~self.waiting & (self.dead_for > self.respawn_delay)
        arrive = self.waiting & (self.elapsed[:, None] + 1 >= self.late_join)
        joined = respawn | arrive
        cells = self._cells(joined.shape)
        cells = torch.where(
            (cells == self.lava[:, None]).all(-1, keepdim=True), (cells + 1) % self.size, cells
        )
        self.pos = torch.where(joined[..., None], cells, self.pos)
        self.waiting &= ~arrive
        return {"agent": (reward, burnt, joined)}

    def _observe(self) -> dict[str, dict[str, Tensor]]:
        B, n = self.dead_for.shape
        planes = torch.zeros(B, n, 3, self.size * self.size, device=self.device)
        flat = lambda p: p[..., 0] * self.size + p[..., 1]  # noqa: E731
        planes[:, :, 0].scatter_(-1, flat(self.pos)[..., None], 1.0)
        planes[:, :, 1].scatter_(-1, flat(self.food)[..., None], 1.0)
        planes[:, :, 2].scatter_(-1, flat(self.lava)[:, None, None].expand(B, n, 1), 1.0)
        planes *= self.alive["agent"][:, :, None, None]
        near = self._nearest()
        offsets = self.pos.gather(1, near.index.flatten(1)[..., None].expand(-1, -1, 2)).view(B, n, self.k, 2)
        offsets = (offsets - self.pos[:, :, None]).float() / (self.size - 1)
        others = torch.cat([offsets, torch.ones(B, n, self.k, 1, device=self.device)], dim=-1)
        others = others * near.mask[..., None]
        return {
            "agent": {
                "grid": planes.view(B, n, 3, self.size, self.size),
                "others": others,
                "others_mask": near.mask.float(),
            }
        }

    def _nearest(self) -> Neighbours:
        """The k nearest other live agents of every agent (Chebyshev distance, ties by index)."""
        alive = self.alive["agent"]
        n = alive.shape[1]
        distance = (self.pos[:, :, None] - self.pos[:, None]).abs().amax(-1).float()
        blocked = ~alive[:, None, :] | torch.eye(n, dtype=torch.bool, device=self.device)
        distance = distance.masked_fill(blocked, float("inf"))
        value, index = distance.topk(self.k, dim=-1, largest=False)
        return Neighbours(index, value.isfinite() & alive[:, :, None])

    def _neighbours(self) -> dict[str, Neighbours]:
        return {"agent": self._nearest()}

    def _action_mask(self) -> dict[str, Tensor]:
        target = self.pos[:, :, None] + self.moves
        move_ok = ((target >= 0) & (target < self.size)).all(-1)
        on_food = (self.pos == self.food).all(-1)
        eat_ok = torch.stack([torch.ones_like(on_food), on_food], dim=-1)
        return {"agent": torch.cat([move_ok, eat_ok], dim=-1)}

    def _render(self, index: int) -> np.ndarray:
        cell = 16
        image = np.full((self.size * cell, self.size * cell, 3), 255, dtype=np.uint8)

        def paint(p: list[int], colour: tuple[int, int, int], inset: int) -> None:
            r, c = p
            image[r * cell + inset : (r + 1) * cell - inset, c * cell + inset : (c + 1) * cell - inset] = (
                colour
            )

        paint(self.lava[index].tolist(), (220, 60, 20), 0)
        for i in range(self.pos.shape[1]):
            paint(self.food[index, i].tolist(), (60, 180, 60), 5)
            if self.alive["agent"][index, i]:
                paint(self.pos[index, i].tolist(), (40, 40, 200), 3)
        return image


def register() -> None:
    """Register the arena like any third-party environment (idempotent)."""
    import marl

    marl.register_env("test/respawn_arena", RespawnArena)

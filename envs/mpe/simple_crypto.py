"""mpe/simple_crypto: Alice encrypts the goal with a key shared with Bob; Eve eavesdrops (mpe2 simple_crypto_v3).

Rules (mpe2/simple_crypto/simple_crypto.py): three agents that cannot move and speak 4-dimensional messages
(eve_0, bob_0, alice_0); two landmarks whose "colours" are one-hot 4-vectors; the goal and the key are each one
of them. Observations: Alice `[goal (4), key (4)]`, Bob `[key (4), Alice's message (4)]`, Eve `[Alice's
message (4)]`. Rewards, with err(x) = |x - goal|^2 counted only when the message x is not all zero:
Eve -err(Eve); Alice and Bob err(Eve) - err(Bob).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv
from marl.core.validation import validated

DIM_C = 4
N_LANDMARKS = 2


class SimpleCrypto(MPEEnv):
    """Covert communication: groups `eve` (the eavesdropper), `bob` (the listener) and `alice` (the speaker)."""

    def __init__(
        self, config: MPEConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> None:
        config = validated(config, self.config_class)
        role = dict(movable=False, collide=False)
        super().__init__(
            config,
            agents=[
                AgentSpec("eve_0", (0.75, 0.25, 0.25), **role),
                AgentSpec("bob_0", (0.25, 0.25, 0.25), **role),
                AgentSpec("alice_0", (0.25, 0.25, 0.25), **role),
            ],
            landmarks=[
                LandmarkSpec(tuple(float(i == k) for i in range(3)), collide=False)
                for k in range(N_LANDMARKS)
            ],
            obs_dims={"eve": DIM_C, "bob": 2 * DIM_C, "alice": 2 * DIM_C},
            dim_c=DIM_C,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.goal = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self.key = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._codes = torch.eye(DIM_C, dtype=self.dtype, device=self.device)[:N_LANDMARKS]  # landmark colours

    def _reset_task(self, mask: Tensor) -> None:
        draws = torch.randint(N_LANDMARKS, (2, self.num_envs), generator=self.generator, device=self.device)
        self.goal = torch.where(mask, draws[0], self.goal)
        self.key = torch.where(mask, draws[1], self.key)

    def _observations(self) -> dict[str, Tensor]:
        goal, key, alice = self._codes[self.goal], self._codes[self.key], self.comm[:, 2]
        return {
            "eve": alice[:, None],
            "bob": torch.cat([key, alice], dim=-1)[:, None],
            "alice": torch.cat([goal, key], dim=-1)[:, None],
        }

    def _errors(self) -> Tensor:
        """Per agent, |message - goal|^2, or 0 where the message is all zero: `[B, 3]`."""
        goal = self._codes[self.goal][:, None]
        error = (self.comm - goal).square().sum(dim=-1)
        return torch.where((self.comm != 0).any(dim=-1), error, torch.zeros_like(error))

    def _rewards(self) -> Tensor:
        error = self._errors()
        eve, bob = error[:, 0:1], error[:, 1:2]
        return torch.cat([-eve, (eve - bob).expand(-1, 2)], dim=1)

    def _episode_stats(self) -> dict[str, Tensor]:
        """Decoding at the last step: `bob_correct` / `eve_correct` = 1 where the message's largest entry is the
        goal's."""
        goal = self.goal
        return {
            "bob_correct": (self.comm[:, 1].argmax(dim=-1) == goal).to(self.dtype),
            "eve_correct": (self.comm[:, 0].argmax(dim=-1) == goal).to(self.dtype),
        }

    def _entity_colors(self, index: int) -> np.ndarray:
        colors = super()._entity_colors(index)
        colors[1] = colors[3 + int(self.goal[index])]  # mpe2 paints Bob in the goal's colour
        return colors

    def _load_mpe2_task(self, index: int, world) -> None:
        self.goal[index] = world.landmarks.index(world.agents[0].goal_a)
        self.key[index] = int(np.argmax(world.agents[2].key))

"""mpe/simple_reference: two agents that move and speak; each tells the other where to go (mpe2 simple_reference_v3).

Rules (mpe2/simple_reference/simple_reference.py): two agents (no collisions) with 10 words; three landmarks
coloured red, green, blue. Agent i holds a goal landmark g_i that the *other* agent must reach.
Observation `[vel, landmark - pos (3), colour of g_i (3), other's message (10)]`. Reward of agent i:
r_i = -distance(other agent, g_i), mixed `(1 - local_ratio) * mean(r) + local_ratio * r_i`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv
from marl.core.validation import check_number, validated

LANDMARK_COLORS = ((0.75, 0.25, 0.25), (0.25, 0.75, 0.25), (0.25, 0.25, 0.75))


@dataclass
class SimpleReferenceConfig(MPEConfig):
    """simple_reference's keys: the weight of the agent's own goal in its reward."""

    local_ratio: float = 0.5

    def validate(self) -> None:
        super().validate()
        check_number("local_ratio", self.local_ratio, low=0.0, high=1.0)


class SimpleReference(MPEEnv):
    """Referential communication: group `agent` of two speaking, moving agents."""

    config_class = SimpleReferenceConfig

    def __init__(
        self,
        config: SimpleReferenceConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        self.local_ratio = float(config.local_ratio)
        dim_c = 10
        super().__init__(
            config,
            agents=[AgentSpec(f"agent_{i}", (0.25, 0.25, 0.25), collide=False) for i in range(2)],
            landmarks=[LandmarkSpec(c, collide=False) for c in LANDMARK_COLORS],
            obs_dims={"agent": 2 + 6 + 3 + dim_c},
            dim_c=dim_c,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.goal = torch.zeros(num_envs, 2, dtype=torch.long, device=self.device)  # g_i per agent
        self._landmark_colors = torch.tensor(LANDMARK_COLORS, dtype=self.dtype, device=self.device)

    def _reset_task(self, mask: Tensor) -> None:
        goal = torch.randint(
            self.n_landmarks, (self.num_envs, 2), generator=self.generator, device=self.device
        )
        self.goal = self.where(mask, goal, self.goal)

    def _observations(self) -> dict[str, Tensor]:
        parts = [
            self.vel,
            self.landmark_offsets().flatten(2),
            self._landmark_colors[self.goal],
            self.comm.flip(1),  # the other agent's message
        ]
        return {"agent": torch.cat(parts, dim=-1)}

    def _own_rewards(self) -> Tensor:
        goal_pos = self.landmark_pos.gather(1, self.goal[:, :, None].expand(-1, -1, 2))
        return -(self.pos.flip(1) - goal_pos).norm(dim=-1)

    def _rewards(self) -> Tensor:
        own = self._own_rewards()
        return own.mean(dim=1, keepdim=True) * (1 - self.local_ratio) + own * self.local_ratio

    def _episode_stats(self) -> dict[str, Tensor]:
        """`goal_distance`: each agent's distance to the landmark it must reach, averaged, at the last step."""
        return {"goal_distance": -self._own_rewards().mean(dim=1)}

    def _entity_colors(self, index: int) -> np.ndarray:
        colors = super()._entity_colors(index)
        for i in range(2):  # mpe2 paints each agent in the colour of its goal, which the other agent holds
            colors[i] = LANDMARK_COLORS[int(self.goal[index, 1 - i])]
        return colors

    def _load_mpe2_task(self, index: int, world) -> None:
        for i in range(2):
            self.goal[index, i] = world.landmarks.index(world.agents[i].goal_b)

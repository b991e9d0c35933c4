"""mpe/simple_push: a good agent reaches its goal landmark while an adversary pushes it away (mpe2 simple_push_v3).

Rules (mpe2/simple_push/simple_push.py): two agents (default size 0.05, accel 5) that collide, silent; two
landmarks that do not; the goal is one of them. Observations: good `[vel, goal - pos, own colour (3),
landmark - pos (2), landmark colours (2 x 3), other - pos]`; adversary `[vel, landmark - pos (2),
other - pos]`. Rewards: good = -distance(good, goal); adversary = min over good agents of their distance to
the goal - distance(adversary, goal).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv
from marl.core.validation import validated

LANDMARK_COLORS = ((0.1, 0.9, 0.1), (0.1, 0.1, 0.9))  # 0.1 each, +0.8 in channel i + 1
GOOD_COLORS = ((0.25, 0.75, 0.25), (0.25, 0.25, 0.75))  # 0.25 each, +0.5 in channel goal + 1


class SimplePush(MPEEnv):
    """Keep-away: groups `adversary` and `agent`, one agent each."""

    def __init__(
        self, config: MPEConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> None:
        config = validated(config, self.config_class)
        super().__init__(
            config,
            agents=[
                AgentSpec("adversary_0", (0.75, 0.25, 0.25), silent=True),
                AgentSpec("agent_0", (0.25, 0.25, 0.25), silent=True),
            ],
            landmarks=[LandmarkSpec(c, collide=False) for c in LANDMARK_COLORS],
            obs_dims={"adversary": 8, "agent": 19},
            dim_c=2,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.goal = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._landmark_colors = torch.tensor(LANDMARK_COLORS, dtype=self.dtype, device=self.device)
        self._good_colors = torch.tensor(GOOD_COLORS, dtype=self.dtype, device=self.device)

    def _goal_pos(self) -> Tensor:
        return self.landmark_pos.gather(1, self.goal[:, None, None].expand(-1, 1, 2))

    def _reset_task(self, mask: Tensor) -> None:
        goal = torch.randint(self.n_landmarks, (self.num_envs,), generator=self.generator, device=self.device)
        self.goal = torch.where(mask, goal, self.goal)

    def _observations(self) -> dict[str, Tensor]:
        B = self.num_envs
        landmarks = self.landmark_offsets().flatten(2)  # [B, 2, 4]
        other = self.agent_offsets().flatten(2)  # [B, 2, 2]
        good = torch.cat(
            [
                self.vel[:, 1],
                (self._goal_pos() - self.pos)[:, 1],
                self._good_colors[self.goal],
                landmarks[:, 1],
                self._landmark_colors.flatten().expand(B, -1),
                other[:, 1],
            ],
            dim=-1,
        )
        adversary = torch.cat([self.vel[:, 0], landmarks[:, 0], other[:, 0]], dim=-1)
        return {"adversary": adversary[:, None], "agent": good[:, None]}

    def _rewards(self) -> Tensor:
        goal_distance = (self.pos - self._goal_pos()).norm(dim=-1)  # [B, 2]
        adversary = goal_distance[:, 1:].min(dim=1, keepdim=True).values - goal_distance[:, :1]
        return torch.cat([adversary, -goal_distance[:, 1:]], dim=1)

    def _episode_stats(self) -> dict[str, Tensor]:
        """Distances to the goal at the last step: `agent_goal_distance`, `adversary_goal_distance`."""
        goal_distance = (self.pos - self._goal_pos()).norm(dim=-1)
        return {"agent_goal_distance": goal_distance[:, 1], "adversary_goal_distance": goal_distance[:, 0]}

    def _entity_colors(self, index: int) -> np.ndarray:
        colors = super()._entity_colors(index)
        colors[1] = GOOD_COLORS[int(self.goal[index])]
        return colors

    def _load_mpe2_task(self, index: int, world) -> None:
        self.goal[index] = world.landmarks.index(world.agents[0].goal_a)

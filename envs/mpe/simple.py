"""mpe/simple: one agent moves to one landmark (mpe2 simple_v3; a debugging task).

Rules (mpe2/simple/simple.py): agent and landmark do not collide, no messages (dim_c = 0). Observation
`[vel, landmark - pos]`; reward = minus the squared distance to the landmark.
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv
from marl.core.validation import validated


class Simple(MPEEnv):
    """A single agent rewarded by minus its squared distance to a landmark."""

    def __init__(
        self, config: MPEConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> None:
        config = validated(config, self.config_class)
        super().__init__(
            config,
            agents=[AgentSpec("agent_0", (0.25, 0.25, 0.25), silent=True, collide=False)],
            landmarks=[LandmarkSpec((0.75, 0.25, 0.25), collide=False)],
            obs_dims={"agent": 4},
            dim_c=0,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )

    def _observations(self) -> dict[str, Tensor]:
        to_landmark = self.landmark_pos - self.pos
        return {"agent": torch.cat([self.vel, to_landmark], dim=-1)}

    def _rewards(self) -> Tensor:
        return -(self.landmark_pos - self.pos).square().sum(dim=-1)

    def _episode_stats(self) -> dict[str, Tensor]:
        """`landmark_distance`: the agent's distance to the landmark at the last step."""
        return {"landmark_distance": (self.landmark_pos - self.pos).norm(dim=-1)[:, 0]}

"""mpe/simple_speaker_listener: a static speaker names the goal, a silent listener goes there (mpe2 v4).

Rules (mpe2/simple_speaker_listener/simple_speaker_listener.py): speaker (cannot move, 3 words) and listener
(moves, silent), size 0.075, no collisions; three landmarks (size 0.04) coloured red, green, blue, one of
them the goal. Observations: speaker `[goal colour (3)]`; listener `[vel, landmark - pos (3), speaker's
message (3)]`. Shared reward: minus the squared distance from the listener to the goal.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv
from marl.core.validation import validated

LANDMARK_COLORS = ((0.65, 0.15, 0.15), (0.15, 0.65, 0.15), (0.15, 0.15, 0.65))


class SimpleSpeakerListener(MPEEnv):
    """Cooperative communication: groups `speaker` and `listener`, one agent each."""

    def __init__(
        self, config: MPEConfig | None = None, num_envs: int = 1, device: str = "cpu", seed: int | None = None
    ) -> None:
        config = validated(config, self.config_class)
        role = dict(size=0.075, collide=False)
        super().__init__(
            config,
            agents=[
                AgentSpec("speaker_0", (0.25, 0.25, 0.25), movable=False, **role),
                AgentSpec("listener_0", (0.25, 0.25, 0.25), silent=True, **role),
            ],
            landmarks=[LandmarkSpec(c, size=0.04, collide=False) for c in LANDMARK_COLORS],
            obs_dims={"speaker": 3, "listener": 11},
            dim_c=3,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.goal = torch.zeros(num_envs, dtype=torch.long, device=self.device)
        self._landmark_colors = torch.tensor(LANDMARK_COLORS, dtype=self.dtype, device=self.device)

    def _reset_task(self, mask: Tensor) -> None:
        goal = torch.randint(self.n_landmarks, (self.num_envs,), generator=self.generator, device=self.device)
        self.goal = torch.where(mask, goal, self.goal)

    def _goal_distance_squared(self) -> Tensor:
        goal_pos = self.landmark_pos.gather(1, self.goal[:, None, None].expand(-1, 1, 2))
        return (self.pos[:, 1] - goal_pos[:, 0]).square().sum(dim=-1)

    def _observations(self) -> dict[str, Tensor]:
        listener = torch.cat(
            [self.vel[:, 1], self.landmark_offsets()[:, 1].flatten(1), self.comm[:, 0]], dim=-1
        )
        return {"speaker": self._landmark_colors[self.goal][:, None], "listener": listener[:, None]}

    def _rewards(self) -> Tensor:
        return -self._goal_distance_squared()[:, None].expand(-1, 2)

    def _episode_stats(self) -> dict[str, Tensor]:
        """`goal_distance`: the listener's distance to the goal at the last step."""
        return {"goal_distance": self._goal_distance_squared().sqrt()}

    def _entity_colors(self, index: int) -> np.ndarray:
        colors = super()._entity_colors(index)
        colors[1] = np.array(LANDMARK_COLORS[int(self.goal[index])]) + 0.45  # mpe2 paints the listener
        return colors

    def _load_mpe2_task(self, index: int, world) -> None:
        self.goal[index] = world.landmarks.index(world.agents[0].goal_b)

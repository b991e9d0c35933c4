"""mpe/simple_adversary: N = n_good agents know the goal landmark; an adversary guesses it (mpe2 simple_adversary_v3).

Rules (mpe2/simple_adversary/simple_adversary.py): agents size 0.15, no collisions, silent; N landmarks of
size 0.08; one of them is the goal. Observations: good `[goal - pos, landmark - pos (N), other - pos (N)]`,
adversary `[landmark - pos (N), other - pos (N)]`; with `k_landmarks` / `k_neighbours`
only the nearest landmarks / agents, nearest first, zero-padded (the goal stays visible). Rewards: adversary = -distance(adversary, goal); good =
-min over good agents of their distance to the goal + sum over adversaries of theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEEnv, PartialObservabilityConfig
from marl.core.validation import check_positive_int, validated


@dataclass
class SimpleAdversaryConfig(PartialObservabilityConfig):
    """simple_adversary's keys (mpe2's defaults; mpe2 calls n_good `N`)."""

    n_good: int = 2  # good agents (there is one adversary), and as many landmarks

    def validate(self) -> None:
        super().validate()
        check_positive_int("n_good", self.n_good)


class SimpleAdversary(MPEEnv):
    """Deception: groups `adversary` (1 agent) and `agent` (N agents)."""

    config_class = SimpleAdversaryConfig

    def __init__(
        self,
        config: SimpleAdversaryConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        N, k_neighbours, k_landmarks = config.n_good, config.k_neighbours, config.k_landmarks
        self.k_neighbours, self.k_landmarks = k_neighbours, k_landmarks
        seen = 2 * (N if k_landmarks is None else k_landmarks)
        seen += 2 * (N if k_neighbours is None else k_neighbours)
        role = dict(size=0.15, silent=True, collide=False)
        agents = [AgentSpec("adversary_0", (0.85, 0.35, 0.35), **role)]
        agents += [AgentSpec(f"agent_{i}", (0.35, 0.35, 0.85), **role) for i in range(N)]
        landmarks = [LandmarkSpec((0.15, 0.15, 0.15), size=0.08, collide=False) for _ in range(N)]
        super().__init__(
            config,
            agents=agents,
            landmarks=landmarks,
            obs_dims={"adversary": seen, "agent": 2 + seen},
            dim_c=2,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.goal = torch.zeros(num_envs, dtype=torch.long, device=self.device)

    def _goal_pos(self) -> Tensor:
        """The goal landmark's position `[B, 1, 2]`."""
        return self.landmark_pos.gather(1, self.goal[:, None, None].expand(-1, 1, 2))

    def _reset_task(self, mask: Tensor) -> None:
        goal = torch.randint(self.n_landmarks, (self.num_envs,), generator=self.generator, device=self.device)
        self.goal = torch.where(mask, goal, self.goal)

    def _observations(self) -> dict[str, Tensor]:
        (landmarks,) = self.nearest_slots(self.landmark_offsets(), self.k_landmarks)
        (others,) = self.nearest_slots(self.agent_offsets(), self.k_neighbours)
        seen = torch.cat([landmarks.flatten(2), others.flatten(2)], dim=-1)
        to_goal = (self._goal_pos() - self.pos)[:, 1:]
        return {"adversary": seen[:, :1], "agent": torch.cat([to_goal, seen[:, 1:]], dim=-1)}

    def _rewards(self) -> Tensor:
        goal_distance = (self.pos - self._goal_pos()).norm(dim=-1)  # [B, n]
        adversary = -goal_distance[:, :1]
        good = -goal_distance[:, 1:].min(dim=1, keepdim=True).values + goal_distance[:, :1]
        return torch.cat([adversary, good.expand(-1, self.n_agents - 1)], dim=1)

    def _episode_stats(self) -> dict[str, Tensor]:
        """Distances to the goal at the last step: `adversary_goal_distance`, and `agent_goal_distance` of the
        nearest good agent."""
        goal_distance = (self.pos - self._goal_pos()).norm(dim=-1)
        return {
            "adversary_goal_distance": goal_distance[:, 0],
            "agent_goal_distance": goal_distance[:, 1:].min(dim=1).values,
        }

    def _entity_colors(self, index: int) -> np.ndarray:
        colors = super()._entity_colors(index)
        colors[self.n_agents + int(self.goal[index])] = (0.15, 0.65, 0.15)
        return colors

    def _load_mpe2_task(self, index: int, world) -> None:
        self.goal[index] = world.landmarks.index(world.agents[0].goal_a)

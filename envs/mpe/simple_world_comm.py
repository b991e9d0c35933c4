"""mpe/simple_world_comm: predators led by a speaking leader hunt prey among forests and food (mpe2 v3).

Rules (mpe2/simple_world_comm/simple_world_comm.py): agent 0 is the lead adversary (the only speaker, 4-dim
messages); adversaries size 0.075, accel 3, max speed 1.0; good agents size 0.045, accel 4, max speed 1.3;
all collide. Landmarks, in order: obstacles (size 0.2, collide), food (0.03), forests (0.3), all starting
uniform in [-0.9, 0.9]^2. An agent is in forest f when it overlaps it. Agent a sees another agent o when both
share a forest, or when neither is in any forest, or when a is the leader; otherwise o's position (and
velocity) reads as zeros. Observations: adversaries and leader `[vel, pos, landmark - pos, other - pos,
velocities of good others, in-forest flags (+1/-1), leader's message]`; good agents `[vel, pos,
landmark - pos, other - pos, in-forest flags, velocities of good others]`. Rewards: adversaries
-0.1 min distance to a good agent + 5 per (good, adversary) contact; good agents -5 per adversary touching
them - 2 * boundary penalty + 2 per food overlapped - 0.05 * distance to the nearest food.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv, boundary_penalty
from marl.core.validation import check_int, check_positive_int, validated


@dataclass
class SimpleWorldCommConfig(MPEConfig):
    """simple_world_comm's keys (mpe2's defaults; mpe2 names the counts num_<thing>)."""

    n_good: int = 2
    n_adversaries: int = 4  # the leader included
    n_obstacles: int = 1
    n_food: int = 2
    n_forests: int = 2

    def validate(self) -> None:
        super().validate()
        for key in ("n_good", "n_adversaries", "n_food"):
            check_positive_int(key, getattr(self, key))
        for key in ("n_obstacles", "n_forests"):
            check_int(key, getattr(self, key), low=0)


class SimpleWorldComm(MPEEnv):
    """Groups `leadadversary` (1), `adversary` (n_adversaries - 1) and `agent` (n_good)."""

    config_class = SimpleWorldCommConfig

    def __init__(
        self,
        config: SimpleWorldCommConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        n_good, n_adversaries = config.n_good, config.n_adversaries
        n_obstacles, n_food, n_forests = config.n_obstacles, config.n_food, config.n_forests
        self.n_good, self.n_adversaries = n_good, n_adversaries
        self.n_obstacles, self.n_food, self.n_forests = n_obstacles, n_food, n_forests
        adversary = dict(size=0.075, accel=3.0, max_speed=1.0)
        agents = [AgentSpec("leadadversary_0", (0.65, 0.15, 0.15), **adversary)]
        agents += [
            AgentSpec(f"adversary_{i}", (0.95, 0.45, 0.45), silent=True, **adversary)
            for i in range(n_adversaries - 1)
        ]
        agents += [
            AgentSpec(f"agent_{i}", (0.45, 0.95, 0.45), size=0.045, accel=4.0, max_speed=1.3, silent=True)
            for i in range(n_good)
        ]
        landmarks = [LandmarkSpec((0.25, 0.25, 0.25), size=0.2) for _ in range(n_obstacles)]
        landmarks += [LandmarkSpec((0.15, 0.15, 0.65), size=0.03, collide=False) for _ in range(n_food)]
        landmarks += [LandmarkSpec((0.6, 0.9, 0.6), size=0.3, collide=False) for _ in range(n_forests)]
        n, dim_c = n_good + n_adversaries, 4
        common = 4 + 2 * len(landmarks) + 2 * (n - 1) + n_forests
        adversary_dim = common + 2 * n_good + dim_c
        super().__init__(
            config,
            agents=agents,
            landmarks=landmarks,
            obs_dims={
                "leadadversary": adversary_dim,
                "adversary": adversary_dim,
                "agent": common + 2 * (n_good - 1),
            },
            dim_c=dim_c,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.adversary_idx = self.agent_idx[:n_adversaries]
        self.good_idx = self.agent_idx[n_adversaries:]
        first_food = n + n_obstacles
        self.food_idx = torch.arange(first_food, first_food + n_food, device=self.device)
        self.forest_idx = torch.arange(
            first_food + n_food, first_food + n_food + n_forests, device=self.device
        )
        self._leader = torch.zeros(n, dtype=torch.bool, device=self.device)
        self._leader[0] = True
        self._touches = torch.zeros(num_envs, dtype=self.dtype, device=self.device)
        self._food_eaten = torch.zeros(num_envs, dtype=self.dtype, device=self.device)

    def _draw_landmarks(self) -> Tensor:
        return self.uniform((self.num_envs, self.n_landmarks, 2), -0.9, 0.9)

    def _contacts(self) -> Tensor:
        """`[B, n_adversaries, n_good]`: adversary i touches good agent j."""
        return self.world.overlapping(self.adversary_idx, self.good_idx)

    def _observations(self) -> dict[str, Tensor]:
        B, A = self.num_envs, self.n_adversaries
        in_forest = self.world.overlapping(self.agent_idx, self.forest_idx)  # [B, n, forests]
        anywhere = in_forest.any(dim=-1)
        shared = (in_forest[:, :, None] & in_forest[:, None]).any(dim=-1)  # [B, n, n]
        visible = shared | (~anywhere[:, :, None] & ~anywhere[:, None]) | self._leader[None, :, None]
        visible = self.others_pairwise(visible)[..., None]  # [B, n, n - 1, 1]
        other_pos = (self.agent_offsets() * visible).flatten(2)
        other_vel = self.others(self.vel) * visible  # good others: see below
        flags = in_forest.to(self.dtype) * 2 - 1
        own = torch.cat([self.vel, self.pos, self.landmark_offsets().flatten(2), other_pos], dim=-1)
        leader_message = self.comm[:, 0:1].expand(B, A, self.dim_c)
        # the others are ordered adversaries first: an adversary has A - 1 adversary others, a good agent A
        adversaries = torch.cat(
            [own[:, :A], other_vel[:, :A, A - 1 :].flatten(2), flags[:, :A], leader_message], dim=-1
        )
        good = torch.cat([own[:, A:], flags[:, A:], other_vel[:, A:, A:].flatten(2)], dim=-1)
        return {"leadadversary": adversaries[:, :1], "adversary": adversaries[:, 1:], "agent": good}

    def _rewards(self) -> Tensor:
        A = self.n_adversaries
        contacts = self._contacts().to(self.dtype)
        nearest_good = self.world.distances(self.adversary_idx, self.good_idx).min(dim=2).values
        adversary = -0.1 * nearest_good + 5 * contacts.sum(dim=(1, 2))[:, None]
        food_overlap = self.world.overlapping(self.good_idx, self.food_idx).to(self.dtype).sum(dim=2)
        nearest_food = self.world.distances(self.good_idx, self.food_idx).min(dim=2).values
        good = (
            -5 * contacts.sum(dim=1)
            - 2 * boundary_penalty(self.pos[:, A:])
            + 2 * food_overlap
            - 0.05 * nearest_food
        )
        return torch.cat([adversary, good], dim=1)

    def _reset_task(self, mask: Tensor) -> None:
        self._touches.masked_fill_(mask, 0.0)
        self._food_eaten.masked_fill_(mask, 0.0)

    def _step_stats(self) -> None:
        self._touches += self._contacts().sum(dim=(1, 2)).to(self.dtype)
        self._food_eaten += (
            self.world.overlapping(self.good_idx, self.food_idx).sum(dim=(1, 2)).to(self.dtype)
        )

    def _episode_stats(self) -> dict[str, Tensor]:
        """`touches`: (adversary, good agent) pairs in contact, summed over the episode's steps;
        `food`: (good agent, food) overlaps summed over the steps."""
        return {"touches": self._touches.clone(), "food": self._food_eaten.clone()}

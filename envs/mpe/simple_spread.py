"""mpe/simple_spread: N = n_agents agents cover N landmarks without colliding (mpe2 simple_spread_v3).

Rules (mpe2/simple_spread/simple_spread.py): agents size 0.15, collide, silent; landmarks do not collide;
everything starts uniform in [-1, 1]^2. Observation `[vel, pos, landmark - pos (N), other - pos (N-1),
other messages (N-1 x dim_c=2, always zero: agents are silent)]`; with `k_landmarks` /
`k_neighbours` only that many nearest landmarks / agents, nearest first, zero-padded. Reward
`(1 - local_ratio) * global + local_ratio * local` with global = -sum over landmarks of the nearest agent's
distance and local = -1 per other agent overlapping this one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEEnv, PartialObservabilityConfig
from envs.particles.physics import length
from marl.core.validation import check_bool, check_number, check_positive_int, validated

AGENT_SIZE = 0.15
COLLISION_PENALTY_BY_STAGE = (False, True)  # mpe2's CURRICULUM_STAGES
CAPTURE_RADIUS = 0.1  # a landmark is "occupied" when an agent is this close (mpe2's benchmark_data)


@dataclass
class SimpleSpreadConfig(PartialObservabilityConfig):
    """simple_spread's keys (mpe2's defaults; mpe2 calls n_agents `N`)."""

    n_agents: int = 3  # and as many landmarks
    local_ratio: float = 0.5
    terminate_on_success: bool = False
    curriculum: bool = False

    def validate(self) -> None:
        super().validate()
        check_positive_int("n_agents", self.n_agents)
        check_number("local_ratio", self.local_ratio, low=0.0, high=1.0)
        check_bool("terminate_on_success", self.terminate_on_success)
        check_bool("curriculum", self.curriculum)


class SimpleSpread(MPEEnv):
    """Cooperative navigation: N agents, N landmarks, shared coverage reward and local collision penalty."""

    config_class = SimpleSpreadConfig

    def __init__(
        self,
        config: SimpleSpreadConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        N, k_neighbours, k_landmarks = config.n_agents, config.k_neighbours, config.k_landmarks
        self.local_ratio, self.terminate_on_success = float(config.local_ratio), config.terminate_on_success
        self.curriculum, self.curriculum_stage = config.curriculum, 0
        self.k_neighbours, self.k_landmarks = k_neighbours, k_landmarks
        seen_landmarks = N if k_landmarks is None else k_landmarks
        seen_agents = N - 1 if k_neighbours is None else k_neighbours
        agents = [AgentSpec(f"agent_{i}", (0.35, 0.35, 0.85), size=AGENT_SIZE, silent=True) for i in range(N)]
        landmarks = [LandmarkSpec((0.25, 0.25, 0.25), collide=False) for _ in range(N)]
        dim_c = 2
        super().__init__(
            config,
            agents=agents,
            landmarks=landmarks,
            obs_dims={"agent": 4 + 2 * seen_landmarks + (2 + dim_c) * seen_agents},
            dim_c=dim_c,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self._distance_sum = torch.zeros(num_envs, dtype=self.dtype, device=self.device)
        self._collisions = torch.zeros(num_envs, dtype=self.dtype, device=self.device)

    def set_curriculum_stage(self, stage: int) -> None:
        """mpe2's curriculum (with `curriculum=True`): no collision penalty at stage 0, the penalty from stage 1."""
        self.curriculum_stage = max(0, min(int(stage), len(COLLISION_PENALTY_BY_STAGE) - 1))

    def advance_curriculum(self) -> None:
        """Move to the next curriculum stage (no-op at the last)."""
        self.set_curriculum_stage(self.curriculum_stage + 1)

    def _nearest_agent_distance(self) -> Tensor:
        """Per landmark, the distance to its nearest agent `[B, N]`."""

        def compute() -> Tensor:
            distance = length(self.landmark_offsets())  # [B, agent, landmark]
            return functools.reduce(torch.minimum, distance.unbind(1))

        return self.cached("nearest_agent_distance", compute)

    def _overlaps(self) -> Tensor:
        """`[B, N, N - 1]`: agent i overlaps its j-th other agent (mpe2's is_collision; all agents share a size)."""
        return self.cached("overlaps", lambda: length(self.agent_offsets()) < 2 * AGENT_SIZE)

    def _observations(self) -> dict[str, Tensor]:
        B, n = self.num_envs, self.n_agents
        (landmarks,) = self.nearest_slots(self.landmark_offsets(), self.k_landmarks)
        others, messages = self.nearest_slots(self.agent_offsets(), self.k_neighbours, self.others(self.comm))
        parts = [
            self.vel,
            self.pos,
            landmarks.reshape(B, n, -1),
            others.reshape(B, n, -1),
            messages.reshape(B, n, -1),
        ]
        return {"agent": torch.cat(parts, dim=-1)}

    def _rewards(self) -> Tensor:
        coverage = -self._nearest_agent_distance().sum(dim=1, keepdim=True)
        if self.curriculum and not COLLISION_PENALTY_BY_STAGE[self.curriculum_stage]:
            return (coverage * (1 - self.local_ratio)).expand(-1, self.n_agents)
        collisions = -self._overlaps().sum(dim=2, dtype=self.dtype)
        return coverage * (1 - self.local_ratio) + collisions * self.local_ratio

    def _terminal(self) -> Tensor:
        if not self.terminate_on_success:
            return super()._terminal()
        return (self._nearest_agent_distance() < CAPTURE_RADIUS).all(dim=1)

    def _reset_task(self, mask: Tensor) -> None:
        self._distance_sum.masked_fill_(mask, 0.0)
        self._collisions.masked_fill_(mask, 0.0)

    def _step_stats(self) -> None:
        self._distance_sum += self._nearest_agent_distance().mean(dim=1)
        self._collisions += self._overlaps().sum(dim=(1, 2), dtype=self.dtype) / 2

    def _episode_stats(self) -> dict[str, Tensor]:
        """`landmark_distance`: per landmark, distance to the nearest agent, averaged over landmarks and over
        the episode's steps; `landmark_distance_final`: the same at the last step; `collisions`: agent pairs
        overlapping, summed over the episode's steps; `occupied_landmarks`: landmarks with an agent within
        0.1 at the last step."""
        nearest = self._nearest_agent_distance()
        steps = self.elapsed.clamp(min=1).float()
        return {
            "landmark_distance": self._distance_sum / steps,
            "landmark_distance_final": nearest.mean(dim=1),
            "collisions": self._collisions.clone(),
            "occupied_landmarks": (nearest < CAPTURE_RADIUS).sum(dim=1),
        }

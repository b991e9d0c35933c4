"""mpe/simple_tag: predators (adversaries) chase faster prey (good agents) among obstacles (mpe2 simple_tag_v3).

Rules (mpe2/simple_tag/simple_tag.py): adversaries size 0.075, accel 3, max speed 1.0; good agents size 0.05,
accel 4, max speed 1.3; all collide and are silent; obstacles size 0.2 collide, start uniform in
[-0.9, 0.9]^2. Observation `[vel, pos, obstacle - pos, other - pos, velocities of the other good agents]`;
with `k_landmarks` / `k_neighbours` only the nearest obstacles / agents, nearest first,
zero-padded, and then one velocity slot per agent slot (zeros for adversaries).
Rewards: every adversary gets +10 per (good agent, adversary) pair in contact; a good agent gets -10 per
adversary touching it and minus the boundary penalty of its position.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from envs.mpe.base import AgentSpec, LandmarkSpec, MPEEnv, PartialObservabilityConfig, boundary_penalty
from marl.core.validation import check_bool, check_int, check_positive_int, validated

PREY_ACCEL, PREY_MAX_SPEED = 4.0, 1.3
PREY_SPEED_BY_STAGE = (0.5, 0.75, 1.0)  # mpe2's CURRICULUM_STAGES: prey_speed_factor


@dataclass
class SimpleTagConfig(PartialObservabilityConfig):
    """simple_tag's keys (mpe2's defaults; mpe2 names the counts num_<thing>)."""

    n_good: int = 1
    n_adversaries: int = 3
    n_obstacles: int = 2
    terminate_on_success: bool = False
    curriculum: bool = False

    def validate(self) -> None:
        super().validate()
        check_positive_int("n_good", self.n_good)
        check_positive_int("n_adversaries", self.n_adversaries)
        check_int("n_obstacles", self.n_obstacles, low=0)
        check_bool("terminate_on_success", self.terminate_on_success)
        check_bool("curriculum", self.curriculum)


class SimpleTag(MPEEnv):
    """Predator-prey: groups `adversary` (predators) and `agent` (prey)."""

    config_class = SimpleTagConfig

    def __init__(
        self,
        config: SimpleTagConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        n_good, n_adversaries, n_obstacles = config.n_good, config.n_adversaries, config.n_obstacles
        k_neighbours, k_landmarks = config.k_neighbours, config.k_landmarks
        self.k_neighbours, self.k_landmarks = k_neighbours, k_landmarks
        self.n_good, self.n_adversaries = n_good, n_adversaries
        self.terminate_on_success, self.curriculum = config.terminate_on_success, config.curriculum
        self.curriculum_stage = 0
        adversary = dict(size=0.075, accel=3.0, max_speed=1.0, silent=True)
        good = dict(size=0.05, accel=PREY_ACCEL, max_speed=PREY_MAX_SPEED, silent=True)
        agents = [AgentSpec(f"adversary_{i}", (0.85, 0.35, 0.35), **adversary) for i in range(n_adversaries)]
        agents += [AgentSpec(f"agent_{i}", (0.35, 0.85, 0.35), **good) for i in range(n_good)]
        landmarks = [LandmarkSpec((0.25, 0.25, 0.25), size=0.2) for _ in range(n_obstacles)]
        n = n_good + n_adversaries
        seen_landmarks = n_obstacles if k_landmarks is None else k_landmarks
        if k_neighbours is None:
            common = 4 + 2 * seen_landmarks + 2 * (n - 1)
            obs_dims = {"adversary": common + 2 * n_good, "agent": common + 2 * (n_good - 1)}
        else:  # positions and (good agents') velocities of the nearest others, zero-padded
            size = 4 + 2 * seen_landmarks + 4 * k_neighbours
            obs_dims = {"adversary": size, "agent": size}
        super().__init__(
            config,
            agents=agents,
            landmarks=landmarks,
            obs_dims=obs_dims,
            dim_c=2,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        self.adversary_idx = self.agent_idx[:n_adversaries]
        self.good_idx = self.agent_idx[n_adversaries:]
        self._touches = torch.zeros(num_envs, dtype=self.dtype, device=self.device)
        self._is_good = (self.agent_idx >= n_adversaries).to(self.dtype)[:, None]
        self.set_curriculum_stage(0)

    def set_curriculum_stage(self, stage: int) -> None:
        """mpe2's curriculum (with `curriculum=True`): prey speed and acceleration times 0.5, 0.75, 1.0 at stages
        0, 1, 2 (clamped). mpe2 applies it at the next reset; here it applies at once to every copy, since copies
        reset at different times."""
        self.curriculum_stage = max(0, min(int(stage), len(PREY_SPEED_BY_STAGE) - 1))
        if self.curriculum:
            factor = PREY_SPEED_BY_STAGE[self.curriculum_stage]
            self.world.max_speed[self.good_idx] = PREY_MAX_SPEED * factor
            self.group_accel["agent"] = PREY_ACCEL * factor

    def advance_curriculum(self) -> None:
        """Move to the next curriculum stage (no-op at the last)."""
        self.set_curriculum_stage(self.curriculum_stage + 1)

    def _draw_landmarks(self) -> Tensor:
        return self.uniform((self.num_envs, self.n_landmarks, 2), -0.9, 0.9)

    def _contacts(self) -> Tensor:
        """`[B, n_adversaries, n_good]`: adversary i touches good agent j."""
        return self.world.overlapping(self.adversary_idx, self.good_idx)

    def _observations(self) -> dict[str, Tensor]:
        A = self.n_adversaries
        (landmarks,) = self.nearest_slots(self.landmark_offsets(), self.k_landmarks)
        own = torch.cat([self.vel, self.pos, landmarks.flatten(2)], dim=-1)
        if self.k_neighbours is not None:
            good_vel = self.others(self.vel * self._is_good)  # adversaries' velocities read as zeros
            others, velocities = self.nearest_slots(self.agent_offsets(), self.k_neighbours, good_vel)
            return self.split(torch.cat([own, others.flatten(2), velocities.flatten(2)], dim=-1))
        other_pos = self.agent_offsets().flatten(2)
        other_vel = self.others(self.vel)
        # the other agents are ordered adversaries first; an adversary has A - 1 other adversaries
        return {
            "adversary": torch.cat(
                [own[:, :A], other_pos[:, :A], other_vel[:, :A, A - 1 :].flatten(2)], dim=-1
            ),
            "agent": torch.cat([own[:, A:], other_pos[:, A:], other_vel[:, A:, A:].flatten(2)], dim=-1),
        }

    def _rewards(self) -> Tensor:
        contacts = self._contacts().to(self.dtype)
        adversary = (10 * contacts.sum(dim=(1, 2)))[:, None].expand(-1, self.n_adversaries)
        good = -10 * contacts.sum(dim=1) - boundary_penalty(self.pos[:, self.n_adversaries :])
        return torch.cat([adversary, good], dim=1)

    def _terminal(self) -> Tensor:
        if not self.terminate_on_success:
            return super()._terminal()
        return self._contacts().any(dim=1).all(dim=1)

    def _reset_task(self, mask: Tensor) -> None:
        self._touches.masked_fill_(mask, 0.0)

    def _step_stats(self) -> None:
        self._touches += self._contacts().sum(dim=(1, 2)).to(self.dtype)

    def _episode_stats(self) -> dict[str, Tensor]:
        """`touches`: (adversary, good agent) pairs in contact, summed over the episode's steps."""
        return {"touches": self._touches.clone()}

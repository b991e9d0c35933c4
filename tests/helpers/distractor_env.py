"""A small cooperative task where a centralised critic clearly helps: every agent's reward carries a large
shared noise term that only the global state shows.

Each step every agent (group `agent`) sees its own target digit (one-hot of `digits`) and scores 1 if its
Discrete(digits) action matches it; on top of that, every agent receives the same noise `X = +-noise` (a fair coin),
drawn before the step and shown in the global state (the agents' observations and the coin) but in no
observation.
A local critic cannot predict X, so its advantages are dominated by noise; a critic on the state predicts X
and its advantages keep the matching signal. The game ends (every agent terminates) after `rounds` steps, so
no value is bootstrapped past its end; random play matches
`1 / digits` of the time, a perfect team every time (the noise averages out).
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl import BatchedEnv, GroupSpec, agent_names


class DistractorMatch(BatchedEnv):
    """Match your digit; a shared reward noise only the global state shows (see the module docstring)."""

    def __init__(
        self,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
        n_agents: int = 2,
        digits: int = 3,
        noise: float = 3.0,
        rounds: int = 4,
    ) -> None:
        self.digits, self.noise, self.rounds = digits, noise, rounds
        group = GroupSpec(
            agent_names("agent", n_agents),
            gym.spaces.Box(0.0, 1.0, (digits,), np.float32),
            gym.spaces.Discrete(digits),
        )
        state = gym.spaces.Box(-np.inf, np.inf, (n_agents * digits + 1,), np.float32)
        super().__init__(
            groups={"agent": group},
            num_envs=num_envs,
            device=device,
            seed=seed,
            state_space=state,
        )
        self.target = torch.zeros(num_envs, n_agents, dtype=torch.long, device=self.device)
        self.shared = torch.zeros(num_envs, device=self.device)
        self.matches = torch.zeros(num_envs, device=self.device)  # matched digits this episode, all agents

    def _draw(self) -> None:
        B, n = self.target.shape
        self.target = torch.randint(self.digits, (B, n), generator=self.generator, device=self.device)
        coin = torch.randint(2, (B,), generator=self.generator, device=self.device)
        self.shared = (2 * coin - 1).float() * self.noise

    def _reset(self, mask: Tensor) -> None:
        target, shared = self.target, self.shared
        self._draw()
        self.target = self.where(mask, self.target, target)
        self.shared = self.where(mask, self.shared, shared)
        self.matches = self.where(mask, torch.zeros_like(self.matches), self.matches)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        matched = (actions["agent"] == self.target).float()
        self.matches = self.matches + matched.sum(1)
        reward = matched + self.shared[:, None]
        self._draw()
        over = (self.elapsed + 1 >= self.rounds)[:, None].expand_as(reward)
        return {"agent": (reward, over)}

    def _observe(self) -> dict[str, Tensor]:
        return {"agent": torch.nn.functional.one_hot(self.target, self.digits).float()}

    def _state(self) -> Tensor:
        return torch.cat([self._observe()["agent"].flatten(1), (self.shared > 0).float()[:, None]], dim=1)

    def _episode_stats(self) -> dict[str, Tensor]:
        """`match_rate`: the fraction of agent-steps that matched their digit (the return without the noise)."""
        return {"match_rate": self.matches / (self.elapsed.float() * self.target.shape[1]).clamp(min=1)}

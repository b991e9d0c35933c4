"""A complete batched environment written against the contract, registered and used: docs/adding_an_environment.md.

Rendezvous on a ring: `n` agents sit on a ring of `size` cells and each step move left, stay or right. They
are rewarded (shared) for gathering: minus the number of distinct cells they occupy, plus 1 when all share
one cell, which also ends the episode for everyone. Run it: `python examples/custom_env.py`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
import pygame  # noqa: E402
import torch  # noqa: E402

import marl  # noqa: E402
import marl.testing  # noqa: E402
from marl.core.validation import check_int, check_positive_int, validated  # noqa: E402


@dataclass
class RendezvousConfig:
    """The environment's config keys (`marl train env=example/rendezvous env.size=12`), checked by Hydra's
    types and by `validate()` before the environment is built."""

    n_agents: int = 3
    size: int = 8  # cells on the ring
    max_steps: int = 30

    def validate(self) -> None:
        check_int("n_agents", self.n_agents, low=2)
        check_int("size", self.size, low=2)
        check_positive_int("max_steps", self.max_steps)


class Rendezvous(marl.BatchedEnv):
    """Agents on a ring gather in one cell (shared reward, ends when they meet)."""

    def __init__(
        self,
        config: RendezvousConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, RendezvousConfig)
        n_agents, size, max_steps = config.n_agents, config.size, config.max_steps
        self.size = size
        # one group of identical agents: each sees its own cell and the others' offsets, one-hot on the ring
        obs_space = gym.spaces.Box(0.0, 1.0, (n_agents * size,), np.float32)
        group = marl.GroupSpec(marl.agent_names("agent", n_agents), obs_space, gym.spaces.Discrete(3))
        super().__init__(
            groups={"agent": group}, num_envs=num_envs, device=device, seed=seed, max_steps=max_steps
        )
        self.cell = torch.zeros(num_envs, n_agents, dtype=torch.long, device=self.device)

    def _reset(self, mask: torch.Tensor) -> None:
        # draw for every copy, keep the draw only where mask is True: one tensor operation, no loop
        fresh = torch.randint(self.size, self.cell.shape, generator=self.generator, device=self.device)
        self.cell = self.where(mask, fresh, self.cell)

    def _step(self, actions: dict[str, torch.Tensor]):
        self.cell = (self.cell + actions["agent"] - 1) % self.size
        occupied = (
            torch.zeros(self.num_envs, self.size, device=self.device).scatter_(1, self.cell, 1.0).sum(1)
        )
        met = occupied == 1
        reward = (-occupied + met.float())[:, None].expand_as(self.cell)
        return {"agent": (reward, met[:, None].expand_as(self.cell))}

    def _observe(self) -> dict[str, torch.Tensor]:
        # agent i sees every agent's offset from itself (itself first), one-hot over the ring
        n = self.cell.shape[1]
        order = (
            torch.arange(n, device=self.device)[None, :] + torch.arange(n, device=self.device)[:, None]
        ) % n
        offsets = (self.cell[:, order] - self.cell[:, :, None]) % self.size  # [B, n, n]
        return {"agent": torch.nn.functional.one_hot(offsets, self.size).float().flatten(2)}

    def _episode_stats(self) -> dict[str, torch.Tensor]:
        occupied = (
            torch.zeros(self.num_envs, self.size, device=self.device).scatter_(1, self.cell, 1.0).sum(1)
        )
        return {"met": (occupied == 1).float()}

    def _render(self, index: int) -> np.ndarray:
        side = 200
        surface = pygame.Surface((side, side))
        surface.fill((255, 255, 255))
        centre, radius = side / 2, side * 0.38
        angles = 2 * np.pi * np.arange(self.size) / self.size
        for a in angles:
            pygame.draw.circle(
                surface, (200, 200, 200), (centre + radius * np.cos(a), centre + radius * np.sin(a)), 10, 1
            )
        for i, c in enumerate(self.cell[index].tolist()):
            colour = pygame.Color(0)
            colour.hsva = (360 * i / self.cell.shape[1], 80, 90, 100)
            r = radius - 12 * i
            pygame.draw.circle(
                surface, colour, (centre + r * np.cos(angles[c]), centre + r * np.sin(angles[c])), 7
            )
        return pygame.surfarray.array3d(surface).transpose(1, 0, 2).copy()


def register() -> None:
    """What an entry point in the `marl.envs` group would name."""
    marl.register_env("example/rendezvous", Rendezvous, config=RendezvousConfig)


if __name__ == "__main__":
    register()
    # the conformance suite, as a plugin's own test would run it: every check of the contract
    for check, result in marl.testing.check_env("example/rendezvous", n_agents=3, size=8).items():
        print(f"{check}: {result}")
    env = marl.make("example/rendezvous", num_envs=1024, seed=0, n_agents=3, size=8)
    step = env.reset()
    print(
        "groups:", {g: s.agents for g, s in env.group_specs.items()}, "obs:", tuple(step["agent"].obs.shape)
    )
    results = marl.evaluate(
        marl.RandomPolicy(env, marl.RandomConfig(), "cpu"), env, episodes=1024, deterministic=False, seed=0
    )
    print(
        f"random policy: return {np.mean(results['episode_return']):.2f}, met {np.mean(results['met']):.2%}"
    )
    print("frame:", env.render(0).shape)

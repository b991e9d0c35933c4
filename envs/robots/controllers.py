"""Scripted robot controllers usable with `marl eval` (nothing to train):

- `robots_nominal`: the goal-seeking controller alone (environments with `control=command`, filter off or on);
- `robots_cbf_conservative` / `robots_cbf_aggressive`: the environment's CBF filter with a fixed class-K gain,
  small (1 per second: robots slow down early) or large (`1 / dt` = 10 per second with the default dt, the
  largest gain for which the single-integrator barrier is still exact in discrete time), for environments
  with `control=gain` (the action is the gain);
- `robots_cbf_priority`: a hand-made online gain, the aggressive gain for robots whose goal lies in one half-plane
  of directions and the conservative one for the rest, so that one half yields to the other: the simplest
  evidence that gains chosen per robot and state can pass where every fixed gain deadlocks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

import marl
from envs.robots.env import GROUP, RobotsEnv


class _Controller(marl.ScriptedPolicy):
    """A fixed policy on a robots environment: nothing to train, an empty state dict."""

    needs_gain_control = False

    def __init__(self, env: marl.BatchedEnv, config: Any, device: torch.device) -> None:
        if not isinstance(env, RobotsEnv):
            raise TypeError(f"{type(self).__name__} drives robots environments; got {type(env).__name__}")
        if env.gain_control != self.needs_gain_control:
            wanted = "gain" if self.needs_gain_control else "command"
            raise ValueError(f"{type(self).__name__} needs the environment key control={wanted!r}")
        super().__init__(env, config, device)


@dataclass
class NominalConfig:
    pass


class NominalController(_Controller):
    """Drive straight at the goal (the environment's `nominal_command`), ignoring everyone else."""

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: RobotsEnv = self.env
        return {GROUP: (env.nominal_command() / env.command_limit).clamp(-1.0, 1.0)}, policy_state


@dataclass
class ConservativeConfig:
    gain: float = 1.0  # class-K gain, per second


@dataclass
class AggressiveConfig:
    gain: float = 10.0


class FixedGainCBF(_Controller):
    """The nominal controller through the environment's CBF filter with one fixed gain for every robot."""

    needs_gain_control = True

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: RobotsEnv = self.env
        action = env.action_of_gain(float(self.config.gain))
        return {GROUP: torch.full((env.num_envs, env.n_agents, 1), action, device=env.device)}, policy_state


@dataclass
class PriorityConfig:
    high: float = 10.0  # gain of the robots whose goal direction points into the upper half-plane
    low: float = 0.1  # gain of the others, which yield (gain_min)


class PriorityCBF(_Controller):
    """Per robot, the `high` gain if its goal direction's y component is positive, else the `low` gain."""

    needs_gain_control = True

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: RobotsEnv = self.env
        high, low = env.action_of_gain(float(self.config.high)), env.action_of_gain(float(self.config.low))
        first = (env.goal - env.pos)[..., 1:] > 0
        return {GROUP: torch.where(first, high, low)}, policy_state


def register() -> None:
    """Register the scripted controllers (idempotent)."""
    marl.register_algo("robots_nominal", NominalController, NominalConfig)
    marl.register_algo("robots_cbf_conservative", FixedGainCBF, ConservativeConfig)
    marl.register_algo("robots_cbf_aggressive", FixedGainCBF, AggressiveConfig)
    marl.register_algo("robots_cbf_priority", PriorityCBF, PriorityConfig)

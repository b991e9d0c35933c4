"""MANSA (Mguni et al., ICML 2023): a switching agent that decides, state by state, whether the team acts and
learns through a centralised learner (CL) or through independent learners (IL), paying a cost per CL call.

Three on-policy learners of the shared core (`marl.learning.onpolicy`) run in lockstep on one environment:

- IL (`il_algo`, default IPPO) and CL (`cl_algo`, default MAPPO) both propose every group's actions at every
  step; the switch's choice `g` (per copy and step) picks which proposal the environment receives.
- Each of them learns only from the steps it acted on: the other learner's steps are masked out of its
  losses, advantage statistics and value normaliser exactly like dead agents' samples. Its advantages and
  value targets are still GAE over the whole trajectory, bootstrapped with its own critic where the other
  one acted, so both estimate the return of the system as it actually runs and each policy gradient is the
  gradient of that return with respect to its own parameters.
- The switch is IPPO with one agent per copy whose observation is the global state (and, with a budget, the
  fraction of the episode's budget left) and whose action is `g` (1: CL). Its reward is the team reward of
  the step minus `cost` per CL call; with a budget, `g = 1` is masked out once the episode's remaining CL calls
  cannot pay for the step, so the budget is never exceeded.

The paper paired value-based learners (IQL and QMIX); pairing IPPO with MAPPO is our adaptation, and any
registered learner of the on-policy core plugs in through `il_algo` / `cl_algo`. Every choice the paper leaves
open is listed in docs/algorithms.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

import marl
from algos.ppo import IPPO
from marl.core import registry
from marl.core.env import BatchedEnv, GroupSpec, GroupStep, Step
from marl.learning.algorithm import Algorithm, Iteration, coerce_config
from marl.learning.collector import Rollout
from marl.learning.onpolicy import OnPolicyAlgorithm

CL_CALLS = ("agent_step", "step")
TEAM_REWARDS = ("sum", "mean")


@dataclass
class MANSAConfig:
    """MANSA's keys: the two learners and their hyperparameters, the switch's, and the price of CL."""

    il_algo: str = "ippo"  # registered on-policy algorithm of the independent learners (g = 0)
    cl_algo: str = "mappo"  # registered on-policy algorithm of the centralised learner (g = 1)
    il: dict[str, Any] = field(default_factory=dict)  # hyperparameters of the IL learner (its config's keys)
    cl: dict[str, Any] = field(default_factory=dict)  # hyperparameters of the CL learner (its config's keys)
    switch: dict[str, Any] = field(default_factory=dict)  # IPPO hyperparameters of the switch
    rollout_length: int = 32  # environment steps per copy per iteration, shared by the three learners
    cost: float = 0.0  # subtracted from the switch's reward per CL call
    budget: int | None = None  # CL calls allowed per episode and copy; null: unlimited
    cl_call: str = "agent_step"  # one CL call: each live agent of a step with g = 1 (agent_step), or the step
    team_reward: str = "sum"  # the switch's reward: sum or mean of every agent's reward at the step

    def validate(self) -> None:
        """Raise a clear error for a value outside its meaningful range."""
        if isinstance(self.rollout_length, bool) or not isinstance(self.rollout_length, int):
            raise ValueError(f"rollout_length must be a positive integer, got {self.rollout_length!r}")
        if self.rollout_length < 1:
            raise ValueError(f"rollout_length must be a positive integer, got {self.rollout_length!r}")
        if not self.cost >= 0:
            raise ValueError(f"cost must be >= 0, got {self.cost!r}")
        if self.budget is not None and (
            isinstance(self.budget, bool) or not isinstance(self.budget, int) or self.budget < 1
        ):
            raise ValueError(
                f"budget must be a positive integer (CL calls per episode) or null, got {self.budget!r}"
            )
        if self.cl_call not in CL_CALLS:
            raise ValueError(f"cl_call must be one of {list(CL_CALLS)}, got {self.cl_call!r}")
        if self.team_reward not in TEAM_REWARDS:
            raise ValueError(f"team_reward must be one of {list(TEAM_REWARDS)}, got {self.team_reward!r}")
        for name in ("il", "cl", "switch"):
            if "rollout_length" in getattr(self, name):
                raise ValueError(
                    f"{name}.rollout_length is not a key of its own: the three learners step together, "
                    "set the top-level rollout_length instead"
                )


class SwitchProblem:
    """The switch's decision problem, described the way the on-policy core reads an environment: one agent
    (`switch`) per copy, observing the global state (and the fraction of the episode's CL budget left) and
    choosing `g` in {0, 1}. MANSA steps the real environment; this only describes the spaces."""

    def __init__(self, env: BatchedEnv, budgeted: bool) -> None:
        size = int(np.prod(env.state_space.shape)) + int(budgeted)
        observation = gym.spaces.Box(-np.inf, np.inf, (size,), np.float32)
        self.group_specs = {"switch": GroupSpec(("switch",), observation, gym.spaces.Discrete(2))}
        self.group_names = ["switch"]
        self.state_space = env.state_space
        self.num_envs, self.device = env.num_envs, env.device


class MANSA(Algorithm):
    """A PPO-trained switch between an IL and a CL on-policy learner (see the module docstring)."""

    config_class = MANSAConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device, model: Any = None) -> None:
        config = coerce_config(config, MANSAConfig)
        config.validate()
        super().__init__(env, config, torch.device(device))
        self.il = self._learner("il_algo", config.il, model)
        self.cl = self._learner("cl_algo", config.cl, model)
        switch_config = dict(config.switch, rollout_length=config.rollout_length)
        self.switch = IPPO(SwitchProblem(env, config.budget is not None), switch_config, self.device)
        self.learners = {"il": self.il, "cl": self.cl, "switch": self.switch}
        B, T = env.num_envs, config.rollout_length
        self.remaining = torch.zeros(B, device=self.device)  # CL calls left in each copy's episode
        self.episode_calls = torch.zeros(B, device=self.device)  # CL calls made so far in each copy's episode
        self.use_cl = torch.zeros(T, B, dtype=torch.bool, device=self.device)  # g of the last rollout
        self.calls = torch.zeros(T, B, device=self.device)  # CL calls at each step of the last rollout
        self.possible = torch.zeros(T, B, device=self.device)  # the calls g = 1 would have made
        self.max_episode_calls = torch.zeros((), device=self.device)  # most calls of an episode, last rollout
        self.iterations = 0

    def _learner(self, key: str, overrides: dict[str, Any], model: Any) -> OnPolicyAlgorithm:
        name = getattr(self.config, key)
        entry = registry.algo_entry(name)
        if not (isinstance(entry.factory, type) and issubclass(entry.factory, OnPolicyAlgorithm)):
            raise ValueError(
                f"{key}={name!r} is not a learner of the on-policy core (OnPolicyAlgorithm); MANSA steps "
                "its learners' rollout collectors together, so pick one such as ippo, mappo or dpo"
            )
        config = dict(overrides, rollout_length=self.config.rollout_length)
        return entry.factory(self.env, config, self.device, model)

    # ---------------------------------------------------------------- the switch's view of a step
    def cl_calls(self, step: Step) -> Tensor:
        """`[B]`: how many CL calls `g = 1` makes at `step` (its live agents, or 1 per step)."""
        if self.config.cl_call == "step":
            return torch.ones_like(step.done, dtype=torch.float)
        return sum(group.alive.sum(1) for group in step.groups.values()).float()

    def team_reward(self, step: Step) -> Tensor:
        """`[B]`: the sum (or mean) of every agent's reward at `step`."""
        rewards = torch.cat([group.reward for group in step.groups.values()], dim=1)
        return rewards.sum(1) if self.config.team_reward == "sum" else rewards.mean(1)

    def _switch_obs(self, state: Tensor, remaining: Tensor) -> Tensor:
        obs = state.flatten(1)
        if self.config.budget is not None:
            obs = torch.cat([obs, (remaining / self.config.budget)[:, None]], dim=1)
        return obs[:, None]

    def switch_step(
        self,
        step: Step,
        remaining: Tensor,
        final_remaining: Tensor | None = None,
        reward: Tensor | None = None,
    ) -> Step:
        """The switch's `Step` at `step`, `remaining` CL calls left: `g = 1` is legal where they pay for the step.
        After a transition, `final_remaining` is what was left at its end and `reward` the switch's reward."""
        B = step.done.shape[0]  # acting may run other copies than training (an evaluation environment)
        ones = torch.ones(B, 1, dtype=torch.bool, device=self.device)
        legal_cl = remaining >= self.cl_calls(step) if self.config.budget is not None else ones[:, 0]
        group = GroupStep(
            obs=self._switch_obs(step.state, remaining),
            reward=torch.zeros(B, 1, device=self.device) if reward is None else reward[:, None],
            terminated=(step.done & ~step.truncated)[:, None],
            alive=ones,
            joined=~ones,
            action_mask=torch.stack([ones[:, 0], legal_cl], dim=1)[:, None],
        )
        final = remaining if final_remaining is None else final_remaining
        return Step(
            groups={"switch": group},
            state=step.state,
            truncated=step.truncated,
            done=step.done,
            final_obs={"switch": self._switch_obs(step.final_state, final)},
            final_state=step.final_state,
        )

    # ---------------------------------------------------------------- collection
    @torch.no_grad()
    def collect(self) -> dict[str, Rollout]:
        """One rollout of every copy: the switch picks, per copy and step, whose actions the environment gets;
        every learner's collector records the step. Returns each learner's rollout."""
        cfg = self.config
        full = float(cfg.budget) if cfg.budget is not None else 0.0
        if not self.runner.started:
            for learner in self.learners.values():
                learner.collector.restart()
            self.remaining.fill_(full)
            self.episode_calls.zero_()
        step = self.runner.step
        self.max_episode_calls = torch.zeros((), device=self.device)
        for t in range(cfg.rollout_length):
            g = self.switch.collector.act(t, self.switch_step(step, self.remaining), self.switch.generator)
            use_cl = g["switch"][:, 0].bool()
            il_actions = self.il.collector.act(t, step, self.il.generator)
            cl_actions = self.cl.collector.act(t, step, self.cl.generator)
            actions = {
                group: self.env.where(use_cl, cl_actions[group], il_actions[group]) for group in il_actions
            }
            possible = self.cl_calls(step)
            calls = possible * use_cl
            self.use_cl[t], self.calls[t], self.possible[t] = use_cl, calls, possible
            left = self.remaining - calls
            self.episode_calls += calls
            self.max_episode_calls = torch.maximum(self.max_episode_calls, self.episode_calls.max())
            step = self.runner.advance(actions)
            self.il.collector.record(t, step)
            self.cl.collector.record(t, step)
            self.remaining = torch.where(step.done, full, left)
            reward = self.team_reward(step) - cfg.cost * calls
            self.switch.collector.record(t, self.switch_step(step, self.remaining, left, reward))
            self.episode_calls = torch.where(step.done, 0.0, self.episode_calls)
        return {
            "il": self.il.collector.finish(step),
            "cl": self.cl.collector.finish(step),
            "switch": self.switch.collector.finish(self.switch_step(step, self.remaining)),
        }

    # ---------------------------------------------------------------- the update
    def train_iteration(self) -> Iteration:
        rollouts = self.collect()
        il_rollout = own_steps(rollouts["il"], ~self.use_cl)
        cl_rollout = own_steps(rollouts["cl"], self.use_cl)
        metrics = {}
        for name, learner, rollout, acted in (
            ("il", self.il, il_rollout, ~self.use_cl),
            ("cl", self.cl, cl_rollout, self.use_cl),
            ("switch", self.switch, rollouts["switch"], torch.ones_like(self.use_cl)),
        ):
            # a learner that acted nowhere skips its update (Adam would still move it on zero gradients)
            if bool(acted.any()):
                result = learner.learn(learner.batch_from(rollout)).metrics
                # keys under the learner's name (the switch's group is already called `switch`)
                metrics.update(
                    {k if k.startswith(f"{name}/") else f"{name}/{k}": v for k, v in result.items()}
                )
            else:
                learner.env_steps += self.config.rollout_length * self.env.num_envs
        metrics.update(self.call_metrics())
        self.iterations += 1
        return Iteration(env_steps=self.config.rollout_length * self.env.num_envs, metrics=metrics)

    def call_metrics(self) -> dict[str, float]:
        """The last rollout's CL use: the fraction of possible CL calls made, of steps with g = 1, and the
        most CL calls any episode had made by any step (and that as a fraction of the budget)."""
        values = {
            "mansa/cl_fraction": self.calls.sum() / self.possible.sum(),
            "mansa/cl_step_fraction": self.use_cl.float().mean(),
            "mansa/max_episode_cl_calls": self.max_episode_calls,
        }
        if self.config.budget is not None:
            values["mansa/budget_used"] = self.max_episode_calls / self.config.budget
        return dict(zip(values, torch.stack(list(values.values())).tolist(), strict=True))

    # ---------------------------------------------------------------- execution
    def initial_policy_state(self, num_envs: int) -> dict[str, Any]:
        budget = float(self.config.budget or 0)
        return {
            "il": self.il.initial_policy_state(num_envs),
            "cl": self.cl.initial_policy_state(num_envs),
            "remaining": torch.full((num_envs,), budget, device=self.device),
        }

    @torch.no_grad()
    def act(
        self,
        step: Step,
        policy_state: dict[str, Any] | None,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Any]]:
        """The switch reads the global state (it is centralised at execution too); the IL or CL actors it picks
        act on their own observations. The budget left restarts where a copy's episode ended."""
        state = self.initial_policy_state(step.done.shape[0]) if policy_state is None else policy_state
        remaining = torch.where(step.done, float(self.config.budget or 0), state["remaining"])
        g, _ = self.switch.act(self.switch_step(step, remaining), None, deterministic, generator)
        use_cl = g["switch"][:, 0].bool()
        il_actions, il_state = self.il.act(step, state["il"], deterministic, generator)
        cl_actions, cl_state = self.cl.act(step, state["cl"], deterministic, generator)
        actions = {
            group: self.env.where(use_cl, cl_actions[group], il_actions[group]) for group in il_actions
        }
        remaining = remaining - self.cl_calls(step) * use_cl
        return actions, {"il": il_state, "cl": cl_state, "remaining": remaining}

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        state = {name: learner.state_dict() for name, learner in self.learners.items()}
        state["iterations"] = self.iterations
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for name, learner in self.learners.items():
            learner.load_state_dict(state[name])
        self.iterations = int(state["iterations"])
        self.runner.restart()


def pick(use_cl: Tensor, cl_actions: dict[str, Tensor], il_actions: dict[str, Tensor]) -> dict[str, Tensor]:
    """Every group's actions: the CL learner's in the copies where `use_cl [B]`, the IL learners' elsewhere."""
    return {
        group: torch.where(use_cl.reshape(-1, *[1] * (a.dim() - 1)), cl_actions[group], a)
        for group, a in il_actions.items()
    }


def own_steps(rollout: Rollout, acted: Tensor) -> Rollout:
    """`rollout` with the steps a learner did not act on (`acted [T, B]` False) masked out like dead agents'
    samples; the stored `alive` is changed in place (the collector rewrites it at the next rollout)."""
    for store in rollout.groups.values():
        store["alive"] &= acted[:, :, None]
    return rollout


def register() -> None:
    """Register `mansa` with the core (idempotent)."""
    marl.register_algo("mansa", MANSA, MANSAConfig)

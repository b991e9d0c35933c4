"""Mean-field MARL (Yang et al. 2018, "Mean Field Multi-Agent Reinforcement Learning"): MF-Q and MF-AC.

Each agent's value conditions on its own observation, its own action and the mean action of the others,
`Q(o_j, a_j, abar_j)`, where `abar_j` is the mean one-hot action of agent j's neighbours (`mean_action:
neighbours`, the structure the environment publishes in `GroupStep.neighbours`) or of its whole group
(`mean_action: group`, as in the authors' released code). A group's agents share one network, so the cost
of a step grows with the number of agents only through batched tensor operations.

- MF-Q: `Q(o, abar)` gives the values of every own action. Agents act on the previous step's mean action
  (Boltzmann, `pi(a | o, abar) ~ exp(Q / temperature)`, or epsilon-greedy). The target is the mean-field value
  `r + gamma * v(o')`, `v(o') = sum_a pi(a | o', abar) Q'(o', a, abar)` with the Boltzmann `pi` at `temperature`
  and the target network `Q'`, where `abar` is the mean of the actions taken at this step (the one the
  agents act on at `o'`). Transitions go through the shared replay buffer.
- MF-AC: an actor `pi(a | o)` and a critic `Q(o, abar)` over own actions; on-policy, one update per rollout:
  the critic regresses on the same mean-field target (with the actor's `pi` and no target network), the actor
  follows `grad log pi(a | o) (Q(o, a, abar) - sum_a' pi(a' | o) Q(o, a', abar))`, with an entropy bonus.

Choices the paper leaves open, made here: the own action is the Q network's output index, not an input (the
authors' code does the same); a mean action covers the live agents only and is zeros at the start of an
episode; an agent with no live neighbour gets zeros; dead agents are left out of every loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import marl
from marl.core.env import BatchedEnv, Neighbours, Step, flatten_obs, obs_size
from marl.core.validation import check_choice, check_int, check_number
from marl.learning.algorithm import Algorithm, Iteration, coerce_config
from marl.learning.collector import masked_mean
from marl.learning.distributions import Categorical
from marl.learning.networks import MLP
from marl.learning.offpolicy import polyak_update, target_network
from marl.learning.onpolicy import MetricMeans
from marl.learning.replay import ReplayBuffer, transition

MEAN_ACTIONS = ("neighbours", "group")
EXPLORATIONS = ("boltzmann", "epsilon_greedy")


# ---------------------------------------------------------------------------------------------- the mean action
def mean_action(onehot: Tensor, alive: Tensor, neighbours: Neighbours | None) -> Tensor:
    """`[B, n, A]`: each agent's mean of the live agents' one-hot actions `onehot [B, n, A]`, over its
    `neighbours` (their slots), or over the whole group when `neighbours` is None (the agent included)."""
    weights = alive.to(onehot.dtype)
    weighted = onehot * weights[..., None]
    if neighbours is None:
        total = weighted.sum(1, keepdim=True) / weights.sum(1, keepdim=True)[..., None].clamp(min=1)
        return total.expand_as(onehot)
    counts = neighbours.gather(weights[..., None]).sum(2)  # [B, n, 1]
    return neighbours.gather(weighted).sum(2) / counts.clamp(min=1)


def boltzmann(q: Tensor, temperature: float, mask: Tensor | None) -> Categorical:
    """The Boltzmann policy `pi(a) ~ exp(Q(a) / temperature)` over the legal actions."""
    return Categorical(q / temperature, mask)


def mean_field_value(q: Tensor, temperature: float, mask: Tensor | None) -> Tensor:
    """`v = sum_a pi(a) Q(a)` under the Boltzmann policy at `temperature`: `[..., A] -> [...]`."""
    probs = boltzmann(q, temperature, mask).log_probs.exp()
    return (probs * torch.where(probs > 0, q, 0.0)).sum(-1)


# ---------------------------------------------------------------------------------------------- configs
@dataclass
class MeanFieldConfig:
    """Keys MF-Q and MF-AC share."""

    mean_action: str = "neighbours"  # neighbours (the env's published structure) or group (authors' code)
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # MLP widths
    gamma: float = 0.95  # discount
    lr: float = 1e-3  # Adam learning rate
    max_grad_norm: float = 10.0  # gradient norm clip, per network

    def validate(self) -> None:
        check_choice("mean_action", self.mean_action, MEAN_ACTIONS)
        if not self.hidden_sizes or any(
            isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden_sizes
        ):
            raise ValueError(
                f"hidden_sizes must be a non-empty list of positive ints, got {self.hidden_sizes}"
            )
        check_number("gamma", self.gamma, low=0.0, high=1.0)
        for name in ("lr", "max_grad_norm"):
            check_number(name, getattr(self, name), low=0.0, low_open=True)


@dataclass
class MFQConfig(MeanFieldConfig):
    """MF-Q: acting, replay and target-network keys."""

    temperature: float = 0.1  # Boltzmann temperature of the mean-field value (and of Boltzmann acting)
    exploration: str = "boltzmann"  # boltzmann (at `temperature`) or epsilon_greedy
    epsilon_start: float = 1.0  # epsilon-greedy: exploration rate at the start ...
    epsilon_end: float = 0.05  # ... and after `epsilon_anneal_steps` env steps (linear in between)
    epsilon_anneal_steps: int = 10_000  # env steps (summed over copies)
    rollout_steps: int = 4  # environment steps of every copy per train_iteration
    updates_per_iteration: int = 1  # gradient steps per train_iteration, once learning started
    batch_size: int = 16  # replay rows per gradient step; a row holds every agent of one copy
    buffer_size: int = 10_000  # replay capacity, in rows (one per copy per step)
    learning_starts: int = 64  # rows in the buffer before the first update
    tau: float = 0.01  # Polyak rate of the target network
    checkpoint_replay: bool = False  # put the buffer's contents (not only its position) in checkpoints

    def validate(self) -> None:
        super().validate()
        check_number("temperature", self.temperature, low=0.0, low_open=True)
        check_choice("exploration", self.exploration, EXPLORATIONS)
        for name in ("epsilon_start", "epsilon_end"):
            check_number(name, getattr(self, name), low=0.0, high=1.0)
        check_int("epsilon_anneal_steps", self.epsilon_anneal_steps, low=0)
        for name in (
            "rollout_steps",
            "updates_per_iteration",
            "batch_size",
            "buffer_size",
            "learning_starts",
        ):
            check_int(name, getattr(self, name), low=1)
        check_number("tau", self.tau, low=0.0, high=1.0, low_open=True)


@dataclass
class MFACConfig(MeanFieldConfig):
    """MF-AC: on-policy rollout and loss weights (the authors' value and entropy weights)."""

    rollout_length: int = 16  # environment steps of every copy per train_iteration (one update)
    value_coef: float = 0.1  # weight of the critic loss
    entropy_coef: float = 0.08  # weight of the entropy bonus

    def validate(self) -> None:
        super().validate()
        check_int("rollout_length", self.rollout_length, low=1)
        for name in ("value_coef", "entropy_coef"):
            check_number(name, getattr(self, name), low=0.0)


# ---------------------------------------------------------------------------------------------- shared parts
class MeanFieldBase(Algorithm):
    """Groups, networks on (observation, mean action), acting on the previous mean action, checkpoints."""

    config_class: type[MeanFieldConfig] = MeanFieldConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device) -> None:
        config = coerce_config(config, self.config_class)
        config.validate()
        super().__init__(env, config, torch.device(device))
        if env.device != self.device:
            raise ValueError(f"the environment is on {env.device} but the algorithm trains on {self.device}")
        self.specs = env.group_specs
        for g, spec in self.specs.items():
            if not isinstance(spec.action_space, gym.spaces.Discrete):
                raise TypeError(
                    f"group {g!r}: mean-field learners need Discrete actions, got {spec.action_space}"
                )
            if config.mean_action == "neighbours" and spec.neighbours == 0:
                raise ValueError(
                    f"mean_action='neighbours' but group {g!r} publishes no neighbours "
                    "(GroupSpec.neighbours is 0); use mean_action='group'"
                )
        self.n_actions = {g: int(s.action_space.n) for g, s in self.specs.items()}
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(torch.randint(2**62, (1,)).item()))
        self.env_steps = 0
        self._mean: dict[str, Tensor] | None = None  # the previous step's mean actions while training

    def q_network(self, g: str) -> MLP:
        """`(observation, mean action) -> Q of every own action`."""
        width = obs_size(self.specs[g].observation_space) + self.n_actions[g]
        return MLP(width, self.config.hidden_sizes, self.n_actions[g])

    @staticmethod
    def inputs(obs: Any, mean: Tensor) -> Tensor:
        """The network input `[..., n, F + A]`: the flat observation and the mean action."""
        return torch.cat([flatten_obs(obs), mean], dim=-1)

    def initial_policy_state(self, num_envs: int) -> dict[str, Tensor]:
        """The previous mean action of every agent: zeros before the first step of an episode."""
        return {
            g: torch.zeros(num_envs, s.n, self.n_actions[g], device=self.device)
            for g, s in self.specs.items()
        }

    def mean_of(self, g: str, step: Step, actions: Tensor) -> Tensor:
        """The mean action of group g's env `actions`, over what `mean_action` names."""
        onehot = F.one_hot(actions - int(self.specs[g].action_space.start), self.n_actions[g]).float()
        neighbours = step[g].neighbours if self.config.mean_action == "neighbours" else None
        return mean_action(onehot, step[g].alive, neighbours)

    def fresh(self, step: Step, state: dict[str, Tensor] | None) -> dict[str, Tensor]:
        """The previous mean actions, zeroed where an episode starts or an agent joins."""
        if state is None:
            return self.initial_policy_state(step.done.shape[0])
        return {
            g: torch.where((step.done[:, None] | step[g].joined)[..., None], 0.0, m) for g, m in state.items()
        }

    @torch.no_grad()
    def act(
        self,
        step: Step,
        policy_state: dict[str, Tensor] | None,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        """Actions on the previous step's mean action; the next state is this step's mean action."""
        previous = self.fresh(step, policy_state)
        generator = self.generator if generator is None else generator
        actions = {g: self.choose(g, step, previous[g], deterministic, generator) for g in self.specs}
        return actions, {g: self.mean_of(g, step, a) for g, a in actions.items()}

    def choose(
        self, g: str, step: Step, mean: Tensor, deterministic: bool, generator: torch.Generator
    ) -> Tensor:
        raise NotImplementedError

    def _to_env(self, g: str, index: Tensor) -> Tensor:
        return index + int(self.specs[g].action_space.start)

    def _action_index(self, g: str, actions: Tensor) -> Tensor:
        return actions - int(self.specs[g].action_space.start)


# ---------------------------------------------------------------------------------------------- MF-Q
class MFQ(MeanFieldBase):
    """Mean-field Q-learning with a shared Q network per group, replay and a Polyak target network."""

    config_class = MFQConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device) -> None:
        super().__init__(env, config, device)
        self.q = nn.ModuleDict({g: self.q_network(g) for g in self.specs}).to(self.device)
        self.target_q = target_network(self.q)
        self.optimizer = torch.optim.Adam(self.q.parameters(), lr=self.config.lr)
        self.buffer = ReplayBuffer(self.config.buffer_size, self.device)
        self.updates = 0

    def epsilon(self) -> float:
        cfg = self.config
        fraction = min(1.0, self.env_steps / cfg.epsilon_anneal_steps) if cfg.epsilon_anneal_steps else 1.0
        return cfg.epsilon_start + fraction * (cfg.epsilon_end - cfg.epsilon_start)

    def choose(
        self, g: str, step: Step, mean: Tensor, deterministic: bool, generator: torch.Generator
    ) -> Tensor:
        q = self.q[g](self.inputs(step[g].obs, mean))
        mask = step[g].action_mask
        if deterministic:
            index = Categorical(q, mask).mode()
        elif self.config.exploration == "boltzmann":
            index = boltzmann(q, self.config.temperature, mask).sample(generator)
        else:
            greedy = Categorical(q, mask).mode()
            uniform = Categorical(torch.zeros_like(q), mask).sample(generator)
            explore = torch.rand(greedy.shape, generator=generator, device=q.device) < self.epsilon()
            index = torch.where(explore, uniform, greedy)
        return self._to_env(g, index)

    # ---------------------------------------------------------------- gathering experience
    def train_iteration(self) -> Iteration:
        cfg = self.config
        if not self.runner.started:
            self._mean = None
        for _ in range(cfg.rollout_steps):
            step = self.runner.step
            actions, self._mean = self.act(step, self._mean)
            next_step = self.runner.advance(actions)
            rows = transition(step, {g: self._action_index(g, a) for g, a in actions.items()}, next_step)
            rows.update({f"mean_action/{g}": m for g, m in self._mean.items()})
            self.buffer.add(rows)
            self.env_steps += self.env.num_envs
        metrics: dict[str, list[float]] = {}
        if len(self.buffer) >= cfg.learning_starts:
            for _ in range(cfg.updates_per_iteration):
                for name, value in self.update(self.buffer.sample(cfg.batch_size, self.generator)).items():
                    metrics.setdefault(name, []).append(value)
        summary = {name: float(np.mean(values)) for name, values in metrics.items()}
        summary.update(buffer_size=float(len(self.buffer)), updates=float(self.updates))
        if cfg.exploration == "epsilon_greedy":
            summary["epsilon"] = self.epsilon()
        return Iteration(env_steps=cfg.rollout_steps * self.env.num_envs, metrics=summary)

    # ---------------------------------------------------------------- the update
    def target(self, g: str, batch: dict[str, Tensor]) -> Tensor:
        """`r + gamma (1 - terminated) sum_a pi(a | o', abar) Q'(o', a, abar)`, Boltzmann `pi` (no gradient)."""
        cfg = self.config
        mean = batch[f"mean_action/{g}"]
        with torch.no_grad():
            next_q = self.target_q[g](self.inputs(batch[f"next_obs/{g}"], mean))
            value = mean_field_value(next_q, cfg.temperature, batch.get(f"next_action_mask/{g}"))
            return batch[f"reward/{g}"] + cfg.gamma * (1 - batch[f"terminated/{g}"].float()) * value

    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One gradient step of every group's Q network on the mean-field target, then the target network."""
        losses, q_means = [], []
        for g in self.specs:
            target = self.target(g, batch)
            q = self.q[g](self.inputs(batch[f"obs/{g}"], batch[f"mean_action/{g}"]))
            q_taken = q.gather(-1, batch[f"action/{g}"].unsqueeze(-1)).squeeze(-1)
            alive = batch[f"alive/{g}"]
            losses.append(masked_mean((q_taken - target) ** 2, alive))
            q_means.append(masked_mean(q_taken.detach(), alive))
        loss = torch.stack(losses).sum()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for network in self.q.values():
            nn.utils.clip_grad_norm_(network.parameters(), self.config.max_grad_norm)
        self.optimizer.step()
        polyak_update(self.target_q, self.q, self.config.tau)
        self.updates += 1
        values = torch.stack([loss.detach(), torch.stack(q_means).mean()]).tolist()
        return {"q_loss": values[0], "q_mean": values[1]}

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "q": self.q.state_dict(),
            "target_q": self.target_q.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "buffer": self.buffer.state_dict(include_contents=self.config.checkpoint_replay),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q.load_state_dict(state["q"])
        self.target_q.load_state_dict(state["target_q"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.updates, self.env_steps = int(state["updates"]), int(state["env_steps"])
        self._mean = None
        self.runner.restart()  # the next train_iteration starts fresh episodes


# ---------------------------------------------------------------------------------------------- MF-AC
class MFAC(MeanFieldBase):
    """Mean-field actor-critic: a shared actor `pi(a | o)` and critic `Q(o, abar)` per group, on-policy."""

    config_class = MFACConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device) -> None:
        super().__init__(env, config, device)
        hidden = self.config.hidden_sizes
        self.actors = nn.ModuleDict(
            {
                g: MLP(obs_size(s.observation_space), hidden, self.n_actions[g], output_gain=0.01)
                for g, s in self.specs.items()
            }
        ).to(self.device)
        self.critics = nn.ModuleDict({g: self.q_network(g) for g in self.specs}).to(self.device)
        self.optimizer = torch.optim.Adam(
            [*self.actors.parameters(), *self.critics.parameters()], lr=self.config.lr
        )
        self.updates = 0

    def policy(self, g: str, obs: Any, mask: Tensor | None) -> Categorical:
        return Categorical(
            self.actors[g](flatten_obs(obs, 2 if isinstance(obs, dict) else obs.dim() - 1)), mask
        )

    def choose(
        self, g: str, step: Step, mean: Tensor, deterministic: bool, generator: torch.Generator
    ) -> Tensor:
        dist = self.policy(g, step[g].obs, step[g].action_mask)
        return self._to_env(g, dist.mode() if deterministic else dist.sample(generator))

    # ---------------------------------------------------------------- gathering experience
    def train_iteration(self) -> Iteration:
        cfg = self.config
        if not self.runner.started:
            self._mean = None
        rows = []
        for _ in range(cfg.rollout_length):
            step = self.runner.step
            actions, self._mean = self.act(step, self._mean)
            next_step = self.runner.advance(actions)
            row = transition(step, {g: self._action_index(g, a) for g, a in actions.items()}, next_step)
            rows.append(row | {f"mean_action/{g}": m for g, m in self._mean.items()})
            self.env_steps += self.env.num_envs
        rollout = {name: torch.cat([row[name] for row in rows]) for name in rows[0]}  # [T * B, ...]
        return Iteration(env_steps=cfg.rollout_length * self.env.num_envs, metrics=self.update(rollout))

    # ---------------------------------------------------------------- the update
    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One gradient step of every group's actor and critic on a whole rollout."""
        cfg = self.config
        metrics = MetricMeans()
        total = torch.zeros((), device=self.device)
        for g in self.specs:
            mean, alive, action = batch[f"mean_action/{g}"], batch[f"alive/{g}"], batch[f"action/{g}"]
            # critic: r + gamma (1 - terminated) sum_a pi(a | o') Q(o', a, abar), no gradient through the target
            with torch.no_grad():
                next_pi = self.policy(g, batch[f"next_obs/{g}"], batch.get(f"next_action_mask/{g}"))
                next_q = self.critics[g](self.inputs(batch[f"next_obs/{g}"], mean))
                next_value = (next_pi.log_probs.exp() * next_q).sum(-1)
                target = (
                    batch[f"reward/{g}"] + cfg.gamma * (1 - batch[f"terminated/{g}"].float()) * next_value
                )
            q = self.critics[g](self.inputs(batch[f"obs/{g}"], mean))
            q_taken = q.gather(-1, action.unsqueeze(-1)).squeeze(-1)
            critic_loss = masked_mean((q_taken - target) ** 2, alive)
            # actor: log pi(a | o) times the advantage Q(o, a, abar) - sum_a' pi(a' | o) Q(o, a', abar)
            pi = self.policy(g, batch[f"obs/{g}"], batch.get(f"action_mask/{g}"))
            advantage = (q_taken - (pi.log_probs.exp() * q).sum(-1)).detach()
            policy_loss = -masked_mean(pi.log_prob(action) * advantage, alive)
            entropy = masked_mean(pi.entropy(), alive)
            total = total + policy_loss - cfg.entropy_coef * entropy + cfg.value_coef * critic_loss
            metrics.add(f"{g}/policy_loss", policy_loss)
            metrics.add(f"{g}/critic_loss", critic_loss)
            metrics.add(f"{g}/entropy", entropy)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        for network in [*self.actors.values(), *self.critics.values()]:
            nn.utils.clip_grad_norm_(network.parameters(), cfg.max_grad_norm)
        self.optimizer.step()
        self.updates += 1
        return metrics.result()

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "actors": self.actors.state_dict(),
            "critics": self.critics.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "updates": self.updates,
            "env_steps": self.env_steps,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actors.load_state_dict(state["actors"])
        self.critics.load_state_dict(state["critics"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.updates, self.env_steps = int(state["updates"]), int(state["env_steps"])
        self._mean = None
        self.runner.restart()


def register() -> None:
    """Register `mfq` and `mfac` with the core (idempotent)."""
    marl.register_algo("mfq", MFQ, MFQConfig, description="Mean-field Q-learning (Yang et al. 2018)")
    marl.register_algo("mfac", MFAC, MFACConfig, description="Mean-field actor-critic (Yang et al. 2018)")

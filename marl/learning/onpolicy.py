"""The on-policy learner every policy-gradient algorithm builds on, written once.

- `OnPolicyConfig`: the training hyperparameters common to IPPO, MAPPO and DPO (the networks are a separate
  config, `marl.learning.models.ModelConfig`).
- `OnPolicyAlgorithm`: one `ActorCritic` per group (parameters shared by the group's agents; groups with
  different spaces get their own networks and optimisers), the `RolloutCollector` that gathers
  `rollout_length` steps per copy on the training device, `make_batch` (GAE, value and advantage
  normalisation), the learning-rate schedule, decentralised acting and checkpoints. The update itself is the
  algorithm's own (`update(batch)`), and reads top to bottom in its module using `evaluate`, `value_loss`
  and `apply_gradients` from here.

Samples of dead agents (`alive` False) stay in the tensors and are masked out of every loss, every advantage
statistic and the value normaliser.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from marl.core.env import BatchedEnv, Step
from marl.learning.algorithm import Algorithm, Iteration, coerce_config
from marl.learning.collector import (
    Batch,
    Minibatch,
    Rollout,
    RolloutCollector,
    leading,
    make_batch,
    masked_mean,
    neighbour_tensors,
)
from marl.learning.distributions import Distribution
from marl.learning.models import ActorCritic, ModelConfig
from marl.learning.normalization import RunningNormalizer


@dataclass
class OnPolicyConfig:
    """Hyperparameters shared by the on-policy learners (defaults after MAPPO's published settings)."""

    rollout_length: int = 32  # environment steps gathered per copy per iteration (T)
    epochs: int = 5  # passes over each rollout
    num_minibatches: int = 1  # minibatches per pass, per group
    lr: float = 5e-4  # actor learning rate (Adam)
    critic_lr: float = 5e-4  # critic learning rate (Adam)
    adam_eps: float = 1e-5  # Adam epsilon
    lr_anneal_steps: int = 0  # env steps over which both learning rates decay linearly to 0; 0: constant
    gamma: float = 0.99  # discount
    gae_lambda: float = 0.95  # GAE lambda
    entropy_coef: float = 0.01  # weight of the entropy bonus
    value_loss_coef: float = 1.0  # weight of the critic loss
    value_clip: float = 0.2  # clip range of the value update around the old prediction; 0 disables it
    huber_delta: float = 10.0  # Huber value loss threshold (in normalised units)
    max_grad_norm: float = 10.0  # gradient norm clip, per network
    normalize_values: bool = True  # running value-target normalisation
    normalize_advantages: bool = True  # advantages normalised over the live agents of each group
    chunk_length: int = 8  # backpropagation-through-time chunk (steps) of a gru model; divides rollout_length
    init_log_std: float = -0.5  # initial log standard deviation of Gaussian policies
    compile: bool = (
        False  # torch.compile the policy's forward pass at every rollout step (sampling stays eager)
    )

    def validate(self) -> None:
        """Raise a clear error for a hyperparameter outside its meaningful range."""
        for name in ["rollout_length", "epochs", "num_minibatches", "chunk_length"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ["lr", "critic_lr", "adam_eps", "huber_delta", "max_grad_norm"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if not isinstance(self.compile, bool):
            raise ValueError(f"compile must be true or false, got {self.compile!r}")
        for name in ["gamma", "gae_lambda"]:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ["entropy_coef", "value_loss_coef", "value_clip", "lr_anneal_steps"]:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")


class MetricMeans:
    """Averages of scalar tensors over an update, read with one host sync."""

    def __init__(self) -> None:
        self._sums: dict[str, Tensor] = {}
        self._counts: dict[str, int] = {}

    def add(self, name: str, value: Tensor) -> None:
        value = value.detach().float()
        self._sums[name] = value if name not in self._sums else self._sums[name] + value
        self._counts[name] = self._counts.get(name, 0) + 1

    def result(self) -> dict[str, float]:
        if not self._sums:
            return {}
        values = torch.stack(list(self._sums.values())).tolist()
        return {k: v / self._counts[k] for k, v in zip(self._sums, values, strict=True)}


# ---------------------------------------------------------------------------------------------- algorithm
class OnPolicyAlgorithm(Algorithm):
    """Networks, rollouts, advantages, schedules, checkpoints and decentralised acting for on-policy learners.

    Subclasses set `config_class` and implement `update(batch)`; they may override `critic_input` (what the
    critic reads: the agent's own observation by default).
    """

    config_class: type[OnPolicyConfig] = OnPolicyConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device, model: Any = None) -> None:
        config = coerce_config(config, self.config_class)
        config.validate()
        model = coerce_config(ModelConfig() if model is None else model, ModelConfig)
        model.validate()
        if model.kind == "gru" and config.rollout_length % config.chunk_length:
            raise ValueError(
                f"rollout_length ({config.rollout_length}) must be a multiple of chunk_length "
                f"({config.chunk_length}) for a gru model"
            )
        if model.kind == "gnn" and not any(s.neighbours for s in env.group_specs.values()):
            raise ValueError(
                "model kind 'gnn' needs neighbours, but no group of this environment publishes any "
                "(GroupSpec.neighbours is 0 everywhere); pick another model kind"
            )
        super().__init__(env, config, torch.device(device))
        if env.device != self.device:
            raise ValueError(
                f"the environment is on {env.device} but the algorithm trains on {self.device}; "
                "build both on the same device so the loop never copies between devices"
            )
        self.model_config = model
        self.groups = env.group_names
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(torch.randint(2**62, (1,)).item()))
        self.models = nn.ModuleDict({g: self.build_model(g) for g in env.group_names}).to(self.device)
        self.actor_optimizers = {
            g: torch.optim.Adam(m.actor_parameters(), lr=config.lr, eps=config.adam_eps)
            for g, m in self.models.items()
        }
        self.critic_optimizers = {
            g: torch.optim.Adam(m.critic_parameters(), lr=config.critic_lr, eps=config.adam_eps)
            for g, m in self.models.items()
        }
        self.value_normalizers = nn.ModuleDict(
            {g: RunningNormalizer(config.normalize_values) for g in self.groups}
        ).to(self.device)
        self.collector = RolloutCollector(
            self.runner, self.models, self.value_normalizers, config.rollout_length, compile=config.compile
        )
        self.env_steps = 0
        self.iterations = 0

    @property
    def recurrent(self) -> bool:
        return self.model_config.kind == "gru"

    # ---------------------------------------------------------------- what subclasses choose
    def critic_input(self) -> str:
        """What the critics read: `obs` (the agent's own observation: a local critic), `state` or
        `state_and_obs` (see `marl.learning.models.ActorCritic`)."""
        return "obs"

    def build_model(self, group: str) -> ActorCritic:
        """One group's actor and critic (an `ActorCritic` from the model config by default); a learner with
        networks of its own returns a module with the same `actor`/`critic` interface."""
        return ActorCritic(
            self.env.group_specs[group],
            self.env.state_space,
            self.model_config,
            self.critic_input(),
            self.config.init_log_std,
        )

    def update(self, batch: Batch) -> dict[str, float]:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers for updates
    def evaluate(self, group: str, mb: Minibatch) -> tuple[Distribution, Tensor]:
        """The current policy's distributions and normalised values on a minibatch (with gradients)."""
        model: ActorCritic = self.models[group]
        dist, _ = model.actor(mb.obs, mb.actor_h0, mb.starts, mb.action_mask, mb.neighbours)
        values_n, _ = model.critic(mb.obs, mb.state, mb.critic_h0, mb.starts, mb.neighbours)
        return dist, values_n

    def value_loss(self, values_n: Tensor, mb: Minibatch) -> Tensor:
        """Huber loss to the normalised return, clipped around the rollout's prediction (the larger of the
        clipped and unclipped losses), over live agents."""
        cfg = self.config
        huber = lambda error: nn.functional.huber_loss(  # noqa: E731
            error, torch.zeros_like(error), reduction="none", delta=cfg.huber_delta
        )
        loss = huber(values_n - mb.returns_n)
        if cfg.value_clip > 0:
            clipped = mb.value_n + (values_n - mb.value_n).clamp(-cfg.value_clip, cfg.value_clip)
            loss = torch.max(loss, huber(clipped - mb.returns_n))
        return masked_mean(loss, mb.alive)

    def apply_gradients(self, group: str, actor_loss: Tensor, critic_loss: Tensor) -> tuple[Tensor, Tensor]:
        """One optimiser step of the group's actor and critic; returns their gradient norms before clipping."""
        model = self.models[group]
        actor_opt, critic_opt = self.actor_optimizers[group], self.critic_optimizers[group]
        actor_opt.zero_grad(set_to_none=True)
        critic_opt.zero_grad(set_to_none=True)
        (actor_loss + self.config.value_loss_coef * critic_loss).backward()
        max_norm = self.config.max_grad_norm
        actor_norm = nn.utils.clip_grad_norm_(model.actor_parameters(), max_norm)
        critic_norm = nn.utils.clip_grad_norm_(model.critic_parameters(), max_norm)
        actor_opt.step()
        critic_opt.step()
        return actor_norm, critic_norm

    def _anneal_learning_rates(self) -> float:
        """Set both learning rates for the coming update from the steps taken before it (full rate first)."""
        cfg = self.config
        fraction = 1.0
        if cfg.lr_anneal_steps > 0:
            fraction = max(0.0, 1.0 - self.env_steps / cfg.lr_anneal_steps)
        for g in self.groups:
            for group in self.actor_optimizers[g].param_groups:
                group["lr"] = cfg.lr * fraction
            for group in self.critic_optimizers[g].param_groups:
                group["lr"] = cfg.critic_lr * fraction
        return cfg.lr * fraction

    # ---------------------------------------------------------------- the Algorithm interface
    def prepare_batch(self) -> Batch:
        """Collect one rollout and turn it into the batch the update reads."""
        return self.batch_from(self.collector.collect(self.generator))

    def batch_from(self, rollout: Rollout) -> Batch:
        """The batch the update reads from a rollout of this learner's collector."""
        cfg = self.config
        return make_batch(
            rollout,
            self.value_normalizers,
            gamma=cfg.gamma,
            gae_lambda=cfg.gae_lambda,
            normalize_advantages=cfg.normalize_advantages,
            chunk_length=cfg.chunk_length if self.recurrent else 1,
        )

    def train_iteration(self) -> Iteration:
        return self.learn(self.prepare_batch())

    def learn(self, batch: Batch) -> Iteration:
        """One update from a batch of `rollout_length` steps of every copy (learning rates annealed from the
        steps taken before them), counted into the steps and iterations."""
        self.models.train()
        lr = self._anneal_learning_rates()
        metrics = self.update(batch)
        metrics["lr"] = lr
        env_steps = self.config.rollout_length * self.env.num_envs
        self.env_steps += env_steps
        self.iterations += 1
        return Iteration(env_steps=env_steps, metrics=metrics)

    def initial_policy_state(self, num_envs: int) -> dict[str, Tensor] | None:
        if not self.recurrent:
            return None
        return {g: self.collector.initial_state(g, num_envs, actor=True) for g in self.groups}

    @torch.no_grad()
    def act(
        self,
        step: Step,
        policy_state: dict[str, Tensor] | None,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        num_envs = step.done.shape[0]
        actions, next_state = {}, {}
        for g in self.groups:
            group_step, model = step[g], self.models[g]
            n = group_step.alive.shape[1]
            hidden = (
                policy_state[g]
                if policy_state is not None
                else torch.zeros(num_envs, n, model.actor_network.hidden_size, device=self.device)
            )
            starts = step.done[:, None] | group_step.joined
            mask = group_step.action_mask
            dist, next_state[g] = model.actor(
                leading(group_step.obs),
                hidden,
                starts[None],
                None if mask is None else mask[None],
                neighbour_tensors(group_step.neighbours) if model.uses_neighbours else None,
            )
            raw = (
                dist.mode()
                if deterministic
                else dist.sample(self.generator if generator is None else generator)
            )
            actions[g] = model.head.to_env(raw[0])
        return actions, (next_state if self.recurrent else None)

    def state_dict(self) -> dict[str, Any]:
        return {
            "models": self.models.state_dict(),
            "actor_optimizers": {g: o.state_dict() for g, o in self.actor_optimizers.items()},
            "critic_optimizers": {g: o.state_dict() for g, o in self.critic_optimizers.items()},
            "value_normalizers": self.value_normalizers.state_dict(),
            "generator": self.generator.get_state(),
            "env_steps": self.env_steps,
            "iterations": self.iterations,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.models.load_state_dict(state["models"])
        for g in self.groups:
            # torch optimisers adopt the given moment tensors and update them in place: copy them, so that
            # the checkpoint (and any other algorithm loading it) stays untouched
            self.actor_optimizers[g].load_state_dict(copy.deepcopy(state["actor_optimizers"][g]))
            self.critic_optimizers[g].load_state_dict(copy.deepcopy(state["critic_optimizers"][g]))
        self.value_normalizers.load_state_dict(state["value_normalizers"])
        self.generator.set_state(state["generator"])
        self.env_steps = int(state["env_steps"])
        self.iterations = int(state["iterations"])
        self.collector.restart()

"""The on-policy machinery every policy-gradient learner shares, written once.

- `OnPolicyConfig`: the hyperparameters common to IPPO, MAPPO and DPO.
- `GroupModel`: one group's actor (MLP, optionally a GRU, then an action head) and critic. Parameters are
  shared by the agents of a group; an optional one-hot agent id tells them apart. Groups with different
  spaces get their own networks and optimisers.
- `compute_gae`: generalised advantage estimation that bootstraps truncated episodes from the kept final
  observation's value and never bootstraps terminated agents.
- `RolloutBatch` / `Minibatch`: a finished rollout, cut into chunks of `chunk_length` steps per agent for
  backpropagation through time (chunks of one step for feed-forward policies), shuffled into minibatches.
- `OnPolicyAlgorithm`: gathers `rollout_length` steps from every copy into storage preallocated on the
  training device (no host copy per step), computes advantages and normalised value targets, anneals the
  learning rate, and leaves the update itself to the algorithm (`update`), which reads top to bottom in its
  own module using `evaluate`, `value_loss` and `apply_gradients` from here.

Shapes: storage is `[T, num_envs, n_agents, ...]` per group; a minibatch is `[L, S, ...]` (chunk length,
sequences). Samples of dead agents (`alive` False) stay in the tensors and are masked out of every loss,
every advantage statistic and the value normaliser.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from marl.core.env import BatchedEnv, Step
from marl.learning.algorithm import Algorithm, Iteration
from marl.learning.distributions import ActionHead, Distribution
from marl.learning.networks import MLP, GRUCore, orthogonal_init
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
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # MLP widths of actor and critic
    activation: str = "relu"  # hidden-layer activation: relu, tanh, elu, gelu, silu or leaky_relu
    layer_norm: bool = True  # LayerNorm on the input and after every hidden layer
    recurrent: bool = False  # add a GRU after the MLP (actor and critic)
    gru_hidden: int = 64  # GRU width when recurrent
    chunk_length: int = 8  # backpropagation-through-time chunk (steps); rollout_length must be a multiple
    agent_id: bool = True  # append a one-hot agent id to actor and critic inputs (parameter sharing)
    init_log_std: float = -0.5  # initial log standard deviation of Gaussian policies

    def validate(self) -> None:
        """Raise a clear error for a hyperparameter outside its meaningful range."""
        positive = ["rollout_length", "epochs", "num_minibatches", "gru_hidden", "chunk_length"]
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ["lr", "critic_lr", "adam_eps", "huber_delta", "max_grad_norm"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        for name in ["gamma", "gae_lambda"]:
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        for name in ["entropy_coef", "value_loss_coef", "value_clip", "lr_anneal_steps"]:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not self.hidden_sizes or any(h < 1 for h in self.hidden_sizes):
            raise ValueError(
                f"hidden_sizes must be a non-empty list of positive ints, got {self.hidden_sizes}"
            )
        if self.recurrent and self.rollout_length % self.chunk_length:
            raise ValueError(
                f"rollout_length ({self.rollout_length}) must be a multiple of chunk_length "
                f"({self.chunk_length}) for recurrent policies"
            )


def coerce_config(config: Any, config_class: type) -> Any:
    """Accept the config dataclass itself, an OmegaConf config of it (as Hydra passes it) or a plain dict."""
    if isinstance(config, config_class):
        return config
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(config, DictConfig):
            config = OmegaConf.to_container(config, resolve=True)
    except ImportError:  # pragma: no cover - hydra-core is a dependency
        pass
    if not isinstance(config, dict):
        raise TypeError(
            f"expected a {config_class.__name__} (or a dict of its fields), got {type(config).__name__}"
        )
    known = {f.name for f in fields(config_class)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f"{config_class.__name__} has no fields {unknown}; its fields are {sorted(known)}")
    return config_class(**config)


# ---------------------------------------------------------------------------------------------- networks
class Encoder(nn.Module):
    """An MLP, optionally followed by a GRU. Feed-forward encoders carry a zero-width hidden state, so that
    storage and minibatching treat both kinds alike."""

    def __init__(self, in_features: int, config: OnPolicyConfig) -> None:
        super().__init__()
        self.mlp = MLP(
            in_features,
            config.hidden_sizes,
            layer_norm=config.layer_norm,
            input_norm=config.layer_norm,
            activation=config.activation,
        )
        self.gru = (
            GRUCore(self.mlp.out_features, config.gru_hidden, layer_norm=config.layer_norm)
            if config.recurrent
            else None
        )
        self.hidden_size = config.gru_hidden if config.recurrent else 0
        self.out_features = config.gru_hidden if config.recurrent else self.mlp.out_features

    def forward(self, x: Tensor, hidden: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
        """`x [L, *batch, F]`, `hidden [*batch, H]`, `starts [L, *batch]` -> features, last hidden state."""
        features = self.mlp(x)
        if self.gru is None:
            return features, hidden
        return self.gru(features, hidden, starts)


class GroupModel(nn.Module):
    """The actor and the critic shared by the agents of one group."""

    def __init__(
        self, actor_in: int, critic_in: int, action_space: gym.spaces.Space, config: OnPolicyConfig
    ) -> None:
        super().__init__()
        self.actor_encoder = Encoder(actor_in, config)
        self.head = ActionHead(
            action_space, self.actor_encoder.out_features, init_log_std=config.init_log_std
        )
        self.critic_encoder = Encoder(critic_in, config)
        self.value_out = orthogonal_init(nn.Linear(self.critic_encoder.out_features, 1), 1.0)

    def actor_parameters(self) -> list[nn.Parameter]:
        return [*self.actor_encoder.parameters(), *self.head.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [*self.critic_encoder.parameters(), *self.value_out.parameters()]

    def actor(
        self, x: Tensor, hidden: Tensor, starts: Tensor, mask: Tensor | None
    ) -> tuple[Distribution, Tensor]:
        features, hidden = self.actor_encoder(x, hidden, starts)
        return self.head(features, mask), hidden

    def critic(self, x: Tensor, hidden: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised value predictions `[L, *batch]` and the last hidden state."""
        features, hidden = self.critic_encoder(x, hidden, starts)
        return self.value_out(features).squeeze(-1), hidden


# ---------------------------------------------------------------------------------------------- GAE
def compute_gae(
    rewards: Tensor,
    values: Tensor,
    next_values: Tensor,
    terminated: Tensor,
    done: Tensor,
    gamma: float,
    lam: float,
) -> tuple[Tensor, Tensor]:
    """Advantages and returns (`advantages + values`) for `[T, B, n]` tensors.

    `next_values[t]` is the value of the observation that followed step t: for a copy whose episode ended at
    t (`done [T, B]`) that is the kept final observation, otherwise the next step's observation. An agent
    terminated at t gets no bootstrap (`r - V`); a truncated episode bootstraps from the final observation
    (`r + gamma V(final) - V`); in both cases the advantage chain stops there, because step t + 1 belongs to
    another episode or to a dead agent.
    """
    if not rewards.shape == values.shape == next_values.shape == terminated.shape:
        raise ValueError(
            f"rewards {tuple(rewards.shape)}, values {tuple(values.shape)}, next_values "
            f"{tuple(next_values.shape)} and terminated {tuple(terminated.shape)} must have the same shape"
        )
    if done.shape != rewards.shape[: done.dim()]:
        raise ValueError(f"done has shape {tuple(done.shape)}, expected a prefix of {tuple(rewards.shape)}")
    done = done.reshape(*done.shape, *([1] * (rewards.dim() - done.dim())))
    bootstrap = (~terminated.bool()).to(rewards.dtype)
    chain = bootstrap * (~done.bool()).to(rewards.dtype)
    advantages = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        delta = rewards[t] + gamma * bootstrap[t] * next_values[t] - values[t]
        running = delta + gamma * lam * chain[t] * running
        advantages[t] = running
    return advantages, advantages + values


def masked_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of `x` over the entries where `mask` is True (0 if there are none), without a host sync."""
    weights = mask.to(x.dtype)
    return (x * weights).sum() / weights.sum().clamp(min=1)


# ---------------------------------------------------------------------------------------------- batches
@dataclass
class Minibatch:
    """Sequences of `L` consecutive steps of single agents: every tensor is `[L, S, ...]` except the
    recurrent states at the start of each sequence, `[S, H]`."""

    actor_in: Tensor
    critic_in: Tensor
    actor_h0: Tensor
    critic_h0: Tensor
    starts: Tensor
    action: Tensor
    action_mask: Tensor | None
    log_prob: Tensor
    dist_params: Tensor
    value_n: Tensor
    returns_n: Tensor
    advantages: Tensor
    alive: Tensor
    agent: Tensor

    def __getitem__(self, index: Tensor) -> Minibatch:
        """The sequences `index` (a tensor of sequence numbers)."""
        parts = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                parts[f.name] = None
            elif f.name.endswith("_h0"):
                parts[f.name] = value[index]
            else:
                parts[f.name] = value[:, index]
        return Minibatch(**parts)

    @property
    def num_sequences(self) -> int:
        return self.alive.shape[1]


@dataclass
class RolloutBatch:
    """One group's finished rollout, as sequences for the update."""

    data: Minibatch

    def minibatches(self, count: int, generator: torch.Generator) -> Iterator[Minibatch]:
        """`count` minibatches of whole sequences in a random order; together they cover every sequence."""
        total = self.data.num_sequences
        if count > total:
            raise ValueError(f"num_minibatches={count} exceeds the {total} sequences in a rollout")
        order = torch.randperm(total, generator=generator, device=generator.device)
        for index in order.tensor_split(count):
            yield self.data[index]


def to_sequences(x: Tensor, chunk_length: int) -> Tensor:
    """`[T, B, n, *f] -> [L, (T/L) * B * n, *f]`: each chunk of one agent's time axis becomes a sequence."""
    T = x.shape[0]
    x = x.reshape(T // chunk_length, chunk_length, *x.shape[1:]).transpose(0, 1)
    return x.reshape(chunk_length, -1, *x.shape[4:])


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
    """Rollouts, advantages, schedules, checkpoints and decentralised acting for on-policy learners.

    Subclasses set `config_class` and implement `update(batches)`; they may override
    `critic_observation` (local by default: the agent's own observation).
    """

    config_class: type[OnPolicyConfig] = OnPolicyConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device) -> None:
        config = coerce_config(config, self.config_class)
        config.validate()
        super().__init__(env, config, torch.device(device))
        if env.device != self.device:
            raise ValueError(
                f"the environment is on {env.device} but the algorithm trains on {self.device}; "
                "build both on the same device so the loop never copies between devices"
            )
        self.groups = env.group_names
        self.generator = torch.Generator(device=self.device)
        self.generator.manual_seed(int(torch.randint(2**62, (1,)).item()))
        self.models = nn.ModuleDict()
        for g, spec in env.group_specs.items():
            obs_size = int(np.prod(spec.observation_space.shape))
            ids = spec.n if config.agent_id else 0
            critic_size = self.critic_observation_size(g) + ids
            self.models[g] = GroupModel(obs_size + ids, critic_size, spec.action_space, config)
        self.models.to(self.device)
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
        self.env_steps = 0
        self.iterations = 0
        self._allocate_storage()
        self._step: Step | None = None  # None: the next rollout starts with env.reset()

    # ---------------------------------------------------------------- what subclasses choose
    def critic_observation(self, group: str, obs: Tensor, state: Tensor) -> Tensor:
        """What the critic of `group` reads, `[B, n, F]`: here the agent's own observation (a local critic)."""
        return obs.flatten(2)

    def critic_observation_size(self, group: str) -> int:
        return int(np.prod(self.env.group_specs[group].observation_space.shape))

    def update(self, batches: dict[str, RolloutBatch]) -> dict[str, float]:
        raise NotImplementedError

    # ---------------------------------------------------------------- inputs
    def _with_agent_id(self, group: str, x: Tensor) -> Tensor:
        if not self.config.agent_id:
            return x
        n = x.shape[-2]
        ids = torch.eye(n, device=x.device, dtype=x.dtype).expand(*x.shape[:-2], n, n)
        return torch.cat([x, ids], dim=-1)

    def actor_input(self, group: str, obs: Tensor) -> Tensor:
        """Decentralised execution: an agent's own observation (and its id), nothing else."""
        return self._with_agent_id(group, obs.flatten(2).float())

    def critic_input(self, group: str, obs: Tensor, state: Tensor) -> Tensor:
        return self._with_agent_id(group, self.critic_observation(group, obs.float(), state.float()))

    # ---------------------------------------------------------------- storage and rollout
    def _allocate_storage(self) -> None:
        T, B, dev = self.config.rollout_length, self.env.num_envs, self.device
        self.storage: dict[str, dict[str, Tensor]] = {}
        for g, spec in self.env.group_specs.items():
            model, n = self.models[g], spec.n
            shape = (T, B, n)
            store = {
                "actor_in": torch.zeros(*shape, model.actor_encoder.mlp.in_features, device=dev),
                "critic_in": torch.zeros(*shape, model.critic_encoder.mlp.in_features, device=dev),
                "actor_h": torch.zeros(*shape, model.actor_encoder.hidden_size, device=dev),
                "critic_h": torch.zeros(*shape, model.critic_encoder.hidden_size, device=dev),
                "action": torch.zeros(*shape, *model.head.raw_shape, dtype=model.head.raw_dtype, device=dev),
                "log_prob": torch.zeros(shape, device=dev),
                "dist_params": torch.zeros(*shape, model.head.params_size, device=dev),
                "value_n": torch.zeros(shape, device=dev),
                "value": torch.zeros(T + 1, B, n, device=dev),
                "final_value": torch.zeros(shape, device=dev),
                "reward": torch.zeros(shape, device=dev),
                "terminated": torch.zeros(shape, dtype=torch.bool, device=dev),
                "alive": torch.zeros(shape, dtype=torch.bool, device=dev),
            }
            if isinstance(spec.action_space, gym.spaces.Discrete):
                n_actions = int(spec.action_space.n)
                store["action_mask"] = torch.ones(*shape, n_actions, dtype=torch.bool, device=dev)
            self.storage[g] = store
        self.starts = torch.zeros(T, B, dtype=torch.bool, device=dev)
        self.done = torch.zeros(T, B, dtype=torch.bool, device=dev)

    def _begin(self) -> None:
        """Reset the environment and the recurrent states (first iteration, or after `load_state_dict`)."""
        B = self.env.num_envs
        self._step = self.env.reset()
        self._starts_next = torch.ones(B, dtype=torch.bool, device=self.device)
        self._actor_h = self.initial_policy_state(B, force=True)
        self._critic_h = {
            g: torch.zeros(B, s.n, self.models[g].critic_encoder.hidden_size, device=self.device)
            for g, s in self.env.group_specs.items()
        }

    def _values(
        self, group: str, step: Step, hidden: Tensor, starts: Tensor, final: bool
    ) -> tuple[Tensor, ...]:
        obs = step.final_obs[group] if final else step[group].obs
        state = step.final_state if final else step.state
        x = self.critic_input(group, obs, state)
        n = x.shape[1]
        value_n, hidden = self.models[group].critic(x[None], hidden, starts[None, :, None].expand(1, -1, n))
        return x, value_n[0], hidden

    @torch.no_grad()
    def collect_rollout(self) -> None:
        """Step every copy `rollout_length` times with the current policy, filling storage on device."""
        if self._step is None:
            self._begin()
        step = self._step
        for t in range(self.config.rollout_length):
            starts = self._starts_next
            self.starts[t] = starts
            actions = {}
            for g in self.groups:
                store, model, group_step = self.storage[g], self.models[g], step[g]
                n = group_step.alive.shape[1]
                agent_starts = starts[None, :, None].expand(1, -1, n)
                x = self.actor_input(g, group_step.obs)
                mask = None
                if "action_mask" in store:
                    mask = group_step.action_mask
                    store["action_mask"][t] = True if mask is None else mask
                    mask = store["action_mask"][t][None]
                store["actor_in"][t], store["actor_h"][t] = x, self._actor_h[g]
                dist, self._actor_h[g] = model.actor(x[None], self._actor_h[g], agent_starts, mask)
                raw = dist.sample(self.generator)
                store["action"][t] = raw[0]
                store["log_prob"][t] = dist.log_prob(raw)[0]
                store["dist_params"][t] = dist.params[0]
                store["critic_h"][t] = self._critic_h[g]
                store["critic_in"][t], value_n, self._critic_h[g] = self._values(
                    g, step, self._critic_h[g], starts, final=False
                )
                store["value_n"][t] = value_n
                store["value"][t] = self.value_normalizers[g].denormalize(value_n)
                store["alive"][t] = group_step.alive
                actions[g] = model.head.to_env(raw[0])
            step = self.env.step(actions)
            self.episodes.record(step)
            self.done[t] = step.done
            for g in self.groups:
                store = self.storage[g]
                store["reward"][t] = step[g].reward
                store["terminated"][t] = step[g].terminated
                # the value of the ended episode's last observation, continuing its recurrent state
                no_reset = torch.zeros_like(step.done)
                _, final_value_n, _ = self._values(g, step, self._critic_h[g], no_reset, final=True)
                store["final_value"][t] = self.value_normalizers[g].denormalize(final_value_n)
            self._starts_next = step.done
        for g in self.groups:  # bootstrap value of the observation after the last step
            _, value_n, _ = self._values(g, step, self._critic_h[g], self._starts_next, final=False)
            self.storage[g]["value"][-1] = self.value_normalizers[g].denormalize(value_n)
        self._step = step
        self.env_steps += self.config.rollout_length * self.env.num_envs

    @torch.no_grad()
    def prepare_batches(self) -> dict[str, RolloutBatch]:
        """GAE, value-target normalisation and advantage normalisation, then the sequences per group."""
        cfg, L = self.config, self.config.chunk_length if self.config.recurrent else 1
        batches = {}
        for g in self.groups:
            s = self.storage[g]
            T, B, n = s["reward"].shape
            next_value = torch.where(self.done[:, :, None], s["final_value"], s["value"][1:])
            advantages, returns = compute_gae(
                s["reward"],
                s["value"][:-1],
                next_value,
                s["terminated"],
                self.done,
                cfg.gamma,
                cfg.gae_lambda,
            )
            alive = s["alive"]
            normalizer = self.value_normalizers[g]
            normalizer.update(returns, alive)
            if cfg.normalize_advantages:
                mean = masked_mean(advantages, alive)
                std = masked_mean((advantages - mean).pow(2), alive).sqrt()
                advantages = (advantages - mean) / (std + 1e-8)
            agent = torch.arange(n, device=self.device).expand(T, B, n)
            starts = self.starts[:, :, None].expand(T, B, n)
            seq = lambda x: to_sequences(x, L)  # noqa: E731
            first = lambda x: x[::L].flatten(0, 2)  # noqa: E731
            data = Minibatch(
                actor_in=seq(s["actor_in"]),
                critic_in=seq(s["critic_in"]),
                actor_h0=first(s["actor_h"]),
                critic_h0=first(s["critic_h"]),
                starts=seq(starts),
                action=seq(s["action"]),
                action_mask=seq(s["action_mask"]) if "action_mask" in s else None,
                log_prob=seq(s["log_prob"]),
                dist_params=seq(s["dist_params"]),
                value_n=seq(s["value_n"]),
                returns_n=seq(normalizer.normalize(returns)),
                advantages=seq(advantages),
                alive=seq(alive),
                agent=seq(agent),
            )
            batches[g] = RolloutBatch(data)
        return batches

    # ---------------------------------------------------------------- helpers for updates
    def evaluate(self, group: str, mb: Minibatch) -> tuple[Distribution, Tensor]:
        """The current policy's distributions and normalised values on a minibatch (with gradients)."""
        model = self.models[group]
        dist, _ = model.actor(mb.actor_in, mb.actor_h0, mb.starts, mb.action_mask)
        values_n, _ = model.critic(mb.critic_in, mb.critic_h0, mb.starts)
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
    def train_iteration(self) -> Iteration:
        self.models.train()
        self.collect_rollout()
        batches = self.prepare_batches()
        lr = self._anneal_learning_rates()
        metrics = self.update(batches)
        metrics["lr"] = lr
        self.iterations += 1
        return Iteration(env_steps=self.config.rollout_length * self.env.num_envs, metrics=metrics)

    def initial_policy_state(self, num_envs: int, force: bool = False) -> dict[str, Tensor] | None:
        if not self.config.recurrent and not force:
            return None
        return {
            g: torch.zeros(num_envs, s.n, self.models[g].actor_encoder.hidden_size, device=self.device)
            for g, s in self.env.group_specs.items()
        }

    @torch.no_grad()
    def act(
        self, step: Step, policy_state: dict[str, Tensor] | None, deterministic: bool = False
    ) -> tuple[dict[str, Tensor], dict[str, Tensor] | None]:
        num_envs = step.done.shape[0]
        hidden = policy_state if policy_state is not None else self.initial_policy_state(num_envs, force=True)
        actions, next_state = {}, {}
        for g in self.groups:
            group_step = step[g]
            n = group_step.alive.shape[1]
            starts = step.done[None, :, None].expand(1, num_envs, n)
            mask = group_step.action_mask
            dist, next_state[g] = self.models[g].actor(
                self.actor_input(g, group_step.obs)[None],
                hidden[g],
                starts,
                None if mask is None else mask[None],
            )
            raw = dist.mode() if deterministic else dist.sample(self.generator)
            actions[g] = self.models[g].head.to_env(raw[0])
        return actions, (next_state if self.config.recurrent else None)

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
        self._step = None

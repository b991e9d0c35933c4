"""One rollout collector for every on-policy learner, and the batch it feeds them.

- `RolloutCollector` steps the environment `rollout_length` times with each group's `ActorCritic` and keeps
  what happened *raw*, on the training device: observations as the environment gives them (a tensor or a
  dict of tensors), the global state once per copy, neighbours when a graph network reads them, actions,
  log-probabilities, distribution parameters, values, the value of each ended episode's final observation,
  rewards, terminations, `alive`, `joined`, `done`, action masks and recurrent states. Storage is allocated
  from the first step's tensors, so its size follows the data, never a network's inputs. Episode statistics
  go to the algorithm's `EpisodeStats` through its `EnvRunner`.
- `compute_gae` and `make_batch` turn a rollout into a `Batch`: GAE advantages, value targets normalised by
  each group's running normaliser, advantages normalised over live agents, all cut into sequences of
  `chunk_length` steps of whole copies (agents stay together, so agent ids and graph layers need nothing
  stored) that `GroupBatch.minibatches` shuffles. A learner implements `update(batch)`.

Shapes: storage is `[T, B, n, ...]` per group and `[T, B, ...]` per copy; a minibatch is `[L, S, n, ...]`
(chunk length, sequences, agents). An agent's recurrent state restarts where its copy started a new episode
or where it joined (`done | joined`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

from marl.core.env import Neighbours, Observation, Step, compile_method
from marl.learning.algorithm import EnvRunner
from marl.learning.models import ActorCritic
from marl.learning.normalization import RunningNormalizer


# ---------------------------------------------------------------------------------------------- tensors
def map_tensors(fn: Any, value: Any) -> Any:
    """Apply `fn` to a tensor, or to every tensor of a dict or a tuple (None stays None)."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return fn(value)
    if isinstance(value, dict):
        return {k: map_tensors(fn, v) for k, v in value.items()}
    return tuple(map_tensors(fn, v) for v in value)


def write(store: dict[str, Any], name: str, t: int, value: Any, length: int) -> None:
    """`store[name][t] = value`, allocating `[length, *value.shape]` of value's dtype on first use."""
    if isinstance(value, dict):
        inner = store.setdefault(name, {})
        for key, field_value in value.items():
            write(inner, key, t, field_value, length)
        return
    if name not in store:
        store[name] = value.new_zeros((length, *value.shape))
    store[name][t] = value


def tensor_bytes(value: Any) -> int:
    """Bytes held by a tensor or by every tensor of a (nested) dict."""
    if isinstance(value, dict):
        return sum(tensor_bytes(v) for v in value.values())
    return value.numel() * value.element_size()


def leading(value: Any) -> Any:
    """Add a time axis of length 1 in front (acting is a sequence of one step)."""
    return map_tensors(lambda x: x[None], value)


def neighbour_tensors(neighbours: Neighbours | None) -> tuple[Tensor, Tensor] | None:
    """A `marl.Neighbours` as the `(index, mask)` pair the networks read (with a time axis in front)."""
    return None if neighbours is None else (neighbours.index[None], neighbours.mask[None])


# ---------------------------------------------------------------------------------------------- collection
@dataclass
class Rollout:
    """What `RolloutCollector.collect` gathered: `groups[g]` holds that group's fields `[T, B, n, ...]` (and
    `last_value [B, n]`, the value of the observation after the last step); `state [T, B, S]`, `first [T, B]`
    (the copy started a new episode at step t's observation) and `done [T, B]` (its episode ended with step t's
    transition) are per copy."""

    groups: dict[str, dict[str, Any]]
    state: Tensor
    first: Tensor
    done: Tensor

    def starts(self, group: str) -> Tensor:
        """`[T, B, n]`: where an agent's recurrent state restarts (new episode, or the agent joined)."""
        return self.first[:, :, None] | self.groups[group]["joined"]

    def nbytes(self) -> int:
        return sum(tensor_bytes(store) for store in self.groups.values()) + tensor_bytes(
            {"state": self.state, "first": self.first, "done": self.done}
        )


class RolloutCollector:
    """Steps the environment with the current policies and keeps what happened, raw, on the training device."""

    def __init__(
        self,
        runner: EnvRunner,
        models: nn.ModuleDict,
        value_normalizers: nn.ModuleDict,
        rollout_length: int,
        compile: bool = False,  # noqa: A002 (the config key's name)
        compile_backend: str = "inductor",
    ) -> None:
        self.runner, self.models, self.normalizers = runner, models, value_normalizers
        self.length = rollout_length
        # the policy's forward pass and sampling at every step: torch.compile'd with `compile` (a graph per
        # group, its own code object so that other collectors' graphs do not count against its own)
        self._policy = (
            compile_method(self._act_with, backend=compile_backend, dynamic=False)
            if compile
            else self._act_with
        )
        env = runner.env
        self.masked = {
            g: isinstance(s.action_space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete))
            for g, s in env.group_specs.items()
        }
        self._per_copy: dict[str, Tensor] = {}
        self._stores: dict[str, dict[str, Any]] = {g: {} for g in models}
        self._carry: dict[str, Any] | None = None
        self.rollout: Rollout | None = None  # the last one collected

    def _begin(self) -> None:
        """Fresh recurrent states; every copy starts an episode (first rollout, or after a restart)."""
        B, dev = self.runner.env.num_envs, self.runner.env.device
        self._carry = {
            "first": torch.ones(B, dtype=torch.bool, device=dev),
            "actor_h": {g: self.initial_state(g, B, actor=True) for g in self.models},
            "critic_h": {g: self.initial_state(g, B, actor=False) for g in self.models},
        }

    def initial_state(self, group: str, num_envs: int, actor: bool) -> Tensor:
        model: ActorCritic = self.models[group]
        network = model.actor_network if actor else model.critic_network
        n = self.runner.env.group_specs[group].n
        return torch.zeros(num_envs, n, network.hidden_size, device=self.runner.env.device)

    def restart(self) -> None:
        self.runner.restart()
        self._carry = None

    @torch.no_grad()
    def collect(self, generator: torch.Generator) -> Rollout:
        """`rollout_length` steps of every copy; the rollout's tensors are reused by the next call."""
        if not self.runner.started:
            self._carry = None
        step = self.runner.step
        for t in range(self.length):
            step = self.runner.advance(self.act(t, step, generator))
            self.record(t, step)
        return self.finish(step)

    # The three parts of one rollout, for a learner that steps the environment itself (MANSA runs several
    # collectors in lockstep on one environment): `act` before each step, `record` after it, `finish` after
    # the last one.
    @torch.no_grad()
    def act(self, t: int, step: Step, generator: torch.Generator) -> dict[str, Tensor]:
        """Every group's actions at rollout step t from `step`, storing what the update will need."""
        if self._carry is None:
            self._begin()
        write(self._per_copy, "state", t, step.state, self.length)
        write(self._per_copy, "first", t, self._carry["first"], self.length)
        return {
            g: self._act(g, model, step, t, self._stores[g], generator) for g, model in self.models.items()
        }

    @torch.no_grad()
    def record(self, t: int, step: Step) -> None:
        """Store the outcome of rollout step t (`step` is what the environment returned)."""
        T, carry = self.length, self._carry
        write(self._per_copy, "done", t, step.done, T)
        no_reset = torch.zeros_like(step.done)
        for g, model in self.models.items():
            store, group_step = self._stores[g], step[g]
            write(store, "reward", t, group_step.reward, T)
            write(store, "terminated", t, group_step.terminated, T)
            # the value of the ended episode's last observation, continuing its recurrent state; a graph
            # critic reads the current neighbours (the contract keeps no final neighbours)
            final_value_n, _ = model.critic(
                leading(step.final_obs[g]),
                leading(step.final_state),
                carry["critic_h"][g],
                leading(no_reset[:, None].expand_as(group_step.alive)),
                neighbour_tensors(group_step.neighbours) if model.uses_neighbours else None,
            )
            write(store, "final_value", t, self.normalizers[g].denormalize(final_value_n[0]), T)
        carry["first"] = step.done

    @torch.no_grad()
    def finish(self, step: Step) -> Rollout:
        """The rollout, with the bootstrap value of `step` (the observation after the last step)."""
        carry, stores = self._carry, self._stores
        for g, model in self.models.items():
            starts = carry["first"][:, None] | step[g].joined
            value_n, _ = model.critic(
                leading(step[g].obs),
                leading(step.state),
                carry["critic_h"][g],
                leading(starts),
                neighbour_tensors(step[g].neighbours) if model.uses_neighbours else None,
            )
            stores[g]["last_value"] = self.normalizers[g].denormalize(value_n[0])
        self.rollout = Rollout(groups=stores, **self._per_copy)
        return self.rollout

    def _act(
        self,
        g: str,
        model: ActorCritic,
        step: Step,
        t: int,
        store: dict[str, Any],
        generator: torch.Generator,
    ) -> Tensor:
        """Sample group g's actions at step t, storing the inputs, the draw and the value; the env's actions."""
        T, carry, group_step = self.length, self._carry, step[g]
        starts = carry["first"][:, None] | group_step.joined
        neighbours = group_step.neighbours if model.uses_neighbours else None
        write(store, "obs", t, group_step.obs, T)
        write(store, "alive", t, group_step.alive, T)
        write(store, "joined", t, group_step.joined, T)
        if neighbours is not None:
            write(store, "neighbour_index", t, neighbours.index, T)
            write(store, "neighbour_mask", t, neighbours.mask, T)
        mask = None
        if self.masked[g]:
            legal = group_step.action_mask
            if legal is None:
                legal = torch.ones(
                    *group_step.alive.shape,
                    model.head.params_size,
                    dtype=torch.bool,
                    device=group_step.alive.device,
                )
            write(store, "action_mask", t, legal, T)
            mask = legal[None]
        write(store, "actor_h", t, carry["actor_h"][g], T)
        write(store, "critic_h", t, carry["critic_h"][g], T)
        raw, log_prob, params, carry["actor_h"][g], value_n, carry["critic_h"][g], env_action = self._policy(
            model,
            group_step.obs,
            step.state,
            carry["actor_h"][g],
            carry["critic_h"][g],
            starts,
            mask,
            neighbour_tensors(neighbours),
            generator,
        )
        write(store, "action", t, raw[0], T)
        write(store, "log_prob", t, log_prob[0], T)
        write(store, "dist_params", t, params[0], T)
        write(store, "value_n", t, value_n[0], T)
        write(store, "value", t, self.normalizers[g].denormalize(value_n[0]), T)
        return env_action

    @staticmethod
    def _act_with(
        model: ActorCritic,
        obs: Observation,
        state: Tensor,
        actor_h: Tensor,
        critic_h: Tensor,
        starts: Tensor,
        mask: Tensor | None,
        neighbours: tuple[Tensor, Tensor] | None,
        generator: torch.Generator,
    ) -> tuple[Tensor, ...]:
        """One group's policy at one step: `(raw action, log-prob, distribution parameters, actor state,
        normalised value, critic state, the environment's action)`, each with a time axis of one in front but
        the last. With `compile`, torch.compile runs the networks; the draw from `generator` stays eager
        (a graph break), so that a seed gives the same actions compiled or not."""
        dist, actor_h = model.actor(leading(obs), actor_h, starts[None], mask, neighbours)
        raw = dist.sample(generator)
        value_n, critic_h = model.critic(leading(obs), state[None], critic_h, starts[None], neighbours)
        return raw, dist.log_prob(raw), dist.params, actor_h, value_n, critic_h, model.head.to_env(raw[0])


# ---------------------------------------------------------------------------------------------- advantages
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
    """Sequences of `L` consecutive steps of whole copies: tensors are `[L, S, n, ...]` (`state` is
    `[L, S, S_dim]`), except the recurrent states at the start of each sequence, `[S, n, H]`. `obs` is a tensor
    or a dict of them; `neighbours` the neighbour index and mask (graph networks only)."""

    obs: Observation
    state: Tensor
    neighbours: tuple[Tensor, Tensor] | None
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

    def __getitem__(self, index: Tensor) -> Minibatch:
        """The sequences `index` (a tensor of sequence numbers)."""
        parts = {}
        for f in fields(self):
            select = (lambda x: x[index]) if f.name.endswith("_h0") else (lambda x: x[:, index])
            parts[f.name] = map_tensors(select, getattr(self, f.name))
        return Minibatch(**parts)

    @property
    def num_sequences(self) -> int:
        return self.alive.shape[1]

    @property
    def agent(self) -> Tensor:
        """Each sample's agent index within its group, `[L, S, n]`."""
        return torch.arange(self.alive.shape[-1], device=self.alive.device).expand_as(self.alive)


@dataclass
class GroupBatch:
    """One group's rollout, prepared for the update."""

    data: Minibatch

    def minibatches(self, count: int, generator: torch.Generator) -> Iterator[Minibatch]:
        """`count` minibatches of whole sequences in a random order; together they cover every sequence."""
        total = self.data.num_sequences
        if count > total:
            raise ValueError(f"num_minibatches={count} exceeds the {total} sequences in a rollout")
        order = torch.randperm(total, generator=generator, device=generator.device)
        for index in order.tensor_split(count):
            yield self.data[index]


Batch = dict[str, GroupBatch]


def to_sequences(x: Tensor, chunk_length: int) -> Tensor:
    """`[T, B, *f] -> [L, (T/L) * B, *f]`: each chunk of one copy's time axis becomes a sequence."""
    T = x.shape[0]
    x = x.reshape(T // chunk_length, chunk_length, *x.shape[1:]).transpose(0, 1)
    return x.reshape(chunk_length, -1, *x.shape[3:])


@torch.no_grad()
def make_batch(
    rollout: Rollout,
    normalizers: nn.ModuleDict,
    *,
    gamma: float,
    gae_lambda: float,
    normalize_advantages: bool,
    chunk_length: int,
) -> Batch:
    """GAE, value-target normalisation (updating each group's normaliser) and advantage normalisation, then
    the sequences of `chunk_length` steps per group."""
    L = chunk_length
    seq = lambda x: map_tensors(lambda v: to_sequences(v, L), x)  # noqa: E731
    first = lambda x: x[::L].flatten(0, 1)  # noqa: E731
    batch = {}
    for g, s in rollout.groups.items():
        next_value = torch.cat([s["value"][1:], s["last_value"][None]])
        next_value = torch.where(rollout.done[:, :, None], s["final_value"], next_value)
        advantages, returns = compute_gae(
            s["reward"], s["value"], next_value, s["terminated"], rollout.done, gamma, gae_lambda
        )
        alive = s["alive"]
        normalizer: RunningNormalizer = normalizers[g]
        normalizer.update(returns, alive)
        if normalize_advantages:
            mean = masked_mean(advantages, alive)
            std = masked_mean((advantages - mean).pow(2), alive).sqrt()
            advantages = (advantages - mean) / (std + 1e-8)
        neighbours = (seq(s["neighbour_index"]), seq(s["neighbour_mask"])) if "neighbour_index" in s else None
        batch[g] = GroupBatch(
            Minibatch(
                obs=seq(s["obs"]),
                state=seq(rollout.state),
                neighbours=neighbours,
                actor_h0=first(s["actor_h"]),
                critic_h0=first(s["critic_h"]),
                starts=seq(rollout.starts(g)),
                action=seq(s["action"]),
                action_mask=seq(s.get("action_mask")),
                log_prob=seq(s["log_prob"]),
                dist_params=seq(s["dist_params"]),
                value_n=seq(s["value_n"]),
                returns_n=seq(normalizer.normalize(returns)),
                advantages=seq(advantages),
                alive=seq(alive),
            )
        )
    return batch

"""MADDPG (Lowe et al. 2017, "Multi-Agent Actor-Critic for Mixed Cooperative-Competitive Environments").

Each agent i has a deterministic actor mu_i(o_i) on its own observation and a critic Q_i(o_1..o_N, a_1..a_N)
on every agent's observation and action (centralised training, decentralised execution). Discrete actions
go through the Gumbel-softmax (straight-through: a one-hot action forward, the relaxed sample's gradient
backward). Critics regress on r_i + gamma (1 - terminated_i) Q'_i(o', mu'(o')) from target networks that
follow by Polyak averaging. Groups may differ (predators and prey): each agent's critic learns from its own
reward. `centralised_critic=False` gives independent DDPG, Q_i(o_i, a_i), with the same code;
`independent_groups` makes chosen groups learn with DDPG beside MADDPG ones (the paper's matchups of MADDPG
against DDPG in the competitive tasks); `ensemble_size=K > 1` gives the paper's policy ensembles (each agent holds K actors and uses one, drawn at
random, for a whole episode).

Choices the paper leaves open, made here: target actions are the target actors' greedy actions; continuous
actions are tanh outputs explored with Gaussian noise; dead agents' actions are zeros in critic inputs and
dead agents are left out of their own losses; one replay buffer serves all ensemble members (a member's
actor learns from the rows it produced, the paper keeps one buffer per member).
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
from marl.core.env import BatchedEnv, Step
from marl.learning.algorithm import Algorithm, Iteration
from marl.learning.distributions import Categorical, unit_to_bounds
from marl.learning.networks import MLP
from marl.learning.offpolicy import gaussian_exploration, polyak_update, target_network
from marl.learning.replay import ReplayBuffer, transition


@dataclass
class MADDPGConfig:
    """Hyperparameters; defaults are the paper's (and its released code's) where it gives them."""

    centralised_critic: bool = True  # False: independent DDPG, each critic sees only its agent
    independent_groups: list[str] = field(default_factory=list)  # groups that learn with DDPG all the same
    share_parameters: bool = False  # one actor and one critic per group, with a one-hot agent id
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    layer_norm: bool = False
    actor_lr: float = 1e-2
    critic_lr: float = 1e-2
    gamma: float = 0.95
    tau: float = 0.01  # Polyak rate of the target networks
    batch_size: int = 1024
    buffer_size: int = 1_000_000
    learning_starts: int = 25_600  # transitions in the buffer before the first update (1024 x 25)
    transitions_per_update: int = 100  # one gradient step per this many transitions (summed over copies)
    rollout_steps: int = 25  # environment steps of every copy per train_iteration
    max_grad_norm: float = 0.5  # per network
    logits_l2: float = 1e-3  # actor regulariser: mean of the squared pre-activation outputs
    gumbel_temperature: float = 1.0
    noise_std: float = 0.1  # Gaussian exploration for continuous actions, in units of half the action range
    ensemble_size: int = 1  # K sub-policies per agent, one drawn per episode
    checkpoint_replay: bool = False  # put the buffer's contents (not only its position) in checkpoints


@dataclass
class IDDPGConfig(MADDPGConfig):
    """Independent DDPG: MADDPG's code with decentralised critics."""

    centralised_critic: bool = False


class AgentNets(nn.Module):
    """The networks of one group: one per agent, or one shared by all that also reads a one-hot agent id.

    Maps `[..., n, in_features]` to `[..., n, out_features]`."""

    def __init__(
        self,
        n_agents: int,
        in_features: int,
        out_features: int,
        shared: bool,
        config: MADDPGConfig,
        output_gain: float = 1.0,
    ) -> None:
        super().__init__()
        self.n_agents, self.shared = n_agents, shared
        width = in_features + (n_agents if shared else 0)
        self.nets = nn.ModuleList(
            MLP(
                width,
                config.hidden_sizes,
                out_features,
                layer_norm=config.layer_norm,
                output_gain=output_gain,
            )
            for _ in range(1 if shared else n_agents)
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.shared:
            ids = torch.eye(self.n_agents, device=x.device, dtype=x.dtype).expand(
                *x.shape[:-1], self.n_agents
            )
            return self.nets[0](torch.cat([x, ids], dim=-1))
        return torch.stack([net(xi) for net, xi in zip(self.nets, x.unbind(-2), strict=True)], dim=-2)


class MADDPG(Algorithm):
    """Deterministic actors on local observations, centralised (or, as an option, local) critics."""

    def __init__(self, env: BatchedEnv, config: MADDPGConfig, device: torch.device | str) -> None:
        super().__init__(env, config, device)
        _check_config(config)
        self.specs = env.group_specs
        unknown = [g for g in config.independent_groups if g not in self.specs]
        if unknown:
            raise ValueError(
                f"independent_groups names unknown groups {unknown}; the groups are {list(self.specs)}"
            )
        self.centralised = {
            g: config.centralised_critic and g not in config.independent_groups for g in self.specs
        }
        self.obs_dim = {g: int(np.prod(s.observation_space.shape)) for g, s in self.specs.items()}
        self.act_dim = {g: _action_width(g, s.action_space) for g, s in self.specs.items()}
        self.discrete = {g: isinstance(s.action_space, gym.spaces.Discrete) for g, s in self.specs.items()}
        self.action_bounds = {  # continuous groups: actions in [-1, 1] map onto [low, high]
            g: tuple(
                torch.as_tensor(bound, dtype=torch.float32, device=self.device)
                for bound in (s.action_space.low, s.action_space.high)
            )
            for g, s in self.specs.items()
            if not self.discrete[g]
        }
        total_obs = sum(s.n * self.obs_dim[g] for g, s in self.specs.items())
        total_act = sum(s.n * self.act_dim[g] for g, s in self.specs.items())
        # slot_mask[g][i] marks agent i's own action inside the joint action vector (groups, then agents)
        self.slot_mask, offset = {}, 0
        for g, s in self.specs.items():
            mask = torch.zeros(s.n, total_act, dtype=torch.bool, device=self.device)
            for i in range(s.n):
                mask[i, offset + i * self.act_dim[g] : offset + (i + 1) * self.act_dim[g]] = True
            self.slot_mask[g], offset = mask, offset + s.n * self.act_dim[g]

        def critic_in(g: str) -> int:
            return total_obs + total_act if self.centralised[g] else self.obs_dim[g] + self.act_dim[g]

        share = config.share_parameters
        self.actors = nn.ModuleDict(
            {
                g: nn.ModuleList(
                    AgentNets(s.n, self.obs_dim[g], self.act_dim[g], share, config, output_gain=0.01)
                    for _ in range(config.ensemble_size)
                )
                for g, s in self.specs.items()
            }
        ).to(self.device)
        self.critics = nn.ModuleDict(
            {g: AgentNets(s.n, critic_in(g), 1, share, config) for g, s in self.specs.items()}
        ).to(self.device)
        self.target_actors = target_network(self.actors)
        self.target_critics = target_network(self.critics)
        self.actor_optim = torch.optim.Adam(self.actors.parameters(), lr=config.actor_lr)
        self.critic_optim = torch.optim.Adam(self.critics.parameters(), lr=config.critic_lr)
        self.buffer = ReplayBuffer(config.buffer_size, self.device)
        self.updates = 0
        self.update_credit = 0  # transitions gathered since the last gradient step, once learning started
        self._policy_state: dict[str, Tensor] | None = None

    # ------------------------------------------------------------------ acting (decentralised)
    def initial_policy_state(self, num_envs: int) -> dict[str, Tensor] | None:
        """The ensemble member each agent uses in each copy (None without an ensemble)."""
        if self.config.ensemble_size == 1:
            return None
        return {
            g: torch.randint(self.config.ensemble_size, (num_envs, s.n), device=self.device)
            for g, s in self.specs.items()
        }

    @torch.no_grad()
    def act(
        self,
        step: Step,
        policy_state: Any,
        deterministic: bool = False,
        generator: torch.Generator | None = None,
    ):
        actions, _, policy_state = self._act(step, policy_state, deterministic, generator)
        return actions, policy_state

    def _act(
        self,
        step: Step,
        members: dict[str, Tensor] | None,
        deterministic: bool,
        generator: torch.Generator | None = None,
    ):
        """Environment actions, their critic encoding (one-hot / [-1, 1]) and the ensemble members in use."""
        if members is not None:  # a new episode draws new members where one just started
            fresh = self.initial_policy_state(step.done.shape[0])
            members = {g: torch.where(step.done[:, None], fresh[g], m) for g, m in members.items()}
        env_actions, encoded = {}, {}
        for g, spec in self.specs.items():
            obs = step[g].obs.reshape(*step[g].obs.shape[:2], -1)
            out = _select(self.actors[g], obs, None if members is None else members[g])
            if self.discrete[g]:
                logits = Categorical(out, step[g].action_mask).logits
                if not deterministic:  # a hard Gumbel-softmax sample: the arg-max of Gumbel-perturbed logits
                    logits = logits - torch.empty_like(logits).exponential_(generator=generator).log()
                onehot = F.one_hot(logits.argmax(-1), self.act_dim[g]).float()
                encoded[g] = onehot
                env_actions[g] = onehot.argmax(-1) + int(spec.action_space.start)
            else:
                action = torch.tanh(out)
                if not deterministic:
                    action = gaussian_exploration(action, self.config.noise_std, generator)
                encoded[g] = action
                low, high = self.action_bounds[g]
                env_actions[g] = unit_to_bounds(action.reshape(*action.shape[:2], *low.shape), low, high)
        return env_actions, encoded, members

    # ------------------------------------------------------------------ gathering experience
    def train_iteration(self) -> Iteration:
        cfg = self.config
        if not self.runner.started:
            self._policy_state = self.initial_policy_state(self.env.num_envs)
        for _ in range(cfg.rollout_steps):
            step = self.runner.step
            with torch.no_grad():
                env_actions, encoded, members = self._act(step, self._policy_state, deterministic=False)
            next_step = self.runner.advance(env_actions)
            rows = transition(step, encoded, next_step)
            if members is not None:
                rows.update({f"member/{g}": m for g, m in members.items()})
            self.buffer.add(rows)
            self._policy_state = members
            if len(self.buffer) >= cfg.learning_starts:
                self.update_credit += self.env.num_envs
        metrics: dict[str, list[float]] = {}
        while self.update_credit >= cfg.transitions_per_update:
            self.update_credit -= cfg.transitions_per_update
            for name, value in self.update(self.buffer.sample(cfg.batch_size)).items():
                metrics.setdefault(name, []).append(value)
        summary = {name: float(np.mean(values)) for name, values in metrics.items()}
        summary.update(buffer_size=float(len(self.buffer)), updates=float(self.updates))
        return Iteration(env_steps=cfg.rollout_steps * self.env.num_envs, metrics=summary)

    # ------------------------------------------------------------------ the update
    def update(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One gradient step of every critic, then every actor, then the target networks."""
        cfg = self.config
        obs = {g: _flat(batch[f"obs/{g}"]) for g in self.specs}
        next_obs = {g: _flat(batch[f"next_obs/{g}"]) for g in self.specs}
        alive = {g: batch[f"alive/{g}"].float() for g in self.specs}
        next_alive = {g: batch[f"next_alive/{g}"].float() for g in self.specs}
        actions = {g: batch[f"action/{g}"] * alive[g][..., None] for g in self.specs}
        members = {g: batch.get(f"member/{g}") for g in self.specs}

        # critic: r_i + gamma (1 - terminated_i) Q'_i(o', mu'(o')), bootstrapping through truncation
        with torch.no_grad():
            next_actions = {}
            for g in self.specs:
                out = _select(self.target_actors[g], next_obs[g], members[g])
                next_actions[g] = (
                    self._greedy(g, out, batch.get(f"next_action_mask/{g}")) * next_alive[g][..., None]
                )
            next_q = self._q_values(self.target_critics, next_obs, next_actions)
            target = {
                g: batch[f"reward/{g}"] + cfg.gamma * (1 - batch[f"terminated/{g}"].float()) * next_q[g]
                for g in self.specs
            }
        q = self._q_values(self.critics, obs, actions)
        critic_loss = sum(_masked_mean((q[g] - target[g]) ** 2, alive[g]).sum() for g in self.specs)
        self.critic_optim.zero_grad()
        critic_loss.backward()
        _clip_each(self.critics, cfg.max_grad_norm)
        self.critic_optim.step()

        # actor: -Q_i with agent i's own action replaced by mu_i(o_i) (Gumbel-softmax for discrete actions)
        own_actions, regulariser = {}, 0.0
        for g in self.specs:
            out = _select(self.actors[g], obs[g], members[g])
            if self.discrete[g]:
                logits = Categorical(out, batch.get(f"action_mask/{g}")).logits
                own = F.gumbel_softmax(logits, tau=cfg.gumbel_temperature, hard=True)
            else:
                own = torch.tanh(out)
            own_actions[g] = own * alive[g][..., None]
            regulariser = regulariser + _masked_mean(out.pow(2).mean(-1), alive[g]).sum()
        self.critics.requires_grad_(False)  # the actor loss moves the actors only
        q_own = self._q_values(self.critics, obs, actions, own_actions)
        self.critics.requires_grad_(True)
        policy_loss = sum(_masked_mean(-q_own[g], alive[g]).sum() for g in self.specs)
        actor_loss = policy_loss + cfg.logits_l2 * regulariser
        self.actor_optim.zero_grad()
        actor_loss.backward()
        _clip_each(self.actors, cfg.max_grad_norm)
        self.actor_optim.step()

        polyak_update(self.target_critics, self.critics, cfg.tau)
        polyak_update(self.target_actors, self.actors, cfg.tau)
        self.updates += 1
        return {
            "critic_loss": float(critic_loss.detach()),
            "actor_loss": float(policy_loss.detach()),
            "q_mean": float(sum(q[g].detach().mean() for g in self.specs) / len(self.specs)),
        }

    def _q_values(
        self,
        critics: nn.ModuleDict,
        obs: dict[str, Tensor],
        actions: dict[str, Tensor],
        own_actions: dict[str, Tensor] | None = None,
    ) -> dict[str, Tensor]:
        """`{group: Q [N, n]}`; with `own_actions`, agent i's critic sees its own action from there and the
        others' from `actions` (the actor loss), otherwise every critic sees `actions`."""
        joint_obs = torch.cat([obs[g].flatten(1) for g in self.specs], dim=1)
        joint = torch.cat([actions[g].flatten(1) for g in self.specs], dim=1)
        own = actions if own_actions is None else own_actions
        joint_own = torch.cat([own[g].flatten(1) for g in self.specs], dim=1)
        q = {}
        for g, s in self.specs.items():
            if self.centralised[g]:
                joint_actions = torch.where(self.slot_mask[g], joint_own[:, None], joint[:, None])
                inputs = torch.cat([joint_obs[:, None].expand(-1, s.n, -1), joint_actions], dim=-1)
            else:
                inputs = torch.cat([obs[g], own[g]], dim=-1)
            q[g] = critics[g](inputs).squeeze(-1)
        return q

    def _greedy(self, group: str, out: Tensor, action_mask: Tensor | None) -> Tensor:
        if self.discrete[group]:
            return F.one_hot(Categorical(out, action_mask).mode(), self.act_dim[group]).float()
        return torch.tanh(out)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "actors": self.actors.state_dict(),
            "critics": self.critics.state_dict(),
            "target_actors": self.target_actors.state_dict(),
            "target_critics": self.target_critics.state_dict(),
            "actor_optim": self.actor_optim.state_dict(),
            "critic_optim": self.critic_optim.state_dict(),
            "buffer": self.buffer.state_dict(include_contents=self.config.checkpoint_replay),
            "updates": self.updates,
            "update_credit": self.update_credit,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.actors.load_state_dict(state["actors"])
        self.critics.load_state_dict(state["critics"])
        self.target_actors.load_state_dict(state["target_actors"])
        self.target_critics.load_state_dict(state["target_critics"])
        self.actor_optim.load_state_dict(state["actor_optim"])
        self.critic_optim.load_state_dict(state["critic_optim"])
        self.buffer.load_state_dict(state["buffer"])
        self.updates, self.update_credit = int(state["updates"]), int(state["update_credit"])
        self.runner.restart()  # the next train_iteration starts fresh episodes


def _check_config(config: MADDPGConfig) -> None:
    problems = []
    for name in (
        "batch_size",
        "buffer_size",
        "learning_starts",
        "transitions_per_update",
        "rollout_steps",
        "ensemble_size",
    ):
        if getattr(config, name) < 1:
            problems.append(f"{name} must be >= 1, got {getattr(config, name)}")
    if not 0 < config.tau <= 1:
        problems.append(f"tau must be in (0, 1], got {config.tau}")
    if not 0 <= config.gamma <= 1:
        problems.append(f"gamma must be in [0, 1], got {config.gamma}")
    for name in ("actor_lr", "critic_lr", "max_grad_norm", "gumbel_temperature"):
        if getattr(config, name) <= 0:
            problems.append(f"{name} must be > 0, got {getattr(config, name)}")
    for name in ("logits_l2", "noise_std"):
        if getattr(config, name) < 0:
            problems.append(f"{name} must be >= 0, got {getattr(config, name)}")
    if problems:
        raise ValueError("invalid MADDPG config: " + "; ".join(problems))


def _action_width(group: str, space: gym.spaces.Space) -> int:
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box):
        if not (np.isfinite(space.low).all() and np.isfinite(space.high).all()):
            raise ValueError(f"group {group!r}: MADDPG needs finite action bounds, got {space}")
        return int(np.prod(space.shape))
    raise TypeError(f"group {group!r}: MADDPG supports Discrete and Box action spaces, got {space}")


def _select(members: nn.ModuleList, obs: Tensor, member: Tensor | None) -> Tensor:
    """Actor outputs `[N, n, out]`; with an ensemble, each agent's from the member `member [N, n]` it uses."""
    if member is None:
        return members[0](obs)
    outs = torch.stack([actor(obs) for actor in members])  # [K, N, n, out]
    index = member[None, ..., None].expand(1, *member.shape, outs.shape[-1])
    return outs.gather(0, index).squeeze(0)


def _masked_mean(values: Tensor, weights: Tensor) -> Tensor:
    """Per-agent mean over the rows where the agent was alive: `[N, n] -> [n]`."""
    return (values * weights).sum(0) / weights.sum(0).clamp(min=1.0)


def _flat(obs: Tensor) -> Tensor:
    return obs.reshape(*obs.shape[:2], -1)


def _clip_each(networks: nn.ModuleDict, max_norm: float) -> None:
    """Clip every agent's (or shared) network on its own, as each agent's optimiser would."""
    for module in networks.modules():
        if isinstance(module, MLP):
            nn.utils.clip_grad_norm_(module.parameters(), max_norm)


def register() -> None:
    """Register `maddpg` and `iddpg` (the same code with decentralised critics)."""
    marl.register_algo("maddpg", MADDPG, MADDPGConfig)
    marl.register_algo("iddpg", MADDPG, IDDPGConfig)

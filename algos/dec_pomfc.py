"""Dec-POMFC (Cui, Hauck, Fabian and Koeppl, ICLR 2024): PPO on the lifted mean-field control problem.

In the mean-field limit a swarm of identical agents is one decision maker: its state is the distribution `mu`
of the agents' observations, its action a *decision rule* `xi: y -> pi(. | y)` that every agent applies to
its own observation `y`, its reward the agents' mean reward. Dec-POMFC trains that upper level with PPO
(Dec-POMFPPO) and runs the rule decentrally. Here:

- Support points `x_1..x_M`: M observations drawn at random, once, from a short random-action rollout of the
  training environment (observations standardised per dimension by that rollout's mean and standard
  deviation; constant dimensions keep scale 1). They are buffers of the model, saved in checkpoints.
- Decision rule: the upper-level network maps its input to one feature vector `phi_b` per support point;
  `theta_b = head(phi_b)` are the rule's stored action parameters (logits, or a Gaussian mean with one learned
  log standard deviation per action dimension). Agent i with observation y acts from the parameters
  `sum_b w_b(y) theta_b`, `w_b(y) = softmax_b(-|y - x_b|^2 / (2 h^2))` (normalised RBF weights, so the rule
  at a support point returns that point's parameters as `h -> 0`). The head is linear, so weighting the
  features or the parameters is the same. Continuous actions are Gaussian around the weighted mean, squashed
  into the action box as in every Gaussian policy of the suite.
- Upper-level input: `time` (default) is the step within the episode, `t / max_steps`: the rule is open loop,
  as the deterministic limit dynamics allow, and execution is fully decentralised (each agent only needs the
  shared clock and its own observation). `embedding` feeds the kernel embedding `mu_hat` instead (closed
  loop): the rule is then computed centrally from the swarm and broadcast, and each agent still applies it to
  its own observation only.
- Critic: an MLP on the kernel embedding `mu_hat_b = (1/N) sum_i exp(-|y_i - x_b|^2 / (2 h_e^2))` of the
  agents' observations (a mean over agents: permutation invariant and defined for any N), one value per copy.
- Upper-level reward: the mean of the agents' rewards at the step, given to every agent of the group.
- Upper-level PPO ratio: the upper-level action's log-likelihood is replaced by the agents' own action
  log-probabilities under the rule (the paper's approximation); each agent's ratio is clipped on its own and
  multiplied with the shared upper-level advantage (IPPO's update, inherited unchanged). The upper-level
  policy itself is deterministic in the rule parameters; all exploration comes from the agents' draws.
- Bandwidths `h` (rule) and `h_e` (embedding) are given relative to the median distance between support
  points, so one setting works across observation scales.

The embedding averages over every agent slot, so the algorithm is meant for fixed populations (the swarm
tasks, the Ising lattice); each group gets its own rule and critic.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import gymnasium as gym
import torch
from torch import Tensor, nn

import marl
from algos.ppo import IPPO, IPPOConfig
from marl.core.env import BatchedEnv, GroupSpec
from marl.learning.algorithm import coerce_config
from marl.learning.collector import Batch, Rollout
from marl.learning.distributions import ActionHead, Distribution
from marl.learning.models import ModelConfig
from marl.learning.networks import MLP

UPPER_INPUTS = ("time", "embedding")


@dataclass
class DecPOMFCConfig(IPPOConfig):
    """Dec-POMFC's hyperparameters: IPPO's (for the upper-level PPO) plus the kernel rule's."""

    support_points: int = 32  # M: observations at which the decision rule stores action parameters
    support_warmup_steps: int = 8  # random-action steps whose observations the support points are drawn from
    rule_bandwidth: float = 0.3  # RBF bandwidth of the rule's weights, times the median support distance
    embedding_bandwidth: float = 0.5  # RBF bandwidth of the critic's embedding, times the median distance
    upper_input: str = "time"  # time: open-loop rule t -> xi; embedding: closed loop mu_hat -> xi

    def validate(self) -> None:
        super().validate()
        for name in ["support_points", "support_warmup_steps"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ["rule_bandwidth", "embedding_bandwidth"]:
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.upper_input not in UPPER_INPUTS:
            raise ValueError(f"upper_input must be one of {list(UPPER_INPUTS)}, got {self.upper_input!r}")
        if self.upper_input == "time" and self.rollout_length % self.chunk_length:
            raise ValueError(
                f"rollout_length ({self.rollout_length}) must be a multiple of chunk_length "
                f"({self.chunk_length}) with upper_input 'time' (the step counter is carried like a state)"
            )


# ---------------------------------------------------------------------------------------------- kernels
def rbf_log_kernel(y: Tensor, support: Tensor, bandwidth: Tensor | float) -> Tensor:
    """`log k(y, x_b) = -|y - x_b|^2 / (2 h^2)` for `y [..., D]` and `support [M, D]`: `[..., M]`."""
    # |y|^2 + |x|^2 - 2 y.x: no [..., M, D] difference tensor (hundreds of agents x M points); the clamp
    # only removes float rounding below 0
    sq = y.pow(2).sum(-1, keepdim=True) + support.pow(2).sum(-1) - 2 * y @ support.T
    return -sq.clamp(min=0) / (2 * bandwidth**2)


def rule_weights(y: Tensor, support: Tensor, bandwidth: Tensor | float) -> Tensor:
    """Normalised RBF weights `w_b(y)` `[..., M]` (they sum to 1; a softmax, so no underflow far away)."""
    return rbf_log_kernel(y, support, bandwidth).softmax(-1)


def evaluate_rule(theta: Tensor, weights: Tensor) -> Tensor:
    """Each agent's parameters `sum_b w_b(y_i) theta_b`: `theta [..., M, P]`, `weights [..., n, M]` ->
    `[..., n, P]`. Agent i's row reads only its own weights, i.e. its own observation."""
    return weights @ theta


def kernel_embedding(obs: Tensor, support: Tensor, bandwidth: Tensor | float) -> Tensor:
    """The empirical distribution of `obs [..., n, D]` embedded at the support points: the mean over agents
    of `k(y_i, x_b)`, `[..., M]` (invariant to the agents' order)."""
    return rbf_log_kernel(obs, support, bandwidth).exp().mean(-2)


# ---------------------------------------------------------------------------------------------- networks
class UpperPolicy(nn.Module):
    """The upper-level policy: input (time or embedding) -> one feature vector per support point. Its state
    is the step counter of the copy's episode (`hidden_size` 1)."""

    hidden_size = 1

    def __init__(self, in_features: int, points: int, config: ModelConfig) -> None:
        super().__init__()
        self.points, self.features = points, config.hidden_sizes[-1]
        self.mlp = MLP(
            in_features,
            config.hidden_sizes,
            points * self.features,
            layer_norm=config.layer_norm,
            activation=config.activation,
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.mlp(x).unflatten(-1, (self.points, self.features))


class EmbeddingCritic(nn.Module):
    """The critic: kernel embedding of the swarm -> one normalised value per copy (no state)."""

    hidden_size = 0

    def __init__(self, points: int, config: ModelConfig) -> None:
        super().__init__()
        self.mlp = MLP(
            points,
            config.hidden_sizes,
            1,
            layer_norm=config.layer_norm,
            input_norm=config.input_norm,
            activation=config.activation,
        )

    def forward(self, embedding: Tensor) -> Tensor:
        return self.mlp(embedding).squeeze(-1)


class KernelRuleModel(nn.Module):
    """One group's Dec-POMFC networks, with the `actor`/`critic` interface the on-policy core reads."""

    uses_neighbours = False

    def __init__(
        self,
        spec: GroupSpec,
        observations: Tensor,
        config: DecPOMFCConfig,
        model: ModelConfig,
        horizon: int | None,
    ) -> None:
        super().__init__()
        M = config.support_points
        if observations.shape[0] < M:
            raise ValueError(
                f"support_points={M} but the warm-up rollout gave only {observations.shape[0]} observations; "
                "lower support_points or raise support_warmup_steps"
            )
        mean, std = observations.mean(0), observations.std(0)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        standard = (observations - mean) / std
        support = standard[torch.randperm(len(standard))[:M].to(standard.device)]
        distances = torch.cdist(support, support)
        # bandwidths are relative to the median distance between support points (unit scale for a single one)
        median = distances[torch.triu_indices(M, M, 1).unbind()].median() if M > 1 else distances.new_ones(())
        if not median > 0:
            raise ValueError("the support points all coincide (the warm-up observations do not vary)")
        self.register_buffer("obs_mean", mean)
        self.register_buffer("obs_std", std)
        self.register_buffer("support", support)
        self.register_buffer("rule_bandwidth", config.rule_bandwidth * median)
        self.register_buffer("embedding_bandwidth", config.embedding_bandwidth * median)
        self.upper_input, self.horizon = config.upper_input, horizon
        self.actor_network = UpperPolicy(1 if config.upper_input == "time" else M, M, model)
        self.head = ActionHead(
            spec.action_space, self.actor_network.features, init_log_std=config.init_log_std
        )
        self.critic_network = EmbeddingCritic(M, model)

    def actor_parameters(self) -> list[nn.Parameter]:
        return [*self.actor_network.parameters(), *self.head.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        return list(self.critic_network.parameters())

    def standardise(self, obs: Tensor) -> Tensor:
        return (obs - self.obs_mean) / self.obs_std

    def embedding(self, obs: Tensor) -> Tensor:
        """`mu_hat [..., M]` of the raw observations `obs [..., n, D]`."""
        return kernel_embedding(self.standardise(obs), self.support, self.embedding_bandwidth)

    def rule_features(self, upper_in: Tensor) -> Tensor:
        """`phi [..., M, F]`: the decision rule as features at the support points."""
        return self.actor_network(upper_in)

    def rule_parameters(self, upper_in: Tensor) -> Tensor:
        """`theta [..., M, P]`: the action parameters the rule stores at each support point."""
        return self.head.linear(self.rule_features(upper_in))

    def actor(
        self, obs: Tensor, hidden: Tensor, starts: Tensor, mask: Tensor | None, neighbours: Any = None
    ) -> tuple[Distribution, Tensor]:
        """Each agent's action distribution `[L, *batch, n]` from its own observation and the rule of the
        step; `hidden [*batch, n, 1]` carries the copy's step counter (restarted where the copy starts)."""
        if self.upper_input == "time":
            steps, hidden = episode_steps(hidden, starts)
            upper_in = (steps / self.horizon)[..., None]
        else:
            upper_in = self.embedding(obs)
        weights = rule_weights(self.standardise(obs), self.support, self.rule_bandwidth)
        return self.head(evaluate_rule(self.rule_features(upper_in), weights), mask), hidden

    def critic(
        self, obs: Tensor, state: Tensor, hidden: Tensor, starts: Tensor, neighbours: Any = None
    ) -> tuple[Tensor, Tensor]:
        """The copy's normalised value, repeated for each agent: `[L, *batch, n]`."""
        value = self.critic_network(self.embedding(obs))
        return value[..., None].expand(*value.shape, obs.shape[-2]), hidden


def episode_steps(hidden: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
    """Steps since each copy's episode began, `[L, *batch]`, and the counter after the sequence
    (`hidden [*batch, n, 1]`). A copy restarts where every agent starts (an agent that joins alone does not
    restart the swarm's clock)."""
    count = hidden[..., 0].amax(-1)
    steps = []
    for start in starts:
        count = torch.where(start.all(-1), torch.zeros_like(count), count)
        steps.append(count)
        count = count + 1
    return torch.stack(steps), count[..., None, None].expand(hidden.shape).clone()


@torch.no_grad()
def warmup_observations(env: BatchedEnv, steps: int) -> dict[str, Tensor]:
    """Every live agent's observation over a reset and `steps` random-action steps, per group `[K, D]`."""
    step = env.reset()
    pools: dict[str, list[Tensor]] = {g: [] for g in env.group_names}
    for k in range(steps + 1):
        for g in env.group_names:
            pools[g].append(step[g].obs[step[g].alive])
        if k < steps:
            step = env.step(env.sample_actions())
    return {g: torch.cat(pool) for g, pool in pools.items()}


# ---------------------------------------------------------------------------------------------- algorithm
class DecPOMFC(IPPO):
    """Dec-POMFPPO: IPPO's clipped update on the lifted problem, with kernel decision rules and an embedding
    critic (see the module docstring for every choice)."""

    config_class = DecPOMFCConfig

    def __init__(self, env: BatchedEnv, config: Any, device: str | torch.device, model: Any = None) -> None:
        config = coerce_config(config, DecPOMFCConfig)
        config.validate()
        model = coerce_config(ModelConfig() if model is None else model, ModelConfig)
        if model.kind != "mlp":
            raise ValueError(
                f"dec_pomfc builds its own networks (MLPs on time or the kernel embedding); model kind must "
                f"be 'mlp', got {model.kind!r}"
            )
        for g, spec in env.group_specs.items():
            if (
                not isinstance(spec.observation_space, gym.spaces.Box)
                or len(spec.observation_space.shape) != 1
            ):
                raise ValueError(
                    f"dec_pomfc needs flat Box observations (kernels on vectors); group {g!r} has "
                    f"{spec.observation_space}"
                )
        if config.upper_input == "time" and env.max_steps is None:
            raise ValueError(
                "upper_input 'time' scales the step by the episode length, but this environment has no "
                "max_steps; use upper_input 'embedding'"
            )
        self.warmup = warmup_observations(env, config.support_warmup_steps)
        super().__init__(env, config, device, model)
        del self.warmup

    @property
    def recurrent(self) -> bool:
        return self.config.upper_input == "time"

    def build_model(self, group: str) -> KernelRuleModel:
        spec = self.env.group_specs[group]
        return KernelRuleModel(spec, self.warmup[group], self.config, self.model_config, self.env.max_steps)

    def batch_from(self, rollout: Rollout) -> Batch:
        """The upper-level reward, the mean of the live agents' rewards, for every agent; then PPO's batch."""
        groups = {g: {**s, "reward": mean_reward(s["reward"], s["alive"])} for g, s in rollout.groups.items()}
        return super().batch_from(replace(rollout, groups=groups))


def mean_reward(reward: Tensor, alive: Tensor) -> Tensor:
    """`[..., n]` -> the mean over live agents, repeated for each agent."""
    weights = alive.to(reward.dtype)
    mean = (reward * weights).sum(-1) / weights.sum(-1).clamp(min=1)
    return mean[..., None].expand_as(reward)


def register() -> None:
    """Register `dec_pomfc` with the core (idempotent)."""
    marl.register_algo("dec_pomfc", DecPOMFC, DecPOMFCConfig)

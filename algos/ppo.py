"""IPPO and MAPPO: the clipped PPO objective on the shared on-policy core (`marl.learning.onpolicy`).

Each agent maximises the clipped surrogate `E[min(r A, clip(r, 1 - eps, 1 + eps) A)]` plus an entropy bonus,
where `r` is the probability ratio of the new to the rollout policy and `A` the GAE advantage; the critic
minimises a clipped Huber loss to normalised returns. The two differ in what the critic reads:

- IPPO: each agent's critic reads only that agent's observation (independent learners).
- MAPPO: the critic reads the environment's global state, by default concatenated with the agent's own
  observation (MAPPO's agent-specific global state). Actors stay decentralised in both.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

import marl
from marl.learning.collector import Batch, masked_mean
from marl.learning.onpolicy import MetricMeans, OnPolicyAlgorithm, OnPolicyConfig


@dataclass
class IPPOConfig(OnPolicyConfig):
    """IPPO's hyperparameters: the shared on-policy ones plus the PPO clip range."""

    clip: float = 0.2  # PPO ratio clip range

    def validate(self) -> None:
        super().validate()
        if not 0 < self.clip < 1:
            raise ValueError(f"clip must be in (0, 1), got {self.clip!r}")


@dataclass
class MAPPOConfig(IPPOConfig):
    """MAPPO's hyperparameters: IPPO's plus the critic's input."""

    agent_specific_state: bool = True  # critic reads the global state and the agent's own observation


class IPPO(OnPolicyAlgorithm):
    """Independent PPO: shared-parameter actors and local critics, clipped surrogate objective."""

    config_class = IPPOConfig

    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.config
        metrics = MetricMeans()
        for g, group_batch in batch.items():
            for _ in range(cfg.epochs):
                for mb in group_batch.minibatches(cfg.num_minibatches, self.generator):
                    dist, values_n = self.evaluate(g, mb)
                    log_ratio = dist.log_prob(mb.action) - mb.log_prob
                    ratio = log_ratio.exp()
                    surrogate = torch.min(
                        ratio * mb.advantages, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * mb.advantages
                    )
                    policy_loss = -masked_mean(surrogate, mb.alive)
                    entropy = masked_mean(dist.entropy(), mb.alive)
                    value_loss = self.value_loss(values_n, mb)
                    actor_norm, critic_norm = self.apply_gradients(
                        g, policy_loss - cfg.entropy_coef * entropy, value_loss
                    )
                    with torch.no_grad():
                        metrics.add(f"{g}/policy_loss", policy_loss)
                        metrics.add(f"{g}/value_loss", value_loss)
                        metrics.add(f"{g}/entropy", entropy)
                        metrics.add(f"{g}/approx_kl", masked_mean(ratio - 1 - log_ratio, mb.alive))
                        metrics.add(f"{g}/clip_fraction", masked_mean((ratio - 1).abs() > cfg.clip, mb.alive))
                        metrics.add(f"{g}/actor_grad_norm", actor_norm)
                        metrics.add(f"{g}/critic_grad_norm", critic_norm)
        return metrics.result()


class MAPPO(IPPO):
    """Multi-agent PPO: IPPO's update with a centralised critic on the global (agent-specific) state."""

    config_class = MAPPOConfig

    def critic_input(self) -> str:
        return "state_and_obs" if self.config.agent_specific_state else "state"


def register() -> None:
    """Register `ippo` and `mappo` with the core (idempotent)."""
    marl.register_algo("ippo", IPPO, IPPOConfig)
    marl.register_algo("mappo", MAPPO, MAPPOConfig)

"""DPO: decentralised policy optimisation (Su and Lu, 2022) on the shared on-policy core (`marl.learning.onpolicy`).

Each agent minimises, over its own samples,

    -E[r A] + beta_sqrt * E[sqrt(KL(old || new))] + beta_kl * E[KL(old || new)] - entropy_coef * H

with `r` the probability ratio to the rollout policy, `A` the GAE advantage of a local critic (the agent's
own observation), and the KL divergence between the rollout policy and the current one computed exactly
from the stored distribution parameters. There is no ratio clipping: the two penalty terms keep the
update inside a trust region, which the paper shows yields monotonic improvement of the joint policy when
every agent optimises its own surrogate independently.

After every update the two coefficients adapt to the measured divergence of the new policy (over live
samples): each halves when its term is below target / 1.5 and doubles above target * 1.5, and stays within
[beta_min, beta_max]. The KL term's target is `target_kl`, the sqrt term's `sqrt(target_kl)`. With
`per_agent_coefficients` each agent of a group has its own pair, adapted to its own divergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import marl
from marl.learning.collector import Batch, masked_mean
from marl.learning.onpolicy import MetricMeans, OnPolicyAlgorithm, OnPolicyConfig


@dataclass
class DPOConfig(OnPolicyConfig):
    """DPO's hyperparameters: the shared on-policy ones plus the adaptive penalty coefficients."""

    target_kl: float = 0.01  # divergence target of the KL term; the sqrt term's target is its square root
    beta_init: float = 1.0  # initial value of both coefficients
    beta_min: float = 1e-3  # lower clamp of the coefficients
    beta_max: float = 1e3  # upper clamp of the coefficients
    adapt_factor: float = 2.0  # a coefficient is multiplied or divided by this when outside the band
    adapt_band: float = 1.5  # adapt when the measured term leaves [target / band, target * band]
    per_agent_coefficients: bool = False  # one coefficient pair per agent instead of per group

    def validate(self) -> None:
        super().validate()
        if not self.target_kl > 0:
            raise ValueError(f"target_kl must be > 0, got {self.target_kl!r}")
        if not 0 < self.beta_min <= self.beta_init <= self.beta_max:
            raise ValueError(
                f"expected 0 < beta_min <= beta_init <= beta_max, got {self.beta_min}, {self.beta_init}, "
                f"{self.beta_max}"
            )
        if not self.adapt_factor > 1 or not self.adapt_band > 1:
            raise ValueError(
                f"adapt_factor and adapt_band must be > 1, got {self.adapt_factor}, {self.adapt_band}"
            )


class DPO(OnPolicyAlgorithm):
    """Decentralised policy optimisation: KL and sqrt-KL penalties with adaptive coefficients, local critics."""

    config_class = DPOConfig

    def __init__(
        self, env: marl.BatchedEnv, config: Any, device: str | torch.device, model: Any = None
    ) -> None:
        super().__init__(env, config, device, model)
        cfg = self.config
        self.beta_sqrt, self.beta_kl = {}, {}
        for g, spec in env.group_specs.items():
            size = spec.n if cfg.per_agent_coefficients else 1
            self.beta_sqrt[g] = torch.full((size,), cfg.beta_init, device=self.device)
            self.beta_kl[g] = torch.full((size,), cfg.beta_init, device=self.device)

    def update(self, batch: Batch) -> dict[str, float]:
        cfg = self.config
        metrics = MetricMeans()
        for g, group_batch in batch.items():
            head = self.models[g].head
            for _ in range(cfg.epochs):
                for mb in group_batch.minibatches(cfg.num_minibatches, self.generator):
                    dist, values_n = self.evaluate(g, mb)
                    ratio = (dist.log_prob(mb.action) - mb.log_prob).exp()
                    kl = head.from_params(mb.dist_params).kl(dist).clamp(min=0)
                    # the small constant keeps the gradient of sqrt finite where the policies still agree
                    sqrt_kl = (kl + 1e-8).sqrt()
                    agent = self._coefficient_index(mb.agent)
                    penalised = (
                        -ratio * mb.advantages
                        + self.beta_sqrt[g][agent] * sqrt_kl
                        + self.beta_kl[g][agent] * kl
                    )
                    policy_loss = masked_mean(penalised, mb.alive)
                    entropy = masked_mean(dist.entropy(), mb.alive)
                    value_loss = self.value_loss(values_n, mb)
                    actor_norm, critic_norm = self.apply_gradients(
                        g, policy_loss - cfg.entropy_coef * entropy, value_loss
                    )
                    with torch.no_grad():
                        metrics.add(f"{g}/policy_loss", policy_loss)
                        metrics.add(f"{g}/value_loss", value_loss)
                        metrics.add(f"{g}/entropy", entropy)
                        metrics.add(f"{g}/actor_grad_norm", actor_norm)
                        metrics.add(f"{g}/critic_grad_norm", critic_norm)

            # adapt the coefficients to the divergence of the updated policy from the rollout policy
            with torch.no_grad():
                data = group_batch.data
                dist, _ = self.models[g].actor(
                    data.obs, data.actor_h0, data.starts, data.action_mask, data.neighbours
                )
                kl = head.from_params(data.dist_params).kl(dist).clamp(min=0)
                agent = self._coefficient_index(data.agent).flatten()
                size = self.beta_kl[g].shape[0]
                weights = data.alive.flatten().float()
                count = torch.zeros(size, device=self.device).index_add_(0, agent, weights)
                mean_kl = torch.zeros(size, device=self.device).index_add_(0, agent, kl.flatten() * weights)
                mean_sqrt = torch.zeros(size, device=self.device).index_add_(
                    0, agent, kl.flatten().sqrt() * weights
                )
                mean_kl, mean_sqrt = mean_kl / count.clamp(min=1), mean_sqrt / count.clamp(min=1)
                has_samples = count > 0
                self.beta_kl[g] = self._adapt(self.beta_kl[g], mean_kl, cfg.target_kl, has_samples)
                self.beta_sqrt[g] = self._adapt(
                    self.beta_sqrt[g], mean_sqrt, math.sqrt(cfg.target_kl), has_samples
                )
                metrics.add(f"{g}/kl", masked_mean(kl, data.alive))
                metrics.add(f"{g}/beta_kl", self.beta_kl[g].mean())
                metrics.add(f"{g}/beta_sqrt", self.beta_sqrt[g].mean())
        return metrics.result()

    def _coefficient_index(self, agent: Tensor) -> Tensor:
        """Which coefficient each sample uses: its agent's own, or the group's single one."""
        return agent if self.config.per_agent_coefficients else torch.zeros_like(agent)

    def _adapt(self, beta: Tensor, measured: Tensor, target: float, has_samples: Tensor) -> Tensor:
        """Halve below target / band, double above target * band, clamp; agents without samples keep theirs."""
        cfg = self.config
        lower, upper = target / cfg.adapt_band, target * cfg.adapt_band
        adapted = torch.where(measured < lower, beta / cfg.adapt_factor, beta)
        adapted = torch.where(measured > upper, beta * cfg.adapt_factor, adapted)
        return torch.where(has_samples, adapted.clamp(cfg.beta_min, cfg.beta_max), beta)

    def state_dict(self) -> dict[str, Any]:
        state = super().state_dict()
        state["beta_sqrt"] = {g: b.clone() for g, b in self.beta_sqrt.items()}
        state["beta_kl"] = {g: b.clone() for g, b in self.beta_kl.items()}
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        super().load_state_dict(state)
        self.beta_sqrt = {g: b.to(self.device).clone() for g, b in state["beta_sqrt"].items()}
        self.beta_kl = {g: b.to(self.device).clone() for g, b in state["beta_kl"].items()}


def register() -> None:
    """Register `dpo` with the core (idempotent)."""
    marl.register_algo("dpo", DPO, DPOConfig)

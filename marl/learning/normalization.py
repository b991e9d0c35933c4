"""Running statistics kept on the training device: value-target normalisation for critics."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class RunningNormalizer(nn.Module):
    """Exact running mean and variance of every value seen so far (Chan et al.'s parallel merge, float64).

    Critics predict `normalize(return)`; learners read `denormalize(prediction)`. Only the entries where
    `mask` is True (live agents) enter the statistics. Disabled (`enabled=False`) it is the identity, so
    callers need no branches. The statistics are buffers: they travel with `state_dict`.
    """

    def __init__(self, enabled: bool = True, epsilon: float = 1e-5) -> None:
        super().__init__()
        self.enabled = enabled
        self.epsilon = epsilon
        self.register_buffer("mean", torch.zeros((), dtype=torch.float64))
        self.register_buffer("var", torch.ones((), dtype=torch.float64))
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: Tensor, mask: Tensor | None = None) -> None:
        if not self.enabled:
            return
        weights = torch.ones_like(x, dtype=torch.float64) if mask is None else mask.to(torch.float64)
        x = x.to(torch.float64)
        n = weights.sum()
        batch_mean = (x * weights).sum() / n.clamp(min=1)
        batch_var = ((x - batch_mean).pow(2) * weights).sum() / n.clamp(min=1)
        total = self.count + n
        delta = batch_mean - self.mean
        new_mean = self.mean + delta * n / total.clamp(min=1)
        m2 = self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total.clamp(min=1)
        # an empty batch (every agent dead) leaves the statistics as they were, without a host sync
        has_data = n > 0
        self.mean.copy_(torch.where(has_data, new_mean, self.mean))
        self.var.copy_(torch.where(has_data, m2 / total.clamp(min=1), self.var))
        self.count.copy_(total)

    def normalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        return ((x - self.mean) / (self.var + self.epsilon).sqrt()).to(x.dtype)

    def denormalize(self, x: Tensor) -> Tensor:
        if not self.enabled:
            return x
        return (x * (self.var + self.epsilon).sqrt() + self.mean).to(x.dtype)

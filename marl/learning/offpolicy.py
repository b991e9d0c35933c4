"""Machinery every off-policy learner shares: target networks with Polyak averaging, and exploration noise
for continuous (deterministic) actions. The replay buffer is in `marl.learning.replay`."""

from __future__ import annotations

import copy

import torch
from torch import Tensor, nn


def target_network(network: nn.Module) -> nn.Module:
    """A frozen copy of `network` that follows it through `polyak_update` (no gradients, no optimiser)."""
    target = copy.deepcopy(network)
    target.requires_grad_(False)
    return target


@torch.no_grad()
def polyak_update(target: nn.Module, source: nn.Module, tau: float) -> None:
    """`target <- (1 - tau) * target + tau * source`, parameter by parameter (buffers are copied)."""
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must be in (0, 1], got {tau}")
    target_params, source_params = list(target.parameters()), list(source.parameters())
    if len(target_params) != len(source_params):
        raise ValueError("target and source networks have different parameters")
    torch._foreach_lerp_(target_params, source_params, tau)
    for t, s in zip(target.buffers(), source.buffers(), strict=True):
        t.copy_(s)


def gaussian_exploration(action: Tensor, std: float, generator: torch.Generator | None = None) -> Tensor:
    """Add N(0, std^2) noise to actions normalised to [-1, 1] and keep them in that box.

    The box is the action space itself (mapped to [-1, 1]), so the clamp is part of the exploration rule:
    a noisy action beyond a bound is that bound."""
    if std < 0:
        raise ValueError(f"noise std must be >= 0, got {std}")
    if std == 0:
        return action
    noise = torch.randn(action.shape, generator=generator, device=action.device, dtype=action.dtype)
    return (action + std * noise).clamp(-1.0, 1.0)

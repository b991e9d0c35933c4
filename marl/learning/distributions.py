"""Action distributions for policy-gradient learners: masked discrete, multi-discrete and bounded Gaussian.

A policy head turns features into a distribution over *raw* actions; storage keeps raw actions and the
distribution's parameters (so exact KL divergences to the old policy can be computed later), and
`ActionHead.to_env` turns raw actions into what the environment accepts:

- `Discrete(n, start)`: raw action = index in `[0, n)`; the environment gets `index + start`. Illegal actions
  (action mask False) get probability exactly zero. A row whose mask is all False (a dead agent in some
  environments) falls back to the unmasked distribution, so no NaN appears; its samples are masked out of
  the losses anyway.
- `MultiDiscrete(nvec)`: independent categoricals, one per component; the action mask is the components'
  masks concatenated (`[..., sum(nvec)]`), each component masked like a Discrete one.
- `Box(low, high)`: a diagonal Gaussian with a state-independent learned log standard deviation. Dimensions
  with finite bounds are squashed, `low + (tanh(u) + 1) / 2 * (high - low)`, so every sampled action is
  inside the bounds without clipping; dimensions unbounded on both sides pass through. Log-probabilities,
  entropies and KL divergences are those of the unsquashed Gaussian over `u`: the squashing Jacobian is the
  same for the old and the new policy at a stored `u`, so it cancels in probability ratios and in the KL
  divergence (which is invariant under the bijection), and the entropy bonus is the Gaussian's.
"""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor, nn

from marl.learning.networks import orthogonal_init

MASKED_LOGIT = -1e8  # finite, so that 0 * (masked log-prob) stays 0 in entropies and KL divergences


class Categorical:
    """Categorical over the last dimension of `logits`, with optional legality `mask` (True = legal)."""

    def __init__(self, logits: Tensor, mask: Tensor | None = None) -> None:
        if mask is not None:
            if mask.shape != logits.shape:
                raise ValueError(f"action mask has shape {tuple(mask.shape)}, expected {tuple(logits.shape)}")
            usable = mask.bool() | ~mask.bool().any(dim=-1, keepdim=True)
            logits = torch.where(usable, logits, MASKED_LOGIT)
        self.logits = logits
        self.log_probs = torch.log_softmax(logits, dim=-1)

    @property
    def params(self) -> Tensor:
        return self.logits

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        # Gumbel-max: an exact sample; masked logits never win (their Gumbel noise is far below 1e8)
        logits = self.logits
        u = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
        u = u.clamp_(1e-20, 1.0)
        return (self.logits - torch.log(-torch.log(u))).argmax(dim=-1)

    def mode(self) -> Tensor:
        return self.logits.argmax(dim=-1)

    def log_prob(self, action: Tensor) -> Tensor:
        return self.log_probs.gather(-1, action.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> Tensor:
        return -(self.log_probs.exp() * self.log_probs).sum(dim=-1)

    def kl(self, other: Categorical) -> Tensor:
        """KL(self || other), per row."""
        return (self.log_probs.exp() * (self.log_probs - other.log_probs)).sum(dim=-1)


class MultiCategorical:
    """Independent categoricals, one per component of a MultiDiscrete action; logits are concatenated, and so
    is the optional legality `mask` (each component masked on its own, as `Categorical` does)."""

    def __init__(self, logits: Tensor, sizes: list[int], mask: Tensor | None = None) -> None:
        if mask is not None and mask.shape != logits.shape:
            raise ValueError(
                f"action mask has shape {tuple(mask.shape)}, expected {tuple(logits.shape)} "
                f"(the masks of the components {sizes} concatenated)"
            )
        self.sizes = sizes
        masks = [None] * len(sizes) if mask is None else mask.split(sizes, dim=-1)
        self.parts = [
            Categorical(part, m) for part, m in zip(logits.split(sizes, dim=-1), masks, strict=True)
        ]
        self.logits = logits if mask is None else torch.cat([p.logits for p in self.parts], dim=-1)

    @property
    def params(self) -> Tensor:
        return self.logits

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        return torch.stack([p.sample(generator) for p in self.parts], dim=-1)

    def mode(self) -> Tensor:
        return torch.stack([p.mode() for p in self.parts], dim=-1)

    def log_prob(self, action: Tensor) -> Tensor:
        return sum(p.log_prob(action[..., k]) for k, p in enumerate(self.parts))

    def entropy(self) -> Tensor:
        return sum(p.entropy() for p in self.parts)

    def kl(self, other: MultiCategorical) -> Tensor:
        return sum(p.kl(q) for p, q in zip(self.parts, other.parts, strict=True))


class DiagGaussian:
    """Diagonal Gaussian over raw (unsquashed) actions; `params` is `mean` and `log_std` concatenated."""

    def __init__(self, mean: Tensor, log_std: Tensor) -> None:
        self.mean = mean
        self.log_std = log_std.expand_as(mean)
        self.std = self.log_std.exp()

    @property
    def params(self) -> Tensor:
        return torch.cat([self.mean, self.log_std], dim=-1)

    def sample(self, generator: torch.Generator | None = None) -> Tensor:
        mean = self.mean
        noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        return mean + self.std * noise

    def mode(self) -> Tensor:
        return self.mean

    def log_prob(self, action: Tensor) -> Tensor:
        z = (action - self.mean) / self.std
        return (-0.5 * z.pow(2) - self.log_std - 0.5 * math.log(2 * math.pi)).sum(dim=-1)

    def entropy(self) -> Tensor:
        return (self.log_std + 0.5 * math.log(2 * math.pi * math.e)).sum(dim=-1)

    def kl(self, other: DiagGaussian) -> Tensor:
        var_ratio = (self.std / other.std).pow(2)
        mean_term = ((self.mean - other.mean) / other.std).pow(2)
        return 0.5 * (var_ratio + mean_term - 1 - var_ratio.log()).sum(dim=-1)


Distribution = Categorical | MultiCategorical | DiagGaussian


class ActionHead(nn.Module):
    """The last layer of a policy for one gymnasium action space: features -> action distribution."""

    def __init__(self, space: gym.spaces.Space, in_features: int, *, init_log_std: float = 0.0) -> None:
        super().__init__()
        self.space = space
        if isinstance(space, gym.spaces.Discrete):
            self.kind, out = "discrete", int(space.n)
            self.start = int(space.start)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            if space.nvec.ndim != 1:
                raise ValueError(
                    f"MultiDiscrete action spaces must be one-dimensional, got nvec {space.nvec}"
                )
            self.kind, self.sizes = "multi_discrete", [int(k) for k in space.nvec]
            out = sum(self.sizes)
        elif isinstance(space, gym.spaces.Box):
            if len(space.shape) != 1:
                raise ValueError(f"Box action spaces must be one-dimensional, got shape {space.shape}")
            low, high = np.asarray(space.low, np.float64), np.asarray(space.high, np.float64)
            finite = np.isfinite(low) & np.isfinite(high)
            one_sided = np.isfinite(low) != np.isfinite(high)
            if one_sided.any():
                raise ValueError(
                    f"Box action dimensions {np.flatnonzero(one_sided).tolist()} are bounded on one side "
                    f"only (low {space.low.tolist()}, high {space.high.tolist()}); expected both bounds "
                    "finite or both infinite"
                )
            self.kind, out = "gaussian", int(space.shape[0])
            self.log_std = nn.Parameter(torch.full((out,), float(init_log_std)))
            self.register_buffer("bounded", torch.as_tensor(finite))
            self.register_buffer("low", torch.as_tensor(np.where(finite, low, -1.0), dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(np.where(finite, high, 1.0), dtype=torch.float32))
        else:
            raise TypeError(f"unsupported action space {space!r}")
        self.linear = orthogonal_init(nn.Linear(in_features, out), 0.01)
        self.params_size = 2 * out if self.kind == "gaussian" else out
        self.raw_shape: tuple[int, ...] = (
            () if self.kind == "discrete" else (len(self.sizes),) if self.kind == "multi_discrete" else (out,)
        )
        self.raw_dtype = torch.float32 if self.kind == "gaussian" else torch.long

    def forward(self, features: Tensor, mask: Tensor | None = None) -> Distribution:
        out = self.linear(features)
        if self.kind == "discrete":
            return Categorical(out, mask)
        if self.kind == "multi_discrete":
            return MultiCategorical(out, self.sizes, mask)
        if mask is not None:
            raise ValueError(f"Box action spaces take no action mask ({self.space})")
        return DiagGaussian(out, self.log_std)

    def from_params(self, params: Tensor) -> Distribution:
        """Rebuild a stored distribution (masks are already folded into stored logits)."""
        if self.kind == "discrete":
            return Categorical(params)
        if self.kind == "multi_discrete":
            return MultiCategorical(params, self.sizes)
        mean, log_std = params.chunk(2, dim=-1)
        return DiagGaussian(mean, log_std)

    def to_env(self, raw: Tensor) -> Tensor:
        """What the environment accepts for raw actions from this head's distributions."""
        if self.kind == "discrete":
            return raw + self.start
        if self.kind == "multi_discrete":
            return raw
        return torch.where(self.bounded, unit_to_bounds(torch.tanh(raw), self.low, self.high), raw)


def unit_to_bounds(unit: Tensor, low: Tensor, high: Tensor) -> Tensor:
    """Map actions in [-1, 1] (e.g. tanh outputs) onto the box `[low, high]`; the clamp only undoes float
    rounding at the bounds."""
    return torch.minimum(torch.maximum(low + (unit + 1) * 0.5 * (high - low), low), high)

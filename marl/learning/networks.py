"""Network building blocks shared by every algorithm: an MLP with optional layer normalisation and a GRU
core that resets its hidden state at episode starts.

Every module works on any number of leading dimensions (`[..., features]`), so the same network serves one
agent, a batch of copies `[B, n, features]` or a whole rollout `[T, B, n, features]`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "leaky_relu": nn.LeakyReLU,
}


def activation_class(name: str) -> type[nn.Module]:
    """The `nn.Module` class of an activation named in a config (`"relu"`, `"tanh"`, ...)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def orthogonal_init(layer: nn.Linear, gain: float) -> nn.Linear:
    """Orthogonal weights with `gain` and zero bias: the initialisation PPO implementations rely on."""
    nn.init.orthogonal_(layer.weight, gain=gain)
    nn.init.zeros_(layer.bias)
    return layer


class MLP(nn.Module):
    """`in_features -> hidden... -> out_features`, each hidden layer `Linear -> activation [-> LayerNorm]`.

    `input_norm=True` also layer-normalises the input (MAPPO's feature normalisation), which keeps unscaled
    observations from saturating the first layer. `out_features=None` ends at the last hidden
    layer (a feature extractor); otherwise a final linear layer (no activation) is added, initialised with
    `output_gain` (small gains such as 0.01 keep a fresh policy close to uniform).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int] = (64, 64),
        out_features: int | None = None,
        *,
        layer_norm: bool = False,
        input_norm: bool = False,
        activation: str = "relu",
        output_gain: float = 1.0,
    ) -> None:
        super().__init__()
        if in_features < 1:
            raise ValueError(f"MLP needs in_features >= 1, got {in_features}")
        hidden = list(hidden)
        if any(h < 1 for h in hidden):
            raise ValueError(f"MLP hidden sizes must be positive, got {hidden}")
        if out_features is None and not hidden:
            raise ValueError("an MLP with no hidden layers needs out_features")
        act = activation_class(activation)
        known_gain = activation in ("relu", "leaky_relu", "tanh")
        gain = nn.init.calculate_gain(activation) if known_gain else math.sqrt(2)
        layers: list[nn.Module] = [nn.LayerNorm(in_features)] if input_norm else []
        width = in_features
        for size in hidden:
            layers += [orthogonal_init(nn.Linear(width, size), gain), act()]
            if layer_norm:
                layers.append(nn.LayerNorm(size))
            width = size
        if out_features is not None:
            layers.append(orthogonal_init(nn.Linear(width, out_features), output_gain))
            width = out_features
        self.in_features = in_features
        self.out_features = width
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.in_features:
            raise ValueError(f"MLP expects inputs [..., {self.in_features}], got {tuple(x.shape)}")
        return self.net(x)


class GRUCore(nn.Module):
    """A GRU cell run over a sequence `[L, *batch, features]` whose hidden state is zeroed where an episode
    starts (`starts [L, *batch]`), so one rollout chunk can span several episodes of the same copy."""

    def __init__(self, in_features: int, hidden_size: int, *, layer_norm: bool = False) -> None:
        super().__init__()
        self.cell = nn.GRUCell(in_features, hidden_size)
        for name, param in self.cell.named_parameters():
            if name.startswith("weight"):
                nn.init.orthogonal_(param)
            else:
                nn.init.zeros_(param)
        self.norm = nn.LayerNorm(hidden_size) if layer_norm else nn.Identity()
        self.hidden_size = hidden_size

    def forward(self, x: Tensor, hidden: Tensor, starts: Tensor) -> tuple[Tensor, Tensor]:
        """Returns the output features `[L, *batch, hidden]` and the hidden state after the last step."""
        if hidden.shape != (*x.shape[1:-1], self.hidden_size) or starts.shape != x.shape[:-1]:
            raise ValueError(
                f"GRUCore got x {tuple(x.shape)}, hidden {tuple(hidden.shape)}, starts {tuple(starts.shape)}; "
                f"expected [L, *batch, F], [*batch, {self.hidden_size}] and [L, *batch]"
            )
        batch_shape = hidden.shape[:-1]
        h = hidden.reshape(-1, self.hidden_size)
        keep = (~starts.bool()).reshape(starts.shape[0], -1, 1).to(h.dtype)
        flat_x = x.reshape(x.shape[0], -1, x.shape[-1])
        outputs = []
        for t in range(x.shape[0]):
            h = self.cell(flat_x[t], h * keep[t])
            outputs.append(h)
        out = torch.stack(outputs).reshape(x.shape[0], *batch_shape, self.hidden_size)
        return self.norm(out), h.reshape(*batch_shape, self.hidden_size)

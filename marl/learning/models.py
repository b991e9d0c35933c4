"""Models as a config group: the network of one group of agents, built from its observation space.

`ModelConfig.kind` (`model=mlp|cnn|entity|gru|gnn` on the command line) says how much of an observation's
structure the network uses. Each kind adds to the one before, and a group uses what its observation has, so
one choice fits every group of an environment (a vector group under `cnn` simply gets an MLP):

- `mlp`: every field flattened, then the MLP trunk;
- `cnn`: a grid field `[C, H, W]` through convolutions that keep its size, the rest flattened;
- `entity`: as `cnn`, and an entity set `[K, F]` (with its `<name>_mask [K]` field) through one MLP per
  entity, pooled by masked mean and max;
- `gru`: as `entity`, then a GRU after the trunk (memory within an episode);
- `gnn`: as `entity`, then graph convolutions (torch-geometric) over the group's neighbours.

A plain Box observation is one field; a Dict observation is one field per key. Agents of a group share the
network; an agent's slot index selects a learned embedding (`agent_id_size` wide) that is concatenated to its
encoded observation, so no per-agent id is ever stored. Every input is `[*lead, n, ...]`: the agents of a
copy stay together on the axis before the features, so graph layers see the whole group.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import gymnasium as gym
import torch
from torch import Tensor, nn

from marl.core.env import GroupSpec, Neighbours, Observation
from marl.learning.distributions import ActionHead, Distribution
from marl.learning.networks import MLP, GRUCore, activation_class, orthogonal_init

MODEL_KINDS = ("mlp", "cnn", "entity", "gru", "gnn")
GRAPH_CONVOLUTIONS = ("graph", "gatv2")
NeighbourTensors = tuple[Tensor, Tensor]  # neighbour index and mask `[*lead, n, k]` (a `marl.Neighbours`'s)


@dataclass
class ModelConfig:
    """The networks of actors and critics (one per group, shared by its agents); kinds: the module docstring."""

    kind: str = "mlp"  # mlp, cnn, entity, gru or gnn: how much observation structure the network uses
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])  # widths of the MLP trunk
    activation: str = "relu"  # relu, tanh, elu, gelu, silu or leaky_relu
    layer_norm: bool = True  # LayerNorm after every hidden layer of the trunk
    input_norm: bool = True  # LayerNorm on the trunk's input (MAPPO's feature normalisation)
    agent_id_size: int = 8  # width of the learned agent-id embedding; 0: no ids (the network runs any n)
    gru_hidden: int = 64  # GRU width (kind gru)
    cnn_channels: list[int] = field(default_factory=lambda: [16, 16])  # conv layers on grids (cnn and up)
    cnn_kernel: int = 3  # odd kernel size; padding keeps the grid's size
    entity_size: int = 32  # width of the per-entity MLP (entity and up)
    gnn_layers: int = 1  # graph convolutions after the trunk (kind gnn)
    gnn_conv: str = "graph"  # graph: GraphConv (mean over neighbours); gatv2: GATv2Conv (attention)

    def validate(self) -> None:
        """Raise a clear error for a value outside its meaningful range."""
        if self.kind not in MODEL_KINDS:
            raise ValueError(f"model kind must be one of {list(MODEL_KINDS)}, got {self.kind!r}")
        for name in ["hidden_sizes", "cnn_channels"]:
            sizes = getattr(self, name)
            if not sizes or any(isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in sizes):
                raise ValueError(f"{name} must be a non-empty list of positive ints, got {sizes}")
        for name in ["gru_hidden", "entity_size", "gnn_layers"]:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if (
            isinstance(self.agent_id_size, bool)
            or not isinstance(self.agent_id_size, int)
            or self.agent_id_size < 0
        ):
            raise ValueError(f"agent_id_size must be an integer >= 0, got {self.agent_id_size!r}")
        if self.cnn_kernel < 1 or self.cnn_kernel % 2 == 0:
            raise ValueError(f"cnn_kernel must be a positive odd integer, got {self.cnn_kernel!r}")
        if self.gnn_conv not in GRAPH_CONVOLUTIONS:
            raise ValueError(f"gnn_conv must be one of {list(GRAPH_CONVOLUTIONS)}, got {self.gnn_conv!r}")
        activation_class(self.activation)

    @property
    def uses_grids(self) -> bool:
        return self.kind != "mlp"

    @property
    def uses_entities(self) -> bool:
        return self.kind not in ("mlp", "cnn")


# ---------------------------------------------------------------------------------------------- fields
class FlatField(nn.Module):
    """A field of any shape, flattened to a vector."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.dims, self.out_features = len(shape), math.prod(shape)

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(*x.shape[: x.dim() - self.dims], self.out_features).float()


class GridField(nn.Module):
    """A `[C, H, W]` grid through convolutions that keep its size, then flattened."""

    def __init__(self, shape: tuple[int, ...], config: ModelConfig) -> None:
        super().__init__()
        channels, height, width = shape
        activation = activation_class(config.activation)
        layers: list[nn.Module] = []
        for out in config.cnn_channels:
            layers += [
                nn.Conv2d(channels, out, config.cnn_kernel, padding=config.cnn_kernel // 2),
                activation(),
            ]
            channels = out
        self.net = nn.Sequential(*layers)
        self.out_features = channels * height * width

    def forward(self, x: Tensor) -> Tensor:
        lead = x.shape[:-3]
        features = self.net(x.reshape(-1, *x.shape[-3:]).float())
        return features.reshape(*lead, self.out_features)


class EntityField(nn.Module):
    """A set of up to K entities `[K, F]` with a validity mask `[K]`: one MLP per entity (shared), then the
    mean and the maximum over the valid entities (zeros where none is), so the features depend neither on the
    entities' order nor on the empty slots."""

    def __init__(self, features: int, config: ModelConfig) -> None:
        super().__init__()
        size = config.entity_size
        self.mlp = MLP(features, [size, size], activation=config.activation)
        self.out_features = 2 * size

    def forward(self, entities: Tensor, mask: Tensor) -> Tensor:
        encoded = self.mlp(entities.float())
        valid = mask.bool()[..., None]
        mean = (encoded * valid).sum(-2) / valid.sum(-2).clamp(min=1)
        top = encoded.masked_fill(~valid, -torch.inf).amax(-2)
        top = torch.where(valid.any(-2), top, 0.0)
        return torch.cat([mean, top], dim=-1)


def entity_sets(spaces: Mapping[str, gym.spaces.Box]) -> dict[str, str]:
    """`{entity field: its mask field}` for every `[K, F]` field that has a `<name>_mask` field of shape `[K]`."""
    found = {}
    for key, space in spaces.items():
        mask_key = f"{key}_mask"
        if mask_key not in spaces:
            continue
        if len(space.shape) != 2 or spaces[mask_key].shape != space.shape[:1]:
            raise ValueError(
                f"observation field {key!r} {space.shape} with {mask_key!r} {spaces[mask_key].shape} is not an "
                "entity set: expected [K, F] and [K]"
            )
        found[key] = mask_key
    return found


class ObservationEncoder(nn.Module):
    """One agent's observation (a Box tensor, or a dict of named Box tensors) -> one feature vector."""

    def __init__(self, space: gym.spaces.Space | Mapping[str, gym.spaces.Box], config: ModelConfig) -> None:
        super().__init__()
        self.is_dict = not isinstance(space, gym.spaces.Box)
        spaces = (
            dict(space.spaces if isinstance(space, gym.spaces.Dict) else space)
            if self.is_dict
            else {"": space}
        )
        for key, sub in spaces.items():
            if not isinstance(sub, gym.spaces.Box):
                raise TypeError(f"observation field {key!r} must be a gymnasium Box, got {sub!r}")
        masks = entity_sets(spaces) if config.uses_entities else {}
        self.fields: list[tuple[str, str | None]] = []
        parts = []
        for key, sub in spaces.items():
            if key in masks.values():
                continue  # read together with its entity set
            if key in masks:
                parts.append(EntityField(sub.shape[1], config))
            elif config.uses_grids and len(sub.shape) == 3:
                parts.append(GridField(sub.shape, config))
            else:
                parts.append(FlatField(sub.shape))
            self.fields.append((key, masks.get(key)))
        self.parts = nn.ModuleList(parts)
        self.out_features = sum(part.out_features for part in parts)

    def features(self, obs: Observation) -> list[Tensor]:
        """The encoded fields, in order (the caller concatenates them, with anything else, in one go)."""
        if not self.is_dict:
            return [self.parts[0](obs)]
        return [
            part(obs[key]) if mask is None else part(obs[key], obs[mask])
            for (key, mask), part in zip(self.fields, self.parts, strict=True)
        ]

    def forward(self, obs: Observation) -> Tensor:
        features = self.features(obs)
        return features[0] if len(features) == 1 else torch.cat(features, dim=-1)


# ---------------------------------------------------------------------------------------------- network
class GroupNetwork(nn.Module):
    """Observation encoder, agent-id embedding, MLP trunk, then a GRU (`gru`) or graph layers (`gnn`).

    Feed-forward networks carry a zero-width recurrent state, so storage and minibatching treat all alike.
    """

    def __init__(
        self,
        space: gym.spaces.Space | Mapping[str, gym.spaces.Box],
        n_agents: int,
        config: ModelConfig,
        has_neighbours: bool,
    ) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(space, config)
        self.n_agents = n_agents
        self.agent_id = nn.Embedding(n_agents, config.agent_id_size) if config.agent_id_size else None
        self.trunk = MLP(
            self.encoder.out_features + config.agent_id_size,
            config.hidden_sizes,
            layer_norm=config.layer_norm,
            input_norm=config.input_norm,
            activation=config.activation,
        )
        width = self.trunk.out_features
        self.gru = (
            GRUCore(width, config.gru_hidden, layer_norm=config.layer_norm) if config.kind == "gru" else None
        )
        self.hidden_size = config.gru_hidden if self.gru is not None else 0
        self.out_features = self.hidden_size or width
        self.graph = nn.ModuleList(
            graph_convolution(config.gnn_conv, width)
            for _ in range(config.gnn_layers if config.kind == "gnn" and has_neighbours else 0)
        )
        self.graph_activation = activation_class(config.activation)()
        self.uses_neighbours = len(self.graph) > 0

    def forward(
        self, obs: Observation, hidden: Tensor, starts: Tensor, neighbours: NeighbourTensors | None = None
    ) -> tuple[Tensor, Tensor]:
        """`obs [L, *batch, n, ...]`, `hidden [*batch, n, H]`, `starts [L, *batch, n]` (reset the GRU there),
        `neighbours` index and mask `[L, *batch, n, k]` (gnn) -> features and the last hidden state."""
        features = self.encoder.features(obs)
        if self.agent_id is not None:
            n = features[0].shape[-2]
            if n != self.n_agents:
                raise ValueError(
                    f"this network has agent ids for {self.n_agents} agents but got {n}; "
                    "use model.agent_id_size=0 for a network that runs any number of agents"
                )
            features.append(self.agent_id.weight.expand(*features[0].shape[:-1], -1))
        x = features[0] if len(features) == 1 else torch.cat(features, dim=-1)
        x = self.trunk(x)
        if self.gru is not None:
            return self.gru(x, hidden, starts)
        if self.uses_neighbours:
            x = self._message_passing(x, neighbours)
        return x, hidden

    def _message_passing(self, x: Tensor, neighbours: NeighbourTensors | None) -> Tensor:
        """Graph convolutions over every copy's neighbour graph (nodes `copy * n + agent`; the edges are the
        neighbour slots the environment filled)."""
        if neighbours is None:
            raise ValueError("a gnn network needs the group's neighbours, got None")
        index, mask = neighbours
        n, k, width = x.shape[-2], index.shape[-1], x.shape[-1]
        edge_index = Neighbours(index.reshape(-1, n, k), mask.reshape(-1, n, k)).edge_index()
        nodes = x.reshape(-1, width)
        for conv in self.graph:
            nodes = self.graph_activation(conv(nodes, edge_index))
        return nodes.reshape(x.shape)


def graph_convolution(kind: str, width: int) -> nn.Module:
    """A torch-geometric convolution `width -> width` that aggregates from each agent's neighbours."""
    from torch_geometric.nn import GATv2Conv, GraphConv

    if kind == "graph":
        return GraphConv(width, width, aggr="mean")
    return GATv2Conv(width, width)


# ---------------------------------------------------------------------------------------------- actor-critic
CRITIC_INPUTS = ("obs", "state", "state_and_obs")


class ActorCritic(nn.Module):
    """The actor and the critic shared by the agents of one group.

    The actor reads only the agent's own observation (decentralised execution). The critic reads
    `critic_input`: `obs` (the agent's own observation), `state` (the environment's global state) or
    `state_and_obs` (both: MAPPO's agent-specific global state, one extra `state` field of the observation).
    """

    def __init__(
        self,
        spec: GroupSpec,
        state_space: gym.spaces.Box,
        config: ModelConfig,
        critic_input: str = "obs",
        init_log_std: float = 0.0,
    ) -> None:
        super().__init__()
        if critic_input not in CRITIC_INPUTS:
            raise ValueError(f"critic_input must be one of {list(CRITIC_INPUTS)}, got {critic_input!r}")
        has_neighbours = spec.neighbours > 0
        self.critic_input = critic_input
        self.actor_network = GroupNetwork(spec.observation_space, spec.n, config, has_neighbours)
        self.head = ActionHead(spec.action_space, self.actor_network.out_features, init_log_std=init_log_std)
        self.critic_network = GroupNetwork(
            critic_space(spec.observation_space, state_space, critic_input), spec.n, config, has_neighbours
        )
        self.value_out = orthogonal_init(nn.Linear(self.critic_network.out_features, 1), 1.0)
        self.uses_neighbours = self.actor_network.uses_neighbours

    def actor_parameters(self) -> list[nn.Parameter]:
        return [*self.actor_network.parameters(), *self.head.parameters()]

    def critic_parameters(self) -> list[nn.Parameter]:
        return [*self.critic_network.parameters(), *self.value_out.parameters()]

    def actor(
        self,
        obs: Observation,
        hidden: Tensor,
        starts: Tensor,
        mask: Tensor | None,
        neighbours: NeighbourTensors | None = None,
    ) -> tuple[Distribution, Tensor]:
        features, hidden = self.actor_network(obs, hidden, starts, neighbours)
        return self.head(features, mask), hidden

    def critic(
        self,
        obs: Observation,
        state: Tensor,
        hidden: Tensor,
        starts: Tensor,
        neighbours: NeighbourTensors | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Normalised value predictions `[L, *batch, n]` and the last hidden state; `state [L, *batch, S]`."""
        features, hidden = self.critic_network(
            self._critic_observation(obs, state), hidden, starts, neighbours
        )
        return self.value_out(features).squeeze(-1), hidden

    def _critic_observation(self, obs: Observation, state: Tensor) -> Observation:
        if self.critic_input == "obs":
            return obs
        some_field = obs if isinstance(obs, Tensor) else next(iter(obs.values()))
        n = some_field.shape[state.dim() - 1]
        shared = state[..., None, :].expand(*state.shape[:-1], n, state.shape[-1])
        if self.critic_input == "state":
            return shared
        return {"state": shared, **(obs if isinstance(obs, dict) else {"obs": obs})}


def critic_space(
    obs_space: gym.spaces.Space, state_space: gym.spaces.Box, critic_input: str
) -> gym.spaces.Space | dict[str, gym.spaces.Box]:
    """The space of what a critic reads (a plain dict of fields when it combines state and observation)."""
    if critic_input == "obs":
        return obs_space
    if critic_input == "state":
        return state_space
    fields = dict(obs_space.spaces) if isinstance(obs_space, gym.spaces.Dict) else {"obs": obs_space}
    if "state" in fields:
        raise ValueError(
            "the observation has a field called 'state', which the critic's global state would hide"
        )
    return {"state": state_space, **fields}

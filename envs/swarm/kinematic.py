"""Kinematic swarm tasks on a torus: Vicsek flocking and Kuramoto phase synchronisation.

Both follow the textbook models (see /docs/environments/swarm.md) with the agents' actions added on top of
the model's own coupling, whose strength is a parameter (0 by default: the agents must learn to align).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.swarm.base import GROUP, ObservationBlock, SwarmConfig, SwarmEnv, scalar_action_levels, wrap_angle
from envs.swarm.render import TICK_COLOUR, Canvas, hue_colours
from marl.core.neighbours import Neighbours
from marl.core.validation import check_int, check_number, validated


def order_parameter(angles: Tensor) -> Tensor:
    """`|mean_j exp(i angle_j)|` over the last dimension: 1 when all angles agree, ~0 when spread out.
    For headings this is the Vicsek polarisation, for phases the Kuramoto order parameter r."""
    return torch.stack([angles.cos().mean(-1), angles.sin().mean(-1)], dim=-1).norm(dim=-1)


def neighbourhood_mean_direction(angles: Tensor, nb: Neighbours) -> tuple[Tensor, Tensor]:
    """Sum of `(cos, sin)` over each agent's neighbours and itself: `[B, N]` each (not normalised)."""
    cos, sin = angles.cos(), angles.sin()
    return cos + nb.gather(cos).sum(-1), sin + nb.gather(sin).sum(-1)


@dataclass
class TorusConfig(SwarmConfig):
    """Keys of the torus tasks: the torus' side and the discrete action's levels."""

    world_size: float = 4.0  # side of the torus
    n_discrete_actions: int = 5  # with continuous_actions=False: levels spread evenly over [-1, 1]

    def validate(self) -> None:
        super().validate()
        check_number("world_size", self.world_size, low=0.0, low_open=True)
        check_int("n_discrete_actions", self.n_discrete_actions, low=2)


class _TorusSwarm(SwarmEnv):
    """Shared parts of the two torus tasks: a scalar angle action per agent and the neighbour features
    (offset normalised by the sensing scale, neighbour angle relative to one's own)."""

    def __init__(
        self,
        config: TorusConfig,
        *,
        own_features: int,
        state_features: int,
        num_envs: int,
        device: str | torch.device,
        seed: int | None,
    ) -> None:
        self.continuous_actions = config.continuous_actions
        if self.continuous_actions:
            action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        else:
            action_space = gym.spaces.Discrete(config.n_discrete_actions)
        super().__init__(
            config,
            world_size=config.world_size,
            torus=True,
            own_features=own_features,
            blocks=[ObservationBlock("neighbours", config.k_neighbours, 4)],
            action_space=action_space,
            state_size=config.n_agents * state_features,
            num_envs=num_envs,
            device=device,
            seed=seed,
        )
        # discs 1.5% of the side, smaller in crowded swarms (a quarter of the mean spacing) so they stay apart
        self.render_radius = min(0.015, 0.25 / math.sqrt(self.n_agents)) * self.world_size
        radius = self.neighbour_radius
        self.sensing_scale = self.world_size / 2 if radius is None else min(radius, self.world_size / 2)
        if not self.continuous_actions:
            self._levels = scalar_action_levels(int(action_space.n), self.device)
        B, N = self.num_envs, self.n_agents
        self.pos = torch.zeros(B, N, 2, device=self.device)
        self.angle = torch.zeros(B, N, device=self.device)

    def positions(self) -> Tensor:
        return self.pos

    def _action_fraction(self, actions: dict[str, Tensor]) -> Tensor:
        """The action as a fraction in [-1, 1] of the largest turn / phase step, `[B, N]`."""
        a = actions[GROUP]
        return a[..., 0] if self.continuous_actions else self._levels[a]

    def _noise(self, width: float) -> Tensor:
        """Uniform noise in `[-width/2, width/2]` per agent (Vicsek's convention)."""
        u = torch.rand(self.angle.shape, generator=self.generator, device=self.device)
        return (u - 0.5) * width

    def _blocks_features(self) -> list[tuple[Tensor, Tensor]]:
        nb = self.neighbours()
        relative = nb.gather(self.angle) - self.angle[..., None]
        features = torch.cat(
            [nb.offset / self.sensing_scale, relative.cos()[..., None], relative.sin()[..., None]], dim=-1
        )
        return [(features * nb.mask[..., None], nb.mask)]

    def _random_positions(self) -> Tensor:
        B, N = self.num_envs, self.n_agents
        return torch.rand(B, N, 2, generator=self.generator, device=self.device) * self.world_size

    def _random_angles(self) -> Tensor:
        B, N = self.num_envs, self.n_agents
        return (torch.rand(B, N, generator=self.generator, device=self.device) * 2 - 1) * math.pi

    def _order(self) -> Tensor:
        return order_parameter(self.angle)

    def _state(self) -> Tensor:
        """Every agent's position (scaled to [-1, 1]) and own features, in agent order."""
        positions = self.pos / self.world_size * 2 - 1
        state = torch.cat([positions, self._own_features()], dim=-1)
        return state.reshape(self.num_envs, -1).clamp_(-1.0, 1.0)

    def _discs(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Agents as discs coloured by their heading / phase on the hue circle."""
        angle = self.angle[index].cpu().numpy()
        sizes = np.full(self.n_agents, self.render_radius)
        return self.pos[index].cpu().numpy(), sizes, hue_colours((angle + math.pi) / (2 * math.pi))

    def _draw_marks(self, canvas: Canvas, index: int) -> None:
        """A tick from each agent's centre along its heading / phase."""
        pos, angle = self.pos[index].cpu().numpy(), self.angle[index].cpu().numpy()
        tips = pos + 2 * self.render_radius * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        canvas.segments(pos, tips, TICK_COLOUR)


@dataclass
class VicsekConfig(TorusConfig):
    """Vicsek's keys: speed, turning, noise and the model's own alignment (0: the agents must learn it)."""

    speed: float = 0.1
    dt: float = 1.0
    max_turn: float = 0.5  # the largest turn per step an action asks for (radians)
    noise: float = 0.1  # width of the uniform heading noise (radians)
    alignment: float = 0.0  # 1 with zero actions: the classic Vicsek model

    def validate(self) -> None:
        super().validate()
        check_number("speed", self.speed, low=0.0)
        check_number("dt", self.dt, low=0.0, low_open=True)
        check_number("max_turn", self.max_turn, low=0.0, high=math.pi)
        check_number("noise", self.noise, low=0.0, high=2 * math.pi)
        check_number("alignment", self.alignment, low=0.0, high=1.0)


class Vicsek(_TorusSwarm):
    """Vicsek flocking: agents move at constant speed on a torus and steer their heading; the shared reward
    is the polarisation `|sum_i (cos th_i, sin th_i)| / N`.

    Per step: `th_i <- th_i + alignment * wrap(arg(sum_{j in N_i + i} e^{i th_j}) - th_i)
    + action_i * max_turn + U[-noise/2, noise/2]`, then `x_i <- x_i + speed * dt * (cos th_i, sin th_i)`
    (mod world_size). `alignment=1` with zero actions is the classic Vicsek model.
    Observation: own (cos th, sin th); per neighbour (dx, dy) / sensing scale, cos and sin of its heading
    relative to one's own.
    """

    config_class = VicsekConfig

    def __init__(
        self,
        config: VicsekConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        self.speed, self.dt, self.max_turn = config.speed, config.dt, config.max_turn
        self.noise, self.alignment = config.noise, config.alignment
        super().__init__(
            config, own_features=2, state_features=4, num_envs=num_envs, device=device, seed=seed
        )

    def _reset(self, mask: Tensor) -> None:
        if self._nothing_to_reset(mask):
            return
        self.pos = self.where(mask, self._random_positions(), self.pos)
        self.angle = self.where(mask, self._random_angles(), self.angle)
        self._forget_metric(mask)
        self._state_changed()

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        turn = self._action_fraction(actions) * self.max_turn
        if self.alignment > 0:
            cos, sin = neighbourhood_mean_direction(self.angle, self.neighbours())
            turn = turn + self.alignment * wrap_angle(torch.atan2(sin, cos) - self.angle)
        self.angle = wrap_angle(self.angle + turn + self._noise(self.noise))
        heading = torch.stack([self.angle.cos(), self.angle.sin()], dim=-1)
        self.pos = torch.remainder(self.pos + self.speed * self.dt * heading, self.world_size)
        self._state_changed()
        polarisation = self._order()
        self._record_metric(polarisation)
        reward = polarisation[:, None].expand(-1, self.n_agents)
        return {GROUP: (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _own_features(self) -> Tensor:
        return torch.stack([self.angle.cos(), self.angle.sin()], dim=-1)

    def _episode_stats(self) -> dict[str, Tensor]:
        return self._metric_stats("polarisation")


@dataclass
class KuramotoConfig(TorusConfig):
    """Kuramoto's keys: the oscillators' frequencies, the model's own coupling and the action's reach."""

    dt: float = 0.1
    freq_mean: float = 0.0
    freq_spread: float = 1.0  # natural frequencies ~ U[freq_mean - freq_spread, freq_mean + freq_spread]
    coupling: float = 0.0  # the model's coupling K (0: the agents must learn to synchronise)
    max_phase_step: float = 0.5  # the largest phase change per step an action asks for (radians)
    noise: float = 0.0  # width of the uniform phase noise (radians)

    def validate(self) -> None:
        super().validate()
        check_number("dt", self.dt, low=0.0, low_open=True)
        check_number("freq_mean", self.freq_mean)
        check_number("freq_spread", self.freq_spread, low=0.0)
        check_number("coupling", self.coupling)
        check_number("max_phase_step", self.max_phase_step, low=0.0, high=math.pi)
        check_number("noise", self.noise, low=0.0, high=2 * math.pi)


class Kuramoto(_TorusSwarm):
    """Kuramoto synchronisation: each agent is an oscillator with phase th_i and natural frequency w_i, at a
    fixed random position on a torus; it nudges its own phase. The shared reward is the order parameter
    `r = |mean_j exp(i th_j)|`.

    Per step: `th_i <- th_i + dt * (w_i + coupling * mean_{j in N_i + i} sin(th_j - th_i))
    + action_i * max_phase_step + U[-noise/2, noise/2]`, with `w_i ~ U[freq_mean - freq_spread,
    freq_mean + freq_spread]` drawn per episode. With `k_neighbours = n_agents - 1` (and no radius) the
    coupling term is the classic all-to-all `(K / N) sum_j sin(th_j - th_i)`.
    Observation: own (cos th, sin th, (w - freq_mean) / freq_spread); per neighbour (dx, dy) / sensing scale,
    cos and sin of its phase relative to one's own.
    """

    config_class = KuramotoConfig

    def __init__(
        self,
        config: KuramotoConfig | None = None,
        num_envs: int = 1,
        device: str = "cpu",
        seed: int | None = None,
    ) -> None:
        config = validated(config, self.config_class)
        self.dt, self.freq_mean, self.freq_spread = config.dt, config.freq_mean, config.freq_spread
        self.coupling, self.max_phase_step, self.noise = config.coupling, config.max_phase_step, config.noise
        super().__init__(
            config, own_features=3, state_features=5, num_envs=num_envs, device=device, seed=seed
        )
        self.frequency = torch.zeros(self.num_envs, self.n_agents, device=self.device)

    def _reset(self, mask: Tensor) -> None:
        if self._nothing_to_reset(mask):
            return
        self.pos = self.where(mask, self._random_positions(), self.pos)
        self.angle = self.where(mask, self._random_angles(), self.angle)
        u = torch.rand(self.angle.shape, generator=self.generator, device=self.device) * 2 - 1
        self.frequency = self.where(mask, self.freq_mean + self.freq_spread * u, self.frequency)
        self._forget_metric(mask)
        self._state_changed()

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        drift = self.frequency
        if self.coupling != 0:
            nb = self.neighbours()
            pull = (torch.sin(nb.gather(self.angle) - self.angle[..., None]) * nb.mask).sum(-1)
            drift = drift + self.coupling * pull / (nb.mask.sum(-1) + 1)
        step = self.dt * drift + self._action_fraction(actions) * self.max_phase_step
        self.angle = wrap_angle(self.angle + step + self._noise(self.noise))
        # positions do not move, so the neighbour lists stay valid
        synchrony = self._order()
        self._record_metric(synchrony)
        reward = synchrony[:, None].expand(-1, self.n_agents)
        return {GROUP: (reward, torch.zeros_like(reward, dtype=torch.bool))}

    def _normalised_frequency(self) -> Tensor:
        if self.freq_spread == 0:
            return torch.zeros_like(self.frequency)
        return (self.frequency - self.freq_mean) / self.freq_spread

    def _own_features(self) -> Tensor:
        return torch.stack([self.angle.cos(), self.angle.sin(), self._normalised_frequency()], dim=-1)

    def _episode_stats(self) -> dict[str, Tensor]:
        return self._metric_stats("synchrony")

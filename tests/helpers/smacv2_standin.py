"""A stand-in for SMACv2's `StarCraftCapabilityEnvWrapper`, for testing the smacv2/* adapter without StarCraft II.

It has SMACv2's method names, arguments and return shapes (`smacv2/env/starcraft2/starcraft2.py` and
`wrapper.py` at oxwhirl/smacv2@577ab5a): `reset() -> (obs list, state)`, `step(actions) -> (reward, terminated,
info)` with `battle_won`, `dead_allies`, `dead_enemies` (and `episode_limit` at the time limit when built with
`continuing_episode=True`), `get_obs`, `get_state`, `get_avail_actions` (no-op for dead units only; stop,
four moves, one attack per enemy in range), `get_env_info` with SMACv2's keys, `get_stats`, `render`, `close`,
`seed()`. The game is a small scripted battle on a 32x32 map, random only through `np.random.default_rng(seed)`
(start positions and enemy damage): enemies walk to the closest ally and shoot it when in range.
"""

from __future__ import annotations

from typing import Any

import numpy as np

MOVES = {2: (0, 1), 3: (0, -1), 4: (1, 0), 5: (-1, 0)}  # SMACv2's north, south, east, west
N_NO_ATTACK = 6  # no-op, stop, four moves
MAP = 32
RANGE = 6.0
MOVE = 2.0


class StandInSMACv2:
    """A scripted battle with SMACv2's interface (see the module docstring); `closed` is set by `close()`."""

    def __init__(
        self,
        capability_config: dict[str, Any],
        map_name: str = "10gen_protoss",
        seed: int | None = None,
        continuing_episode: bool = False,
        episode_limit: int = 30,
        ally_damage: float = 20.0,
        enemy_damage: tuple[int, int] = (5, 25),
        **kwargs: Any,
    ) -> None:
        self.n_agents = capability_config["n_units"]
        self.n_enemies = capability_config["n_enemies"]
        self.map_name, self._seed, self.kwargs = map_name, seed, kwargs
        self.continuing_episode = continuing_episode
        self.episode_limit = episode_limit
        self.ally_damage, self.enemy_damage = ally_damage, enemy_damage
        self.n_actions = N_NO_ATTACK + self.n_enemies
        self.rng = np.random.default_rng(seed)
        self.closed = False
        self.resets = 0
        self.battles_won = self.battles_game = self.timeouts = 0
        self.max_reward = 10 * self.n_enemies + 200 + 60.0 * self.n_enemies

    # ------------------------------------------------------------------ SMACv2's interface
    def reset(self) -> tuple[list[np.ndarray], np.ndarray]:
        self.resets += 1
        self._episode_steps = 0
        self.ally_pos = np.stack(
            [self.rng.uniform(8, 12, self.n_agents), np.linspace(8, 24, self.n_agents)], 1
        )
        self.enemy_pos = np.stack(
            [self.rng.uniform(16, 20, self.n_enemies), np.linspace(8, 24, self.n_enemies)], 1
        )
        self.ally_health = np.full(self.n_agents, 100.0)
        self.enemy_health = np.full(self.n_enemies, 60.0)
        self.last_action = np.zeros((self.n_agents, self.n_actions))
        return self.get_obs(), self.get_state()

    def step(self, actions: list[int]) -> tuple[float, bool, dict[str, Any]]:
        actions = [int(a) for a in actions]
        self.last_action = np.eye(self.n_actions)[actions]
        for a, action in enumerate(actions):  # as SMACv2 does, all against the state before the step
            assert self.get_avail_agent_actions(a)[action] == 1, f"Agent {a} cannot perform action {action}"
        reward = 0.0
        for a, action in enumerate(actions):
            if action in MOVES:
                self.ally_pos[a] += MOVE * np.array(MOVES[action])
            elif action >= N_NO_ATTACK:
                e = action - N_NO_ATTACK
                damage = min(self.ally_damage, self.enemy_health[e])
                self.enemy_health[e] -= damage
                reward += damage + (10.0 if self.enemy_health[e] == 0 else 0.0)
        for e in np.flatnonzero(self.enemy_health > 0):  # the scripted enemies
            alive = np.flatnonzero(self.ally_health > 0)
            if len(alive) == 0:
                break
            dist = np.linalg.norm(self.ally_pos[alive] - self.enemy_pos[e], axis=1)
            target = alive[np.argmin(dist)]
            if dist.min() <= RANGE:
                low, high = self.enemy_damage
                self.ally_health[target] = max(
                    0.0, self.ally_health[target] - self.rng.integers(low, high + 1)
                )
            else:
                step = self.ally_pos[target] - self.enemy_pos[e]
                self.enemy_pos[e] += step / np.linalg.norm(step)
        self._episode_steps += 1
        dead_allies, dead_enemies = int((self.ally_health == 0).sum()), int((self.enemy_health == 0).sum())
        info = {"battle_won": False, "dead_allies": dead_allies, "dead_enemies": dead_enemies}
        terminated = False
        if dead_allies == self.n_agents or dead_enemies == self.n_enemies:
            terminated = True
            self.battles_game += 1
            if dead_enemies == self.n_enemies and dead_allies < self.n_agents:
                info["battle_won"] = True
                self.battles_won += 1
                reward += 200.0
        elif self._episode_steps >= self.episode_limit:
            terminated = True
            if self.continuing_episode:
                info["episode_limit"] = True
            self.battles_game += 1
            self.timeouts += 1
        return reward / (self.max_reward / 20.0), terminated, info

    def get_obs(self) -> list[np.ndarray]:
        return [self.get_obs_agent(a) for a in range(self.n_agents)]

    def get_obs_agent(self, agent_id: int) -> np.ndarray:
        if self.ally_health[agent_id] == 0:
            return np.zeros(self.get_obs_size(), np.float32)
        own = self.ally_pos[agent_id]
        moves = np.array(self.get_avail_agent_actions(agent_id)[2:N_NO_ATTACK], np.float32)
        enemies = [
            [d <= RANGE, d / 9, dx / 9, dy / 9, h / 60] if 0 < h and d <= 9 else [0.0] * 5
            for (dx, dy), h in zip(self.enemy_pos - own, self.enemy_health, strict=True)
            for d in [np.hypot(dx, dy)]
        ]
        allies = [
            [1.0, d / 9, dx / 9, dy / 9, h / 100] if 0 < h and d <= 9 else [0.0] * 5
            for a, ((dx, dy), h) in enumerate(zip(self.ally_pos - own, self.ally_health, strict=True))
            if a != agent_id
            for d in [np.hypot(dx, dy)]
        ]
        own_feats = [self.ally_health[agent_id] / 100, own[0] / MAP, own[1] / MAP]
        return np.concatenate([moves, np.ravel(enemies), np.ravel(allies), own_feats]).astype(np.float32)

    def get_obs_size(self) -> int:
        return 4 + 5 * self.n_enemies + 5 * (self.n_agents - 1) + 3

    def get_state(self) -> np.ndarray:
        allies = np.concatenate([self.ally_health[:, None] / 100, self.ally_pos / MAP], 1)
        enemies = np.concatenate([self.enemy_health[:, None] / 60, self.enemy_pos / MAP], 1)
        return np.concatenate([allies.ravel(), enemies.ravel(), self.last_action.ravel()]).astype(np.float32)

    def get_state_size(self) -> int:
        return 3 * (self.n_agents + self.n_enemies) + self.n_agents * self.n_actions

    def get_avail_agent_actions(self, agent_id: int) -> list[int]:
        if self.ally_health[agent_id] == 0:
            return [1] + [0] * (self.n_actions - 1)
        avail = [0, 1] + [0] * (self.n_actions - 2)
        x, y = self.ally_pos[agent_id]
        for action, (dx, dy) in MOVES.items():
            avail[action] = int(0 <= x + MOVE * dx < MAP and 0 <= y + MOVE * dy < MAP)
        dist = np.linalg.norm(self.enemy_pos - self.ally_pos[agent_id], axis=1)
        for e in range(self.n_enemies):
            avail[N_NO_ATTACK + e] = int(self.enemy_health[e] > 0 and dist[e] <= RANGE)
        return avail

    def get_avail_actions(self) -> list[list[int]]:
        return [self.get_avail_agent_actions(a) for a in range(self.n_agents)]

    def get_total_actions(self) -> int:
        return self.n_actions

    def get_env_info(self) -> dict[str, Any]:
        return {
            "state_shape": self.get_state_size(),
            "obs_shape": self.get_obs_size(),
            "cap_shape": 0,
            "n_actions": self.n_actions,
            "n_agents": self.n_agents,
            "episode_limit": self.episode_limit,
            "agent_features": ["health", "position_x", "position_y"],
            "enemy_features": ["health", "position_x", "position_y"],
        }

    def get_stats(self) -> dict[str, Any]:
        return {
            "battles_won": self.battles_won,
            "battles_game": self.battles_game,
            "battles_draw": self.timeouts,
            "win_rate": self.battles_won / max(self.battles_game, 1),
            "timeouts": self.timeouts,
            "restarts": 0,
        }

    def render(self, mode: str = "human") -> np.ndarray:
        assert mode == "rgb_array", "the stand-in renders rgb_array only"
        frame = np.zeros((MAP, MAP, 3), np.uint8)
        for positions, health, colour in (
            (self.ally_pos, self.ally_health, (0, 200, 0)),
            (self.enemy_pos, self.enemy_health, (200, 0, 0)),
        ):
            for (x, y), h in zip(positions, health, strict=True):
                if h > 0:
                    frame[int(np.clip(y, 0, MAP - 1)), int(np.clip(x, 0, MAP - 1))] = colour
        return frame

    def seed(self) -> int | None:
        return self._seed

    def close(self) -> None:
        self.closed = True

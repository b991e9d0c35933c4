"""SMACv2 (StarCraft II) under the batched contract: `num_envs` separate game instances, one per copy.

The game is external and unbatched, so the copies are stepped one by one in a Python loop on the host (like
`marl.from_pettingzoo`); `external_copies` tells the conformance suite so. The adapter talks to any object
with the methods of SMACv2's `StarCraftCapabilityEnvWrapper` (`reset`, `step`, `get_obs`, `get_state`,
`get_avail_actions`, `get_env_info`, `render`, `close`), built by `game_fn(seed)`, which is how the tests run it
without StarCraft II.

What SMACv2 gives and what the contract gets (SMACv2's `smacv2/env/starcraft2/starcraft2.py`):
- one group `agent` of `n_agents` allies, `Discrete(n_actions)`, masked by `get_avail_actions()`;
- `obs [B, n, obs_shape]` from `get_obs()`, `state [B, state_shape]` from `get_state()`;
- the team reward of `step` given to every agent alive at the step's start (dead agents get nothing, as the
  contract masks them); its sum over the episode is the `team_return` statistic, SMACv2's episode return;
- an ally is dead when only its no-op is available (SMACv2 makes no-op legal for dead units only); it
  terminates at the step it dies, every ally terminates when the battle ends (won, lost or drawn);
- a timeout at `episode_limit` is a truncation: the games are built with `continuing_episode=True`, whose only
  effect in SMACv2 is to put `episode_limit: True` in the info of that step. A step that returns no info
  (SMACv2 restarted a crashed game) is a truncation too;
- episode statistics: `battle_won` (1 for a win: its mean over episodes is the win rate), `timeout`,
  `dead_allies`, `dead_enemies`, `team_return`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl.core.env import BatchedEnv, GroupSpec, agent_names
from marl.core.validation import check_positive_int

GROUP = "agent"
NO_OP = 0  # SMACv2's action 0: the only one a dead unit may take
ENV_INFO_KEYS = ("n_agents", "n_actions", "obs_shape", "state_shape", "episode_limit")

GameFactory = Callable[[int], Any]


class SMACv2Env(BatchedEnv):
    """`num_envs` SMACv2 games behind the batched contract; `game_fn(seed)` builds one game.

    SMACv2 takes its seed when a game is built, so `reset(seed=...)` (and the constructor's `seed`) closes the
    games and builds new ones with per-copy seeds drawn from the environment's generator (`copy_seeds`);
    episodes that follow (auto-resets, `reset()` without a seed) continue each game's own random stream.
    """

    external_copies = True

    def __init__(
        self,
        game_fn: GameFactory,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        if not callable(game_fn):
            raise TypeError(f"game_fn must be a callable seed -> game, got {game_fn!r}")
        self._game_fn = game_fn
        self.games: list[Any] = []
        self.copy_seeds: list[int] = []
        probe = game_fn(0)  # SMACv2 launches StarCraft II at the first reset: building one costs nothing
        try:
            self.env_info = _checked_env_info(probe.get_env_info())
        finally:
            probe.close()
        n, A = self.env_info["n_agents"], self.env_info["n_actions"]
        self.episode_limit = self.env_info["episode_limit"]
        obs_space = gym.spaces.Box(-np.inf, np.inf, (self.env_info["obs_shape"],), np.float32)
        state_space = gym.spaces.Box(-np.inf, np.inf, (self.env_info["state_shape"],), np.float32)
        B = check_positive_int("num_envs", num_envs)
        self._obs = np.zeros((B, n, self.env_info["obs_shape"]), np.float32)
        self._state_np = np.zeros((B, self.env_info["state_shape"]), np.float32)
        self._avail = np.ones((B, n, A), bool)
        self._truncated_np = np.zeros(B, bool)
        self._stats = {
            name: np.zeros(B, np.float32)
            for name in ("battle_won", "timeout", "dead_allies", "dead_enemies", "team_return")
        }
        super().__init__(
            groups={GROUP: GroupSpec(agent_names(GROUP, n), obs_space, gym.spaces.Discrete(A))},
            num_envs=num_envs,
            device=device,
            seed=seed,
            state_space=state_space,
        )

    # ------------------------------------------------------------------ seeding: new games
    def seed(self, seed: int | None) -> int:
        """Re-seed the generator, then replace every game by a new one with a seed drawn from it."""
        used = super().seed(seed)
        self.close()
        self.copy_seeds = torch.randint(
            2**31 - 1, (self.num_envs,), generator=self.generator, device=self.device
        ).tolist()
        self.games = [self._game_fn(s) for s in self.copy_seeds]
        for b, game in enumerate(self.games):
            info = _checked_env_info(game.get_env_info())
            differing = {k: (info[k], self.env_info[k]) for k in ENV_INFO_KEYS if info[k] != self.env_info[k]}
            if differing:
                raise ValueError(f"game_fn built copy {b} with other sizes than the first: {differing}")
        return used

    # ------------------------------------------------------------------ the contract
    def _reset(self, mask: Tensor) -> None:
        for b in mask.nonzero().flatten().tolist():
            # the wrapper's retry after a failed reset returns None: read the game instead of reset's result
            self.games[b].reset()
            self._read(b)
            self._truncated_np[b] = False
            for value in self._stats.values():
                value[b] = 0.0

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        alive = self.alive[GROUP].cpu().numpy()
        chosen = np.where(alive, actions[GROUP].cpu().numpy(), NO_OP)  # dead units may only no-op
        B, n = alive.shape
        reward = np.zeros(B, np.float32)
        ended = np.zeros(B, bool)
        for b, game in enumerate(self.games):
            r, terminated, info = game.step([int(a) for a in chosen[b]])
            reward[b] = r
            timed_out = bool(terminated) and (not info or bool(info.get("episode_limit", False)))
            ended[b] = bool(terminated) and not timed_out
            self._truncated_np[b] = timed_out
            self._read(b)
            stats = self._stats
            stats["team_return"][b] += r
            stats["battle_won"][b] = float(bool(info.get("battle_won", False)))
            stats["timeout"][b] = float(timed_out)
            stats["dead_allies"][b] = info.get("dead_allies", stats["dead_allies"][b])
            stats["dead_enemies"][b] = info.get("dead_enemies", stats["dead_enemies"][b])
        dead = self._avail[:, :, NO_OP]
        terminated = dead | ended[:, None]
        to = lambda x: torch.as_tensor(x, device=self.device)  # noqa: E731
        return {GROUP: (to(np.repeat(reward[:, None], n, axis=1)), to(terminated))}

    def _observe(self) -> dict[str, Tensor]:
        return {GROUP: torch.tensor(self._obs, device=self.device)}

    def _state(self) -> Tensor:
        return torch.tensor(self._state_np, device=self.device)

    def _action_mask(self) -> dict[str, Tensor]:
        return {GROUP: torch.tensor(self._avail, device=self.device)}

    def _truncated(self) -> Tensor:
        return torch.tensor(self._truncated_np, device=self.device)

    def _episode_stats(self) -> dict[str, Tensor]:
        return {name: torch.tensor(value, device=self.device) for name, value in self._stats.items()}

    def _render(self, index: int) -> np.ndarray:
        return np.ascontiguousarray(self.games[index].render(mode="rgb_array"), dtype=np.uint8)

    def close(self) -> None:
        """Close every game (SMACv2 ends its StarCraft II process)."""
        for game in self.games:
            game.close()
        self.games = []

    # ------------------------------------------------------------------ internals
    def _read(self, b: int) -> None:
        """Copy b's observations, state and available actions, shapes checked against `get_env_info`."""
        game = self.games[b]
        for name, buffer, value in (
            ("get_obs()", self._obs[b], game.get_obs()),
            ("get_state()", self._state_np[b], game.get_state()),
            ("get_avail_actions()", self._avail[b], game.get_avail_actions()),
        ):
            array = np.asarray(value)
            if array.shape != buffer.shape:
                raise ValueError(f"copy {b}: {name} has shape {array.shape}, expected {buffer.shape}")
            buffer[...] = array


def _checked_env_info(info: Any) -> dict[str, int]:
    """SMACv2's `get_env_info()` with the sizes the adapter needs, each a positive int."""
    if not isinstance(info, dict):
        raise TypeError(f"get_env_info() must return a dict, got {type(info).__name__}")
    missing = [k for k in ENV_INFO_KEYS if k not in info]
    if missing:
        raise KeyError(f"get_env_info() lacks {missing}; SMACv2 reports {list(ENV_INFO_KEYS)}")
    bad = {k: info[k] for k in ENV_INFO_KEYS if isinstance(info[k], bool) or not isinstance(info[k], int)}
    bad |= {k: info[k] for k in ENV_INFO_KEYS if k not in bad and info[k] < 1}
    if bad:
        raise ValueError(f"get_env_info() sizes must be positive ints, got {bad}")
    return {k: int(info[k]) for k in ENV_INFO_KEYS}

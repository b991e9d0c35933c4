"""Planning baselines for pathfinding that need no training (run them with `marl eval algo=...`).

- `pathfinding_follow`: every agent steps down the BFS distance map of its goal (the whole obstacle map is
  known, as POGEMA's A* follower assumes); it waits when the next cell holds another agent, and an agent that
  did not move at the last step while off its goal takes a random action with probability
  `random_when_stuck` (default 1, as POGEMA's A* agent), which breaks deadlocks.
- `pathfinding_prioritised`: centralised windowed prioritised planning, replanned every step. In a random
  priority order per copy, each agent searches the space-time grid `horizon` steps ahead, around the cells and
  moves that higher-priority agents reserved (vertex and swap conflicts), picks the reachable cell at the
  horizon nearest its goal, reserves its path and takes its first move. Vectorised over copies; the loop runs
  over agents (priority ranks) and horizon steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

import marl
from envs.pathfinding.env import GROUP, PathfindingEnv
from envs.pathfinding.planning import MOVES, UNREACHABLE, greedy_actions


class _PlanningBaseline(marl.ScriptedPolicy):
    """A fixed policy: nothing to train, an empty state dict."""

    def __init__(self, env: marl.BatchedEnv, config: Any, device: torch.device) -> None:
        if not isinstance(env, PathfindingEnv):
            raise TypeError(f"{type(self).__name__} plans on pathfinding maps; got {type(env).__name__}")
        super().__init__(env, config, device)
        self.generator = torch.Generator(device=env.device)
        self.generator.manual_seed(int(getattr(config, "seed", 0)))


@dataclass
class FollowConfig:
    random_when_stuck: float = 1.0
    seed: int = 0


class ShortestPathFollower(_PlanningBaseline):
    """Follow the shortest path to the goal; wait for agents in the way; random move when stuck."""

    def planned_actions(self, env: PathfindingEnv) -> Tensor:
        """Every agent's next move along its path `[B, n]`: down its goal's BFS distance map."""
        return greedy_actions(env.goal_distances(), env.pos, env.height, env.width)

    def initial_policy_state(self, num_envs: int) -> Tensor:
        return torch.full((num_envs, self.env.n_agents), -1, dtype=torch.long, device=self.env.device)

    def act(self, step: marl.Step, policy_state: Tensor, deterministic: bool = False, generator=None):
        env: PathfindingEnv = self.env
        generator = self.generator if generator is None else generator
        previous = torch.where(step.done[:, None], -1, policy_state)
        action = self.planned_actions(env)
        occupied = torch.zeros(env.num_envs, env.height * env.width + 1, dtype=torch.bool, device=env.device)
        occupied.scatter_(1, torch.where(env.alive[GROUP], env.pos, env.height * env.width), True)
        ahead = env.pos + env.move_delta[action]
        action = torch.where((action != 0) & occupied.gather(1, ahead), 0, action)
        stuck = (env.pos == previous) & (env.pos != env.goal)
        shake = stuck & (
            torch.rand(stuck.shape, generator=generator, device=env.device) < self.config.random_when_stuck
        )
        random_action = env.sample_actions(generator)[GROUP]
        return {GROUP: torch.where(shake, random_action, action)}, env.pos.clone()


class CongestionPathFollower(ShortestPathFollower):
    """As `pathfinding_follow`, along Learn to Follow's congestion-aware planned path instead of the shortest
    one (the path `observation=follower` draws): Learn to Follow's planner with a fixed follower in place of the
    learned one."""

    def __init__(self, env: marl.BatchedEnv, config: FollowConfig, device: torch.device) -> None:
        super().__init__(env, config, device)
        if not env.follower:
            raise ValueError(
                "pathfinding_congestion follows the path that observation=follower plans; set env.observation=follower"
            )

    def planned_actions(self, env: PathfindingEnv) -> Tensor:
        """The move onto each agent's next planned cell (planned with this step's observation; wait where it
        has none)."""
        moved = env.next_path_cell - env.pos
        action = (moved[..., None] == env.move_delta).float().argmax(dim=-1)
        return torch.where(env.next_path_cell >= 0, action, 0)


@dataclass
class PrioritisedConfig:
    horizon: int = 8
    seed: int = 0


def _arrive_via(reach: Tensor, move: int) -> Tensor:
    """`[B, H, W]`: cells entered by action `move` from a cell of `reach` (off-grid sources are False)."""
    dr, dc = MOVES[move]
    H, W = reach.shape[-2:]
    padded = F.pad(reach, (1, 1, 1, 1))
    return padded[:, 1 - dr : 1 - dr + H, 1 - dc : 1 - dc + W]


class PrioritisedPlanner(_PlanningBaseline):
    """Centralised windowed prioritised planning with vertex and swap reservations, replanned every step."""

    def act(self, step: marl.Step, policy_state: Any, deterministic: bool = False, generator=None):
        env: PathfindingEnv = self.env
        generator = self.generator if generator is None else generator
        B, n, H, W, T = env.num_envs, env.n_agents, env.height, env.width, self.config.horizon
        dev = env.device
        rows = torch.arange(B, device=dev)
        dist = env.goal_distances()
        present = env.alive[GROUP]
        vertex_taken = torch.zeros(B, T + 1, H, W, dtype=torch.bool, device=dev)
        entry_blocked = torch.zeros(B, T, len(MOVES), H * W, dtype=torch.bool, device=dev)
        reverse = torch.tensor([0, 2, 1, 4, 3], device=dev)
        delta = env.move_delta
        order = torch.rand(B, n, generator=generator, device=dev).argsort(dim=1)
        action = torch.zeros(B, n, dtype=torch.long, device=dev)
        for rank in range(n):
            agent = order[:, rank]
            start = env.pos[rows, agent]
            # forward: cells reachable at each time step around the reservations
            reach = torch.zeros(B, T + 1, H * W, dtype=torch.bool, device=dev)
            reach[rows, 0, start] = present[rows, agent]
            for t in range(T):
                now = reach[:, t].view(B, H, W)
                arrive = now.clone()
                for move in range(1, len(MOVES)):
                    arrive |= _arrive_via(now, move) & ~entry_blocked[:, t, move].view(B, H, W)
                reach[:, t + 1] = (arrive & env.free & ~vertex_taken[:, t + 1]).flatten(1)
            goal_dist = dist[rows, agent]
            score = torch.where(reach[:, T], goal_dist, UNREACHABLE)
            planned = score.min(dim=1).values < UNREACHABLE
            # backward: from the best cell at the horizon to the start, staying put whenever the cell was
            # already reachable one step earlier (so the path moves first and waits last)
            path = [score.argmin(dim=1)]
            for t in range(T - 1, -1, -1):
                cell = path[-1]
                before = cell[:, None] - delta  # the cell each action would have come from
                r, c = cell // W, cell % W
                inside = torch.stack([r >= 0, r < H - 1, r > 0, c < W - 1, c > 0], dim=1)
                before = torch.where(inside, before, cell[:, None])
                ok = inside & reach[:, t].gather(1, before)
                ok[:, 1:] &= ~entry_blocked[rows, t, 1:, cell]
                preference = torch.where(ok, torch.arange(len(MOVES), device=dev), len(MOVES))
                path.append(before.gather(1, preference.argmin(dim=1, keepdim=True))[:, 0])
            path = torch.stack(path[::-1], dim=1)  # [B, T + 1], path[:, 0] == start
            moves = path[:, 1:] - path[:, :-1]  # cell differences -> action ids
            move_id = (moves[..., None] == delta).float().argmax(-1)
            times = torch.arange(T + 1, device=dev).expand(B, T + 1)
            keep = planned[:, None]
            vertex_taken.view(B, T + 1, H * W)[rows[:, None], times, path] |= keep
            entry_blocked[rows[:, None], times[:, :T], reverse[move_id], path[:, :-1]] |= keep & (move_id > 0)
            action[rows, agent] = torch.where(planned, move_id[:, 0], 0)
        return {GROUP: action}, policy_state


def register() -> None:
    """Register the baselines and `pathfinding_follower`, a trained follower's policy (idempotent)."""
    marl.register_algo("pathfinding_follow", ShortestPathFollower, FollowConfig)
    marl.register_algo("pathfinding_prioritised", PrioritisedPlanner, PrioritisedConfig)
    marl.register_algo("pathfinding_congestion", CongestionPathFollower, FollowConfig)
    from envs.pathfinding.follower import register as register_follower

    register_follower()

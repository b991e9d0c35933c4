"""Batched SMAC-style battles without StarCraft II: two teams of units on a 32 x 32 map, every copy as tensors.

Units are one tensor row each, allies first then enemies: position, health, shield, weapon cooldown, type.
A step (SMACv2's `step_mul` 8, SMAX's tick model) plays each unit's command for 8 ticks of 1/16 s:
1. movement: a move goes at the unit's speed in its direction; an attack on a target out of range moves the
   attacker toward it; a unit leaving the map is stopped at the edge (or dies, with `walls_kill` as SMAX);
2. attacks: every unit whose target is alive, within its attack range and whose cooldown is over strikes
   (all units of a tick at once); the cooldown restarts at its base plus U(-dt, 2 dt) (SMAX). Damage takes the
   shield first. A medivac restores 12.6 health per second to its ally target, every tick; a baneling in range
   deals its damage to every enemy within 2.2 of itself and dies.

Actions (SMACv2): 0 no-op (dead agents only), 1 stop, 2-5 move north (+y), south, east (+x), west by about 2,
then one attack per enemy (a medivac's slots heal the allies instead). Attacks need a living target within
the attacker's range (a medivac's: a living non-medivac ally); a move needs 2 units of room before the edge.

Reward (SMAC `reward_battle`, SMACv2's settings): the enemies' lost health and shield, plus 10 per enemy
killed, clipped at 0, plus 200 on a win, all times 20 / (10 n_enemies + 200 + the enemies' total health and
shield), so a flawless win sums to 20; the same reward for every agent of the team. `reward="smax"`: the
enemies' lost health fractions / n_enemies per step, plus 1 on a win (SMAX). A team wins when every enemy is
dead, or only enemy medivacs are left; a timeout is a truncation.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from envs.battle.scenarios import EXCEPTION_UNIT, MAP_SIZE, RACE_WEIGHTS, Scenario, get_scenario
from envs.battle.units import UNIT_TYPES, stat_table, unit_index
from marl import BatchedEnv, GroupSpec, Step, agent_names
from marl.core.validation import check_bool, check_choice, check_int, validated

TICKS, TICK = 8, 1.0 / 16  # sub-ticks per step and their length in seconds
NO_OP, STOP, NORTH, SOUTH, EAST, WEST = range(6)
N_BASIC = 6  # actions before the first attack
MOVE_DISTANCE = 2.0  # SMACv2's move_amount: a move is available with this much room before the edge
MOVES = ((0.0, 0.0), (0.0, 0.0), (0.0, 1.0), (0.0, -1.0), (1.0, 0.0), (-1.0, 0.0))  # per basic action
KILL_REWARD, WIN_REWARD, REWARD_SCALE = 10.0, 200.0, 20.0


def distances(a: Tensor, b: Tensor) -> Tensor:
    """`[B, n, m]` distances from every point of `a [B, n, 2]` to every point of `b [B, m, 2]`, from their
    differences (as SMAX; `torch.cdist` switches to a matrix-product formula above 25 points, which rounds
    differently, and torch.compile leaves it out of its fused loops)."""
    return (a[:, :, None] - b[:, None]).norm(dim=-1)


@dataclass
class BattleConfig:
    """Config keys of every battle task (`battle/<scenario>`)."""

    opponent: str = "heuristic"  # "heuristic": the enemy team plays SMAX's scripted policy; "self_play"
    attack_mode: str = "closest"  # the heuristic's target among enemies in range: "closest" or "weakest"
    reward: str = "smac"  # "smac" (SMACv2's scaled reward, max 20) or "smax" (health fractions, +1 on a win)
    walls_kill: bool = False  # True: a unit touching the map edge dies (SMAX); False: it stops there
    episode_limit: int | None = None  # None: the scenario's limit

    def validate(self) -> None:
        check_choice("opponent", self.opponent, ("heuristic", "self_play"))
        check_choice("attack_mode", self.attack_mode, ("closest", "weakest"))
        check_choice("reward", self.reward, ("smac", "smax"))
        check_bool("walls_kill", self.walls_kill)
        check_int("episode_limit", self.episode_limit, low=1, allow_none=True)


@dataclass
class BattleScenarioConfig(BattleConfig):
    """`battle/scenario`: any scenario by name (a classic map or `<race>_<allies>_vs_<enemies>`)."""

    scenario: str = "3m"


class BattleEnv(BatchedEnv):
    """A battle scenario on `num_envs` copies; the group `allies` learns, `enemies` too in self-play."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 8}

    def __init__(
        self,
        scenario: Scenario | str,
        config: BattleConfig | None = None,
        *,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        seed: int | None = None,
    ) -> None:
        self.config = config = validated(config, BattleConfig)
        self.scenario = sc = get_scenario(scenario) if isinstance(scenario, str) else scenario
        dev = torch.device(device)
        self.n_allies, self.n_enemies = sc.n_allies, sc.n_enemies
        self.n_units = N = sc.n_allies + sc.n_enemies
        self.stats = stat_table(dev)
        self.team = torch.tensor([0] * sc.n_allies + [1] * sc.n_enemies, device=dev)
        self.offset = (0, sc.n_allies)  # first unit row of each team
        self.first_of_team = torch.tensor(self.offset, device=dev)[self.team]  # per unit row
        self.first_of_opponents = torch.tensor(self.offset, device=dev)[1 - self.team]
        self.size = (sc.n_allies, sc.n_enemies)
        types = [unit_index(t) for t in sc.unit_types]
        self.type_bits = len(types) if len(types) > 1 else 0  # SMAC: no type bits for a one-type map
        self.local_type = torch.full((len(UNIT_TYPES),), 0, dtype=torch.long, device=dev)
        self.local_type[types] = torch.arange(len(types), device=dev)
        self.has_shields = any(UNIT_TYPES[t].shield > 0 for t in types)
        self.has_healers = any(UNIT_TYPES[t].heals for t in types)  # medivacs: the rules restore health
        self.has_splash = any(UNIT_TYPES[t].splash > 0 for t in types)  # banelings: the rules add blasts
        self.moves = torch.tensor(MOVES, device=dev)
        if sc.race is not None:
            weights = RACE_WEIGHTS[sc.race]
            self.race_types = torch.tensor([unit_index(t) for t in weights], device=dev)
            self.race_weights = torch.tensor(list(weights.values()), device=dev)
            exception = EXCEPTION_UNIT[sc.race]
            self.exception_type = -1 if exception is None else unit_index(exception)
        else:
            fixed = [unit_index(t) for t in sc.allies + sc.enemies]
            self.fixed_types = torch.tensor(fixed, device=dev)
        B = num_envs
        self.pos = torch.zeros(B, N, 2, device=dev)
        self.health = torch.zeros(B, N, device=dev)
        self.shield = torch.zeros(B, N, device=dev)
        self.cooldown = torch.zeros(B, N, device=dev)
        self.unit_type = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.last_action = torch.zeros(B, N, dtype=torch.long, device=dev)
        self.attacking = torch.zeros(B, N, dtype=torch.long, device=dev)  # target row of a strike, or -1
        # U(0, 1) per tick and unit for the cooldown jitter, drawn by `step` before the rules
        self.cooldown_draws = torch.zeros(TICKS, B, N, device=dev)
        self.won = torch.zeros(B, 2, dtype=torch.bool, device=dev)  # per team
        self.max_reward = torch.ones(B, 2, device=dev)
        learners = (0, 1) if config.opponent == "self_play" else (0,)
        self.learners = learners
        names = ("allies", "enemies")
        groups = {names[t]: self._group_spec(t) for t in learners}
        state_size = self._state_size()
        super().__init__(
            groups=groups,
            num_envs=num_envs,
            device=dev,
            seed=seed,
            max_steps=config.episode_limit or sc.episode_limit,
            state_space=gym.spaces.Box(-np.inf, np.inf, (state_size,), np.float32),
        )

    # ------------------------------------------------------------------ spaces
    def rows(self, team: int) -> slice:
        """The unit rows of team `team` (0: allies, 1: enemies)."""
        return slice(self.offset[team], self.offset[team] + self.size[team])

    def _unit_features(self) -> int:
        return 1 + int(self.has_shields) + self.type_bits  # health, shield, type bits

    def _obs_size(self, team: int) -> int:
        n_own, n_opp = self.size[team], self.size[1 - team]
        per_other = 4 + self._unit_features()
        return 4 + n_opp * per_other + (n_own - 1) * per_other + 2 + self._unit_features()

    def _n_actions(self, team: int) -> int:
        return N_BASIC + self.size[1 - team]

    def _group_spec(self, team: int) -> GroupSpec:
        space = gym.spaces.Box(-np.inf, np.inf, (self._obs_size(team),), np.float32)
        prefix = ("ally", "enemy")[team]
        return GroupSpec(
            agent_names(prefix, self.size[team]), space, gym.spaces.Discrete(self._n_actions(team))
        )

    def _state_size(self) -> int:
        ally = self.n_allies * (3 + self._unit_features())  # cooldown, x, y
        enemy = self.n_enemies * (2 + self._unit_features())  # x, y
        last = sum(self.size[t] * self._n_actions(t) for t in self.learners)
        return ally + enemy + last

    # ------------------------------------------------------------------ reset
    def _reset(self, mask: Tensor) -> None:
        B, N, dev, gen = self.num_envs, self.n_units, self.device, self.generator
        if self.scenario.race is not None:
            types = self._draw_teams()
            positions = self._procedural_starts()
        else:
            types = self.fixed_types.expand(B, N)
            jitter = (torch.rand(B, N, 2, generator=gen, device=dev) * 2 - 1) * 2.0
            line = torch.stack(
                [torch.where(self.team == 0, 8.0, 24.0), torch.full((N,), 16.0, device=dev)], dim=-1
            )
            positions = line + jitter
        m = mask[:, None]
        self.unit_type = torch.where(m, types, self.unit_type)
        self.pos = torch.where(m[..., None], positions, self.pos)
        self.health = torch.where(m, self.stats["health"][types], self.health)
        self.shield = torch.where(m, self.stats["shield"][types], self.shield)
        self.cooldown = torch.where(m, 0.0, self.cooldown)
        self.last_action = torch.where(m, 0, self.last_action)
        self.attacking = torch.where(m, -1, self.attacking)
        self.won = torch.where(m, False, self.won)
        totals = (self.health + self.shield).masked_fill(~m, 0.0)
        per_team = torch.stack([totals[:, self.rows(t)].sum(1) for t in (0, 1)], dim=1)
        opponents = torch.tensor([self.n_enemies, self.n_allies], device=dev)
        max_reward = KILL_REWARD * opponents + WIN_REWARD + per_team.flip(1)
        self.max_reward = torch.where(m, max_reward, self.max_reward)

    def _draw_teams(self) -> Tensor:
        """`[B, N]` unit types: allies drawn with the race weights (a team of only the exception unit is drawn
        again), enemies copying them, extra enemies drawn the same way (SMACv2's `weighted_teams`)."""
        B, gen = self.num_envs, self.generator

        def draw(n: int) -> Tensor:
            k = torch.multinomial(self.race_weights.expand(B, -1), n, replacement=True, generator=gen)
            team = self.race_types[k]
            redraw = (team == self.exception_type).all(1)
            while bool(redraw.any()):  # rejection rounds: each re-draws every remaining bad team at once
                k = torch.multinomial(self.race_weights.expand(B, -1), n, replacement=True, generator=gen)
                team = torch.where(redraw[:, None], self.race_types[k], team)
                redraw = (team == self.exception_type).all(1)
            return team

        allies = draw(self.n_allies)
        extra = self.n_enemies - self.n_allies
        enemies = allies if extra == 0 else torch.cat([allies, draw(extra)], dim=1)
        return torch.cat([allies, enemies], dim=1)

    def _procedural_starts(self) -> Tensor:
        """SMACv2's `surrounded_and_reflect`: with p 0.5 "reflect" (allies uniform in x <= 15, enemies
        mirrored at x -> 32 - x, extra enemies uniform in x >= 17), else "surrounded" (allies at the centre,
        enemies split among 1-4 of the points (2, 2), (30, 30), (30, 2), (2, 30))."""
        B, dev, gen, S = self.num_envs, self.device, self.generator, MAP_SIZE
        nA, nE = self.n_allies, self.n_enemies
        half = torch.rand(B, nE, 2, generator=gen, device=dev) * torch.tensor([S / 2 - 1, S], device=dev)
        allies_r = half[:, :nA]
        enemies_r = half.clone()
        enemies_r[..., 0] = S - enemies_r[..., 0]
        reflect = torch.cat([allies_r, enemies_r], dim=1)
        corners = torch.tensor([[2.0, 2.0], [S - 2, S - 2], [S - 2, 2.0], [2.0, S - 2]], device=dev)
        n_groups = torch.randint(1, 5, (B, 1), generator=gen, device=dev)
        order = torch.rand(B, 4, generator=gen, device=dev).argsort(1)  # which corners, in random order
        member = (torch.rand(B, nE, generator=gen, device=dev) * n_groups).long()
        enemies_s = corners[order.gather(1, member)]
        allies_s = torch.full((B, nA, 2), S / 2, device=dev)
        surrounded = torch.cat([allies_s, enemies_s], dim=1)
        use_reflect = torch.rand(B, 1, 1, generator=gen, device=dev) < 0.5
        return torch.where(use_reflect, reflect, surrounded)

    # ------------------------------------------------------------------ step
    def step(self, actions: dict[str, Tensor]) -> Step:
        """Draw the step's random cooldown restarts (one U(0, 1) per tick and unit), then step as every
        environment does. The draw comes first, outside the rules, because torch.compile cannot draw from
        `self.generator`: so a compiled step is one graph. It draws the same numbers in the same order as a
        draw per tick inside the rules would."""
        shape = (TICKS, self.num_envs, self.n_units)
        self.cooldown_draws = torch.rand(shape, generator=self.generator, device=self.device)
        return super().step(actions)

    def _step(self, actions: dict[str, Tensor]) -> dict[str, tuple[Tensor, Tensor]]:
        alive_before = self.health > 0
        total_before = self.health + self.shield
        team_actions = [actions.get("allies"), actions.get("enemies")]
        if team_actions[1] is None:
            team_actions[1] = self.heuristic_actions(1)
        action = torch.cat(team_actions, dim=1)
        action = torch.where(alive_before, action, NO_OP)
        self.last_action = action
        self._play(action)
        alive = self.health > 0
        fighting = alive & ~self.stats["heals"][self.unit_type]  # only medivacs left counts as beaten
        beaten = torch.stack([~fighting[:, self.rows(t)].any(1) for t in (0, 1)], dim=1)
        self.won = beaten.flip(1) & ~beaten  # both beaten at once: a draw
        over = beaten.any(1)
        out = {}
        for t, name in zip(self.learners, ("allies", "enemies"), strict=False):
            reward = self._reward(t, total_before, alive_before, alive)
            own = self.rows(t)
            terminated = ~alive[:, own] | over[:, None]
            out[name] = (reward[:, None].expand(-1, self.size[t]), terminated)
        return out

    def _play(self, action: Tensor) -> None:
        """Play every unit's command for the step's ticks."""
        B, N = action.shape
        types = self.unit_type
        speed, reach = self.stats["speed"][types], self.stats["attack_range"][types]
        heals, splash = self.stats["heals"][types], self.stats["splash"][types]
        damage = self.stats["damage"][types]
        direction = self.moves[action.clamp(max=N_BASIC - 1)] * (action < N_BASIC)[..., None]
        slot = (action - N_BASIC).clamp(min=0)
        target = torch.where(heals, self.first_of_team, self.first_of_opponents) + slot
        target = torch.where(action >= N_BASIC, target, torch.arange(N, device=self.device))
        attack = action >= N_BASIC
        enemies_of = self.team[:, None] != self.team[None, :]  # [N, N]
        self.attacking.fill_(-1)
        for tick in range(TICKS):
            alive = self.health > 0
            engaged = attack & alive & alive.gather(1, target)
            offset = self.pos.gather(1, target[..., None].expand(-1, -1, 2)) - self.pos
            dist = offset.norm(dim=-1)
            chase = engaged & (dist > reach)
            heading = offset / dist.clamp(min=1e-6)[..., None]
            velocity = direction * alive[..., None] + heading * chase[..., None]
            self.pos = self.pos + velocity * (speed * TICK)[..., None]
            if self.config.walls_kill:
                outside = ((self.pos <= 0) | (self.pos >= MAP_SIZE)).any(-1)
                self.health = self.health.masked_fill(outside, 0.0)
                self.shield = self.shield.masked_fill(outside, 0.0)
                alive = alive & ~outside
            self.pos = self.pos.clamp(0.0, MAP_SIZE)
            offset = self.pos.gather(1, target[..., None].expand(-1, -1, 2)) - self.pos
            in_range = engaged & alive & (offset.norm(dim=-1) <= reach)
            self.cooldown = self.cooldown - TICK
            strike = in_range & (self.cooldown <= 0)
            healing = strike & heals
            bursting = strike & (splash > 0)
            hitting = strike & ~heals & ~bursting
            hurt = torch.zeros(B, N, device=self.device).scatter_add_(1, target, damage * hitting)
            if self.has_splash:  # a bursting baneling hurts every enemy within its splash radius
                blast = (
                    (distances(self.pos, self.pos) <= splash[..., None]) & enemies_of & bursting[..., None]
                )
                hurt = hurt + torch.einsum("bij,bi->bj", blast.float(), damage)
            jitter = (self.cooldown_draws[tick] * 3 - 1) * TICK
            base = self.stats["cooldown"][types]
            restart = torch.where(heals, 0.0, base + jitter)  # a medivac's beam heals every tick
            self.cooldown = torch.where(strike, restart, self.cooldown.clamp(min=0.0))
            absorbed = torch.minimum(self.shield, hurt)
            self.shield = self.shield - absorbed
            maximum = self.stats["health"][types]
            health = self.health - (hurt - absorbed)
            if self.has_healers:  # a medivac's beam restores its target's health
                health = health + torch.zeros_like(health).scatter_add_(1, target, damage * TICK * healing)
            health = health.minimum(maximum)
            if self.has_splash:
                health = health.masked_fill(bursting, 0.0)  # a baneling dies in its burst
            self.health = torch.where(alive, health.clamp(min=0.0), self.health)
            self.shield = self.shield.masked_fill(self.health <= 0, 0.0)
            self.attacking = torch.where(strike, target, self.attacking)

    def _reward(self, team: int, total_before: Tensor, alive_before: Tensor, alive: Tensor) -> Tensor:
        """Team `team`'s reward for this step (SMAC's or SMAX's, per the config)."""
        opp = self.rows(1 - team)
        lost = (total_before - self.health - self.shield)[:, opp]
        won = self.won[:, team].float()
        if self.config.reward == "smax":
            full = self.stats["health"][self.unit_type] + self.stats["shield"][self.unit_type]
            return (lost / full[:, opp]).sum(1) / self.size[1 - team] + won
        kills = (alive_before & ~alive)[:, opp].float().sum(1)
        reward = (lost.sum(1) + KILL_REWARD * kills).clamp(min=0.0) + WIN_REWARD * won
        return reward * REWARD_SCALE / self.max_reward[:, team]

    # ------------------------------------------------------------------ the scripted opponent
    def heuristic_actions(self, team: int) -> Tensor:
        """SMAX's heuristic for team `team`, as actions `[B, n]`: attack the closest (or weakest) target in
        range; otherwise move toward the closest visible enemy, or else toward the enemies' centroid (a
        medivac: heal the most hurt ally in range, else follow its own team's centroid)."""
        mask = self._team_mask(team)
        own, opp = self.rows(team), self.rows(1 - team)
        heals = self.stats["heals"][self.unit_type[:, own]]
        alive = self.health > 0
        pos = self.pos[:, own]
        offset_opp = self.pos[:, None, opp] - pos[:, :, None]  # [B, n, m, 2]
        dist = offset_opp.norm(dim=-1)
        if self.config.attack_mode == "weakest":
            score = (self.health + self.shield)[:, None, opp].expand_as(dist)
        else:
            score = dist
        full = self.stats["health"][self.unit_type]
        hurt = (self.health / full)[:, None, own].expand(-1, self.size[team], -1)
        n_slots = self.size[1 - team]
        heal_score = torch.nn.functional.pad(hurt, (0, max(0, n_slots - self.size[team])), value=2.0)
        score = torch.where(heals[..., None], heal_score[..., :n_slots], score)
        attackable = mask[..., N_BASIC:]
        choice = score.masked_fill(~attackable, float("inf")).argmin(-1)
        sight = self.stats["sight_range"][self.unit_type[:, own]]
        visible = alive[:, None, opp] & (dist <= sight[..., None])
        closest = dist.masked_fill(~visible, float("inf")).argmin(-1)
        chase = offset_opp.gather(2, closest[..., None, None].expand(-1, -1, 1, 2)).squeeze(2)
        weights = alive[:, opp].float()
        centroid = (self.pos[:, opp] * weights[..., None]).sum(1) / weights.sum(1).clamp(min=1)[..., None]
        own_weights = alive[:, own].float()
        home = (pos * own_weights[..., None]).sum(1) / own_weights.sum(1).clamp(min=1)[..., None]
        goal = torch.where(visible.any(-1, keepdim=True), chase, centroid[:, None] - pos)
        goal = torch.where(heals[..., None], home[:, None] - pos, goal)
        alignment = goal @ self.moves[NORTH:N_BASIC].T  # [B, n, 4]
        alignment = alignment.masked_fill(~mask[..., NORTH:N_BASIC], float("-inf"))
        move = NORTH + alignment.argmax(-1)
        action = torch.where(attackable.any(-1), N_BASIC + choice, move)
        return torch.where(alive[:, own], action, NO_OP)

    # ------------------------------------------------------------------ observations
    def _unit_block(self, rows: slice | Tensor) -> Tensor:
        """`[B, k, F]` health fraction, shield fraction (when the scenario has shields) and type bits."""
        types = self.unit_type[:, rows]
        parts = [self.health[:, rows] / self.stats["health"][types]]
        if self.has_shields:
            full = self.stats["shield"][types]
            parts.append(torch.where(full > 0, self.shield[:, rows] / full.clamp(min=1e-6), 0.0))
        feats = torch.stack(parts, dim=-1)
        if self.type_bits:
            bits = torch.nn.functional.one_hot(self.local_type[types], self.type_bits).float()
            feats = torch.cat([feats, bits], dim=-1)
        return feats

    def _team_mask(self, team: int) -> Tensor:
        own, opp = self.rows(team), self.rows(1 - team)
        B, n = self.num_envs, self.size[team]
        alive = self.health > 0
        me = alive[:, own]
        pos = self.pos[:, own]
        can_move = torch.stack(
            [
                pos[..., 1] + MOVE_DISTANCE <= MAP_SIZE,
                pos[..., 1] - MOVE_DISTANCE >= 0,
                pos[..., 0] + MOVE_DISTANCE <= MAP_SIZE,
                pos[..., 0] - MOVE_DISTANCE >= 0,
            ],
            dim=-1,
        )
        types = self.unit_type[:, own]
        reach = self.stats["attack_range"][types]
        heals = self.stats["heals"][types]
        n_slots = self.size[1 - team]
        foes = alive[:, None, opp] & (distances(pos, self.pos[:, opp]) <= reach[..., None])
        friends = (
            alive[:, None, own]
            & (distances(pos, pos) <= reach[..., None])
            & ~self.stats["heals"][types][:, None, :]
            & ~torch.eye(n, dtype=torch.bool, device=self.device)
        )
        friends = torch.nn.functional.pad(friends, (0, max(0, n_slots - n)))[..., :n_slots]
        targets = torch.where(heals[..., None], friends, foes)
        mask = torch.cat(
            [
                (~me)[..., None],
                me[..., None],
                can_move & me[..., None],
                targets & me[..., None],
            ],
            dim=-1,
        )
        return mask.reshape(B, n, N_BASIC + n_slots)

    def _action_mask(self) -> dict[str, Tensor]:
        return {
            name: self._team_mask(t) for t, name in zip(self.learners, ("allies", "enemies"), strict=False)
        }

    def _team_obs(self, team: int, mask: Tensor) -> Tensor:
        """SMACv2's observation for team `team` `[B, n, F]`: move flags, per enemy (shootable, distance, dx,
        dy over the sight range, then health, shield, type bits) and per other ally (visible instead of
        shootable), all zero outside the sight range; own health, shield, x and y over the map size, type
        bits. A dead agent's observation is zeros."""
        n, m = self.size[team], self.size[1 - team]
        own, opp = self.rows(team), self.rows(1 - team)
        alive = self.health > 0
        pos = self.pos[:, own]
        sight = self.stats["sight_range"][self.unit_type[:, own]][..., None, None]

        def block(rows: slice, flag: Tensor, k: int) -> Tensor:
            delta = self.pos[:, None, rows] - pos[:, :, None]  # [B, n, k, 2]
            dist = delta.norm(dim=-1, keepdim=True)
            seen = alive[:, None, rows] & (dist[..., 0] < sight[..., 0])
            units = self._unit_block(rows)[:, None].expand(-1, n, -1, -1)
            feats = torch.cat([flag[..., None].float(), dist / sight, delta / sight, units], dim=-1)
            return feats * seen[..., None]

        heals = self.stats["heals"][self.unit_type[:, own]][..., None]
        shootable = mask[..., N_BASIC:][..., :m] & ~heals
        enemies = block(opp, shootable, m)
        allies = block(own, torch.ones(self.num_envs, n, n, dtype=torch.bool, device=self.device), n)
        rank = torch.arange(n - 1, device=self.device)[None, :]
        others = rank + (rank >= torch.arange(n, device=self.device)[:, None])  # [n, n - 1]: all but oneself
        allies = allies.gather(2, others[None, :, :, None].expand(self.num_envs, -1, -1, allies.shape[-1]))
        mine = self._unit_block(own)
        s = 1 + int(self.has_shields)  # health and shield come before the own position, type bits after it
        own_feats = torch.cat([mine[..., :s], pos / MAP_SIZE, mine[..., s:]], dim=-1)
        obs = torch.cat(
            [mask[..., NORTH:N_BASIC].float(), enemies.flatten(2), allies.flatten(2), own_feats], dim=-1
        )
        return obs * alive[:, own, None]

    def _observe(self) -> dict[str, Tensor]:
        names = ("allies", "enemies")
        return {names[t]: self._team_obs(t, self._team_mask(t)) for t in self.learners}

    def _state(self) -> Tensor:
        """SMACv2's state: per ally health, cooldown (over the unit's base), x and y relative to the centre
        (over half the map), shield, type bits; per enemy the same without the cooldown; then the learners'
        last actions, one-hot. Dead units are zeros."""
        alive = (self.health > 0)[..., None]
        units = self._unit_block(slice(None))
        base = self.stats["cooldown"][self.unit_type].clamp(min=1e-6)
        rel = (self.pos - MAP_SIZE / 2) / (MAP_SIZE / 2)
        cooldown = (self.cooldown / base)[..., None]
        ally = torch.cat([units[..., :1], cooldown, rel, units[..., 1:]], dim=-1) * alive
        enemy = torch.cat([units[..., :1], rel, units[..., 1:]], dim=-1) * alive
        parts = [ally[:, self.rows(0)].flatten(1), enemy[:, self.rows(1)].flatten(1)]
        for t in self.learners:
            last = self.last_action[:, self.rows(t)]
            parts.append(torch.nn.functional.one_hot(last, self._n_actions(t)).flatten(1))
        return torch.cat([p.float() for p in parts], dim=1)

    def _episode_stats(self) -> dict[str, Tensor]:
        alive = self.health > 0
        return {
            "battle_won": self.won[:, 0].float(),
            "dead_allies": (~alive[:, self.rows(0)]).float().sum(1),
            "dead_enemies": (~alive[:, self.rows(1)]).float().sum(1),
        }

    def _render(self, index: int) -> np.ndarray:
        from envs.battle.render import draw

        return draw(self, index)

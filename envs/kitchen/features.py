"""overcooked_ai's featurized state (`OvercookedGridworld.featurize_state`, 96 values for 2 chefs), batched.

Per chef, 46 values in the reference's order:
- facing one-hot (N, S, E, W), held item one-hot (onion, soup, dish, tomato);
- (dx, dy) from the chef to the closest onion source, tomato source, dish source and soup (then the closest
  soup's onions and tomatoes), serving tile and empty counter; (0, 0) when holding that item or when none is
  reachable;
- for each of the 2 closest pots: exists, empty, full, cooking, ready, onions, tomatoes, cook time left, (dx, dy)
  (all 0 when fewer pots are reachable);
- whether each of the 4 neighbouring cells (N, S, E, W) is not floor (other chefs do not count).
Chef i's vector: its own 46, the other chefs' 46 each in index order, the other chefs' positions relative to
its own, its own (x, y): 48 N values for N chefs, the reference's layout for any number of players.

"Closest" is the reference's: the fewest actions (moves, a final turn, the interact) from the chef's cell and
facing to a cell beside the feature, facing it, through the single-chef motion graph (other chefs ignored),
the first such feature in row-major order on ties. The planner the reference's environment uses
(`NO_COUNTERS_PARAMS`) takes no counter as a motion goal, so items on counters and empty counters are never
"closest": the closest soup and empty counter are (0, 0) unless a soup is held. The distances from every
(cell, facing) to every tile are computed once per layout, on the device, by a breadth-first search over that
graph for all starts at once.
"""

from __future__ import annotations

import torch
from torch import Tensor

from envs.kitchen import layout as tiles
from envs.kitchen.env import DIRECTIONS, DISH, NOTHING, ONION, SOUP, TOMATO, KitchenEnv

FEATURES_PER_CHEF = 46
N_POTS = 2  # the reference's `num_pots` default
# held-item one-hot in the reference's order (onion, soup, dish, tomato), by the environment's item code
# (nothing, onion, tomato, dish, soup)
HELD_ONE_HOT = ((0, 0, 0, 0), (1, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (0, 1, 0, 0))


def features_size(n_chefs: int) -> int:
    """Length of one chef's vector: (46 + 2) per chef (96 for 2 chefs)."""
    return (FEATURES_PER_CHEF + 2) * n_chefs


def feature_names(n_chefs: int) -> tuple[str, ...]:
    """The names of one chef's vector, in order, with the reference's keys (`p0` the observing chef)."""
    names: list[str] = []
    for p in range(n_chefs):
        names += [f"p{p}_orientation_{d}" for d in "NSEW"]
        names += [f"p{p}_holds_{o}" for o in ("onion", "soup", "dish", "tomato")]
        for item in ("onion", "tomato", "dish", "soup"):
            names += [f"p{p}_closest_{item}_dx", f"p{p}_closest_{item}_dy"]
        names += [f"p{p}_closest_soup_n_onions", f"p{p}_closest_soup_n_tomatoes"]
        for item in ("serving", "empty_counter"):
            names += [f"p{p}_closest_{item}_dx", f"p{p}_closest_{item}_dy"]
        for j in range(N_POTS):
            flags = ("exists", "is_empty", "is_full", "is_cooking", "is_ready", "num_onions", "num_tomatoes")
            names += [f"p{p}_closest_pot_{j}_{f}" for f in (*flags, "cook_time", "dx", "dy")]
        names += [f"p{p}_wall_{d}" for d in range(4)]
    names += [f"p{p}_relative_{c}" for p in range(1, n_chefs) for c in "xy"]
    return (*names, "p0_x", "p0_y")


def motion_costs(terrain: Tensor, directions: Tensor) -> Tensor:
    """`[cells * 4, cells]`: the fewest actions from (cell, facing) to stand beside a tile facing it (the
    reference's `MotionPlanner.get_gridworld_distance` minimised over the tile's motion goals); inf for
    counters and floor (never motion goals) and for tiles not reachable. `terrain` is `[H, W]`, `directions`
    `[4, 2]` the (dx, dy) of N, S, E, W."""
    H, W = terrain.shape
    cells, dev = H * W, terrain.device
    flat = terrain.reshape(-1)
    x, y = torch.arange(cells, device=dev) % W, torch.arange(cells, device=dev) // W
    nx, ny = x[:, None] + directions[:, 0], y[:, None] + directions[:, 1]  # [cells, 4]
    inside = (nx >= 0) & (nx < W) & (ny >= 0) & (ny < H)
    neighbour = torch.where(
        inside, ny.clamp(0, H - 1) * W + nx.clamp(0, W - 1), torch.arange(cells, device=dev)[:, None]
    )
    enters = inside & (flat[neighbour] == tiles.FLOOR)
    # a move in direction d from (c, facing) turns to d and enters the neighbour if it is floor
    target_cell = torch.where(enters, neighbour, torch.arange(cells, device=dev)[:, None])  # [cells, 4]
    successor = (target_cell * 4 + torch.arange(4, device=dev)).repeat_interleave(4, dim=0)  # [cells * 4, 4]
    nodes = cells * 4
    distance = torch.full((nodes, nodes), float("inf"), device=dev)
    reached = torch.eye(nodes, device=dev)
    distance[reached.bool()] = 0.0
    for step in range(1, nodes + 1):  # breadth-first from every start at once
        grown = reached.clone()
        for d in range(4):
            grown.scatter_reduce_(1, successor[:, d].expand(nodes, nodes), reached, reduce="amax")
        new = (grown > reached).bool()
        if not bool(new.any()):
            break
        distance[new] = float(step)
        reached = grown
    # the tile's motion goals: a floor neighbour, facing back at the tile (the opposite direction)
    opposite = torch.tensor([1, 0, 3, 2], device=dev)
    goal = neighbour * 4 + opposite  # [cells, 4]
    targetable = (flat != tiles.FLOOR) & (flat != tiles.COUNTER)
    valid = enters & targetable[:, None]  # [tile, direction]
    to_goal = distance[:, goal]  # [nodes, tile, direction]
    to_goal = torch.where(valid, to_goal, float("inf"))
    return to_goal.amin(dim=2)


class KitchenFeatures:
    """The featurized observation of every chef of every copy of a `KitchenEnv`, from the env's tensors."""

    def __init__(self, env: KitchenEnv) -> None:
        self.env = env
        dev = env.device
        H, W = env.height, env.width
        terrain = env.terrain.view(H, W)
        directions = torch.tensor(DIRECTIONS, device=dev)
        self.cost = motion_costs(terrain, directions)  # [cells * 4, cells]
        cells = torch.arange(H * W, device=dev)
        self.xy = torch.stack([cells % W, cells // W], dim=1)  # [cells, 2]
        flat = env.terrain
        # the "closest" kinds in the reference's order: onion, tomato, dish, soup, serving tile, empty counter;
        # per kind the tiles that are always candidates and the item that makes a counter one (-1: none, and
        # the empty counter is a candidate when it holds nothing)
        self.static = torch.stack(
            [
                flat == tiles.ONION_DISPENSER,
                flat == tiles.TOMATO_DISPENSER,
                flat == tiles.DISH_DISPENSER,
                torch.zeros_like(flat, dtype=torch.bool),
                flat == tiles.SERVING,
                torch.zeros_like(flat, dtype=torch.bool),
            ]
        )  # [6, cells]
        self.counter_item = torch.tensor([ONION, TOMATO, DISH, SOUP, -1, NOTHING], device=dev)
        self.held_kind = torch.tensor([ONION, TOMATO, DISH, SOUP, -1, -1], device=dev)  # held: (0, 0)
        self.is_pot = flat == tiles.POT
        x, y = self.xy[:, 0:1] + directions[:, 0], self.xy[:, 1:2] + directions[:, 1]
        inside = (x >= 0) & (x < W) & (y >= 0) & (y < H)
        beside = flat[(y.clamp(0, H - 1) * W + x.clamp(0, W - 1))]
        self.wall = (~inside | (beside != tiles.FLOOR)).float()  # [cells, 4]
        self.held_one_hot = torch.tensor(HELD_ONE_HOT, dtype=torch.float32, device=dev)
        n = env.n_chefs
        self.order = torch.tensor([[c] + [o for o in range(n) if o != c] for c in range(n)], device=dev)

    def __call__(self) -> Tensor:
        """`[B, n, 48 n]`: every chef's vector (own features first)."""
        env = self.env
        B, n = env.pos.shape
        pos, held = env.pos, env.held
        inf = float("inf")
        cost = self.cost[pos * 4 + env.facing]  # [B, n, cells]
        rows = torch.arange(B, device=env.device)[:, None]
        # the six kinds at once: candidate cells [B, 6, cells], the closest per chef [B, n, 6]
        counter_item = torch.where(env.is_counter, env.item, -2)
        candidates = self.static | (counter_item[:, None] == self.counter_item[:, None])
        masked = torch.where(candidates[:, None], cost[:, :, None], inf)  # [B, n, 6, cells]
        best, index = masked.min(dim=3)  # the first minimum: row-major, the reference's list order
        found = (best < inf) & (held[..., None] != self.held_kind)
        delta = torch.where(found[..., None], self.xy[index] - self.xy[pos][:, :, None], 0)  # [B, n, 6, 2]
        soup_onions = torch.where(found[..., 3], env.onions[rows, index[..., 3]], 0)
        soup_onions = torch.where(held == SOUP, env.held_onions, soup_onions)
        parts = [torch.nn.functional.one_hot(env.facing, 4).float(), self.held_one_hot[held]]
        parts += [
            delta[:, :, :4].flatten(2),
            soup_onions[..., None],
            torch.zeros_like(soup_onions[..., None]),
        ]
        parts += [delta[:, :, 4:].flatten(2)]
        parts += self._pots(cost, pos, rows)
        parts += [self.wall[pos]]
        own = torch.cat([p.float() for p in parts], dim=2)  # [B, n, 46]
        xy = self.xy[pos].float()  # [B, n, 2]
        relative = xy[:, self.order[:, 1:]] - xy[:, :, None]  # [B, n, n - 1, 2]
        return torch.cat([own[:, self.order].flatten(2), relative.flatten(2), xy], dim=2)

    def _pots(self, cost: Tensor, pos: Tensor, rows: Tensor) -> list[Tensor]:
        """The `N_POTS` closest pots' 10 values each, closest first (the reference takes the closest, removes it
        and takes the closest of the rest: a stable sort, ties in row-major order)."""
        env = self.env
        pot_cost, index = torch.where(self.is_pot, cost, float("inf")).sort(dim=2, stable=True)
        exists, index = pot_cost[..., :N_POTS] < float("inf"), index[..., :N_POTS]  # [B, n, N_POTS]
        item, onions, tick = (t[rows[..., None], index] for t in (env.item, env.onions, env.tick))
        soup, idle = item != NOTHING, tick < 0
        cook_time = env.cook_time[onions]
        ready = soup & ~idle & (tick >= cook_time)
        values = [
            torch.ones_like(exists),
            ~soup,
            soup & (~idle | (onions == tiles.MAX_INGREDIENTS)),
            soup & ~idle & ~ready,
            ready,
            onions,
            torch.zeros_like(onions),
            torch.where(soup & ~idle, (cook_time - tick).clamp(min=0), 0),
        ]
        values = torch.stack([v.long() for v in values], dim=3)  # [B, n, N_POTS, 8]
        delta = self.xy[index] - self.xy[pos][:, :, None]  # [B, n, N_POTS, 2]
        return [torch.where(exists[..., None], torch.cat([values, delta], dim=3), 0).flatten(2)]

"""Kitchen layouts: the reference game's `.layout` files (a Python dict literal with a text grid and the orders).

Grid symbols (overcooked_ai's `OvercookedGridworld`): `X` counter, space floor (the only walkable tile), `O`
onion dispenser, `P` pot, `D` dish dispenser, `S` serving tile, `1`-`9` chef start cells (on floor). Orders
are recipes of onions only (tomato layouts are not supported); values and cook times follow overcooked_ai's
`Recipe` rules: `delivery_reward`, then `recipe_values` for recipes among the orders, then `onion_value` x
onions (only when `tomato_value` is set too), else 20; likewise `cook_time`, `recipe_times`, `onion_time`,
else 20. A delivered soup pays 0 unless its recipe is an order, and `order_bonus` (2) times its value for a
bonus order. Every rule broken names the file, the line and the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LAYOUTS_ROOT = Path(__file__).resolve().parent.parent / "maps" / "kitchen"  # envs/maps -> ../maps

FLOOR, COUNTER, ONION_DISPENSER, TOMATO_DISPENSER, DISH_DISPENSER, POT, SERVING = range(7)
TILES = {
    " ": FLOOR,
    "X": COUNTER,
    "O": ONION_DISPENSER,
    "T": TOMATO_DISPENSER,
    "D": DISH_DISPENSER,
    "P": POT,
    "S": SERVING,
}
MAX_INGREDIENTS = 3
RECIPE_KEYS = (
    "recipe_values",
    "recipe_times",
    "onion_value",
    "tomato_value",
    "onion_time",
    "tomato_time",
    "cook_time",
    "delivery_reward",
    "order_bonus",
)
KNOWN_KEYS = ("grid", "start_all_orders", "start_bonus_orders", "rew_shaping_params", *RECIPE_KEYS)


class LayoutError(ValueError):
    """A malformed layout file: `<file>:<line>: <rule broken>`."""


@dataclass(frozen=True)
class KitchenLayout:
    """One kitchen: the terrain `[H, W]` (tile codes), the chefs' start cells `(x, y)` in chef order, and for a
    soup of k onions (index k = 0..3) its cook time and the reward its delivery pays."""

    name: str
    path: Path
    rows: tuple[str, ...]
    terrain: np.ndarray
    starts: tuple[tuple[int, int], ...]
    cook_time: tuple[int, ...]
    delivery_value: tuple[int, ...]
    orders_have_three: bool

    @property
    def height(self) -> int:
        return self.terrain.shape[0]

    @property
    def width(self) -> int:
        return self.terrain.shape[1]


def layout_names() -> list[str]:
    """The layouts shipped in maps/kitchen/, sorted."""
    return sorted(p.stem for p in LAYOUTS_ROOT.glob("*.layout"))


def load_layout(name_or_path: str | Path) -> KitchenLayout:
    """Read a layout by name (a file in maps/kitchen/) or by path."""
    path = Path(name_or_path)
    if path.suffix != ".layout":
        path = LAYOUTS_ROOT / f"{name_or_path}.layout"
    if not path.is_file():
        raise FileNotFoundError(f"no kitchen layout {str(name_or_path)!r}; shipped layouts: {layout_names()}")
    return parse_layout(path.read_text(), path)


def parse_layout(text: str, path: Path) -> KitchenLayout:
    """Parse the text of a `.layout` file (a dict literal) and check every rule of the grid and the orders."""

    def fail(line: int, rule: str) -> LayoutError:
        return LayoutError(f"{path}:{line}: {rule}")

    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError as err:
        raise fail(err.lineno or 1, f"not a Python dict literal ({err.msg})") from None
    if not isinstance(tree, ast.Dict):
        raise fail(tree.lineno, "a layout file holds one dict literal")
    entries, lines = {}, {}
    for key_node, value_node in zip(tree.keys, tree.values, strict=True):
        if not isinstance(key_node, ast.Constant) or key_node.value not in KNOWN_KEYS:
            key = ast.unparse(key_node) if key_node is not None else "**"
            raise fail(
                key_node.lineno if key_node else tree.lineno, f"unknown key {key}; known: {KNOWN_KEYS}"
            )
        try:
            entries[key_node.value] = ast.literal_eval(value_node)
        except ValueError:
            raise fail(value_node.lineno, f"the value of {key_node.value!r} must be a literal") from None
        lines[key_node.value] = value_node.lineno
    if "grid" not in entries or not isinstance(entries["grid"], str):
        raise fail(tree.lineno, "a layout needs a 'grid' string")
    if entries.get("rew_shaping_params") is not None:
        raise fail(lines["rew_shaping_params"], "rew_shaping_params must be None (the standard shaping)")
    rows, starts, terrain = _read_grid(entries["grid"], lines["grid"], fail)
    cook_time, value, three = _recipes(entries, lines, fail)
    return KitchenLayout(path.stem, path, rows, terrain, starts, cook_time, value, three)


def _read_grid(grid: str, first_line: int, fail) -> tuple[tuple[str, ...], tuple, np.ndarray]:
    rows = tuple(row.strip() for row in grid.split("\n"))
    width = len(rows[0])
    starts: dict[int, tuple[int, int]] = {}
    for y, row in enumerate(rows):
        line = first_line + y
        if len(row) != width:
            raise fail(line, f"ragged grid: row {y} has {len(row)} cells, row 0 has {width}")
        for x, c in enumerate(row):
            if c in "123456789":
                if int(c) in starts:
                    raise fail(line, f"chef start {c} appears twice")
                starts[int(c)] = (x, y)
            elif c == "T":
                raise fail(line, "tomato dispensers are not supported (onion-only kitchens)")
            elif c not in TILES:
                raise fail(line, f"unknown symbol {c!r} at column {x}; expected one of 'XOPDS', space or 1-9")
            border = y in (0, len(rows) - 1) or x in (0, width - 1)
            if border and (c == " " or c.isdigit()):
                raise fail(line, f"the border must not be floor (column {x})")
    text = "".join(rows)
    last = first_line + len(rows) - 1
    for symbol, what in (
        ("P", "a pot"),
        ("D", "a dish dispenser"),
        ("S", "a serving tile"),
        ("O", "an onion dispenser"),
    ):
        if symbol not in text:
            raise fail(last, f"the grid needs at least one {symbol!r} ({what})")
    if not starts:
        raise fail(last, "the grid needs chef start cells 1, 2, ...")
    missing = sorted(set(range(1, max(starts) + 1)) - set(starts))
    if missing:
        raise fail(
            last, f"chef start cells must be numbered 1..{max(starts)} without gaps; missing {missing}"
        )
    terrain = np.array([[TILES.get(c, FLOOR) for c in row] for row in rows], dtype=np.int64)
    return rows, tuple(starts[i] for i in sorted(starts)), terrain


def _onions(order, line: int, fail) -> int:
    ingredients = order.get("ingredients") if isinstance(order, dict) else None
    if not isinstance(ingredients, (list, tuple)) or not 1 <= len(ingredients) <= MAX_INGREDIENTS:
        raise fail(
            line, f"an order is {{'ingredients': [1 to {MAX_INGREDIENTS} ingredients]}}, got {order!r}"
        )
    if any(i != "onion" for i in ingredients):
        raise fail(line, f"only onion recipes are supported, got {list(ingredients)}")
    return len(ingredients)


def _recipes(entries: dict, lines: dict, fail) -> tuple[tuple[int, ...], tuple[int, ...], bool]:
    """Cook time and delivery pay of a soup of k = 0..3 onions (index 0 unused), as overcooked_ai's Recipe."""
    all_line = lines.get("start_all_orders", 1)
    orders = [_onions(o, all_line, fail) for o in entries.get("start_all_orders", [])]
    bonus_line = lines.get("start_bonus_orders", all_line)
    bonus = {_onions(o, bonus_line, fail) for o in entries.get("start_bonus_orders", [])}
    if not orders:
        orders = list(range(1, MAX_INGREDIENTS + 1))  # no order list: every recipe is an order
    for key in ("recipe_values", "recipe_times"):
        if key in entries and len(entries[key]) != len(orders):
            raise fail(lines[key], f"{key} needs one number per order ({len(orders)})")
    values = dict(zip(orders, entries.get("recipe_values", []), strict=False))
    times = dict(zip(orders, entries.get("recipe_times", []), strict=False))
    per_onion_value = entries.get("onion_value") if entries.get("tomato_value") else None
    per_onion_time = entries.get("onion_time") if entries.get("tomato_time") else None
    cook_time, pay = [0], [0]
    for k in range(1, MAX_INGREDIENTS + 1):
        value = _first_set(entries.get("delivery_reward"), values, k, per_onion_value)
        cook_time.append(_first_set(entries.get("cook_time"), times, k, per_onion_time))
        bonus_factor = entries.get("order_bonus", 2) if k in bonus else 1
        pay.append(value * bonus_factor if k in orders else 0)
    return tuple(int(t) for t in cook_time), tuple(int(p) for p in pay), all(k == 3 for k in orders)


def _first_set(fixed: int | None, per_recipe: dict[int, int], k: int, per_onion: int | None) -> int:
    """Recipe.value / Recipe.time for k onions: a fixed number, else the recipe's own, else per onion, else 20."""
    if fixed:
        return fixed
    if k in per_recipe:
        return per_recipe[k]
    return per_onion * k if per_onion else 20

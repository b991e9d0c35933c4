"""Tasks as predicates with progress in [0, 1] (the reference's design, NM `nmmo/task`): reward is the change
in progress, so a completed task pays 1 in total and nothing afterwards.

A task is written `name` or `name:argument`:

| task | progress | default argument |
|---|---|---|
| `survive[:N]` | ticks alive / N (NM's default task `TickGE(HORIZON)`) | the horizon |
| `eat[:N]` | foliage harvested / N | 10 |
| `drink[:N]` | ticks drinking (next to water) / N | 10 |
| `defeat_npcs[:N]` | NPCs defeated / N | 1 |
| `explore[:N]` | distinct tiles stood on / N | 64 |
| `reach:ROW,COL` | 1 once the agent stands on tile (ROW, COL), else 0 | (required) |
"""

from __future__ import annotations

from dataclasses import dataclass

SURVIVE, EAT, DRINK, DEFEAT_NPCS, EXPLORE, REACH = range(6)
TASK_NAMES = ("survive", "eat", "drink", "defeat_npcs", "explore", "reach")
DEFAULT_TARGET = {"eat": 10, "drink": 10, "defeat_npcs": 1, "explore": 64}


@dataclass(frozen=True)
class Task:
    """One parsed task: its kind (an index of `TASK_NAMES`), its count target and, for `reach`, the tile."""

    kind: int
    target: int
    tile: tuple[int, int] = (0, 0)


def parse_task(spec: str, horizon: int, size: int) -> Task:
    """`parse_task("eat:5", ...)` -> Task(EAT, 5); a clear error for an unknown name or a bad argument."""
    if not isinstance(spec, str):
        raise ValueError(f"a task is a string 'name' or 'name:argument', got {spec!r}")
    name, _, argument = spec.partition(":")
    if name not in TASK_NAMES:
        raise ValueError(
            f"unknown task {spec!r}: expected one of {list(TASK_NAMES)} (e.g. 'eat:5', 'reach:40,60')"
        )
    if name == "reach":
        parts = argument.split(",")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ValueError(f"task {spec!r}: reach needs a tile 'reach:ROW,COL' with non-negative ints")
        row, col = (int(p) for p in parts)
        if row >= size or col >= size:
            raise ValueError(f"task {spec!r}: tile ({row}, {col}) is outside the {size}x{size} map")
        return Task(REACH, 1, (row, col))
    if argument == "":
        target = horizon if name == "survive" else DEFAULT_TARGET[name]
    elif argument.isdigit() and int(argument) >= 1:
        target = int(argument)
    else:
        raise ValueError(f"task {spec!r}: the argument of {name} must be a positive int, got {argument!r}")
    return Task(TASK_NAMES.index(name), target)

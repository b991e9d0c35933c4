"""Battle scenarios: SMAC's classic fixed maps and SMACv2's procedural `<race>_<n>_vs_<m>` ones.

Classic maps (SMAC `smac/env/starcraft2/maps/smac_maps.py`): each team's unit list and the episode limit.
Both teams start in a line facing each other (allies around x = 8, enemies around x = 24, y = 16), each unit
shifted by up to 2 in x and y.

Procedural maps (SMACv2 `sc2_gen_<race>.yaml`, `distributions.py`): each ally's type is drawn with the race's
weights; a team made only of the race's exception unit (medivac, baneling) is drawn again; the enemies copy
the ally team and extra enemies are drawn the same way. Start positions are "surrounded" or "reflect" with p
0.5 each on the 32 x 32 map; episodes last at most 200 steps.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAP_SIZE = 32.0
RACE_WEIGHTS: dict[str, dict[str, float]] = {
    "protoss": {"stalker": 0.45, "zealot": 0.45, "colossus": 0.1},
    "terran": {"marine": 0.45, "marauder": 0.45, "medivac": 0.1},
    "zerg": {"zergling": 0.45, "hydralisk": 0.45, "baneling": 0.1},
}
EXCEPTION_UNIT = {"protoss": None, "terran": "medivac", "zerg": "baneling"}
PROCEDURAL_LIMIT = 200
PROCEDURAL = re.compile(r"^(protoss|terran|zerg)_(\d+)_vs_(\d+)$")


@dataclass(frozen=True)
class Scenario:
    """One battle: fixed unit lists (`allies`, `enemies`), or a race whose teams are drawn at each reset."""

    name: str
    n_allies: int
    n_enemies: int
    episode_limit: int
    allies: tuple[str, ...] = ()
    enemies: tuple[str, ...] = ()
    race: str | None = None

    @property
    def unit_types(self) -> tuple[str, ...]:
        """The types that may appear, in the order of the observation's type bits."""
        if self.race is not None:
            return tuple(RACE_WEIGHTS[self.race])
        return tuple(dict.fromkeys(self.allies + self.enemies))


def _fixed(name: str, allies: dict[str, int], enemies: dict[str, int], limit: int) -> Scenario:
    a = tuple(t for t, k in allies.items() for _ in range(k))
    e = tuple(t for t, k in enemies.items() for _ in range(k))
    return Scenario(name, len(a), len(e), limit, allies=a, enemies=e)


CLASSIC: dict[str, Scenario] = {
    s.name: s
    for s in (
        _fixed("3m", {"marine": 3}, {"marine": 3}, 60),
        _fixed("8m", {"marine": 8}, {"marine": 8}, 120),
        _fixed("2s3z", {"stalker": 2, "zealot": 3}, {"stalker": 2, "zealot": 3}, 120),
        _fixed("3s5z", {"stalker": 3, "zealot": 5}, {"stalker": 3, "zealot": 5}, 150),
        _fixed("5m_vs_6m", {"marine": 5}, {"marine": 6}, 70),
        _fixed("10m_vs_11m", {"marine": 10}, {"marine": 11}, 150),
        _fixed("27m_vs_30m", {"marine": 27}, {"marine": 30}, 180),
        _fixed("3s5z_vs_3s6z", {"stalker": 3, "zealot": 5}, {"stalker": 3, "zealot": 6}, 170),
        _fixed("6h_vs_8z", {"hydralisk": 6}, {"zealot": 8}, 150),
    )
}
PROCEDURAL_NAMES = tuple(
    f"{race}_{a}_vs_{e}" for race in RACE_WEIGHTS for a, e in ((5, 5), (10, 10), (20, 20), (10, 11), (20, 23))
)


def get_scenario(name: str) -> Scenario:
    """A classic map by name, or `<race>_<n>_vs_<m>` for any race and team sizes 1..64."""
    if name in CLASSIC:
        return CLASSIC[name]
    match = PROCEDURAL.match(name) if isinstance(name, str) else None
    if match is None:
        raise ValueError(
            f"unknown battle scenario {name!r}; expected a classic map {sorted(CLASSIC)} or "
            "'<race>_<allies>_vs_<enemies>' with race protoss, terran or zerg (e.g. 'protoss_5_vs_5')"
        )
    race, a, e = match.group(1), int(match.group(2)), int(match.group(3))
    if not (1 <= a <= 64 and a <= e <= 64):
        raise ValueError(f"scenario {name!r}: expected 1 <= allies <= enemies <= 64, got {a} and {e}")
    return Scenario(name, a, e, PROCEDURAL_LIMIT, race=race)


def scenario_names() -> tuple[str, ...]:
    return (*CLASSIC, *PROCEDURAL_NAMES)

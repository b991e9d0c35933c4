"""Unit types of the battle environment, their statistics and where each number comes from.

The six SMAX units (marine, marauder, stalker, zealot, zergling, hydralisk) take JaxMARL SMAX's statistics
(`jaxmarl/environments/smax/smax_env.py`): health, damage, attack range, sight range, speed (distance per
second) and weapon cooldown (seconds), the values of StarCraft II at game speed "faster". SMAX folds shields
into health; here the protoss units keep their StarCraft II split (stalker 80 + 80, zealot 100 + 50: the same
totals), because SMACv2's observation reports shields apart.

SMACv2's three extra units take StarCraft II's values at "faster" (Liquipedia's unit pages, Legacy of the
Void), with SMACv2's attack and sight ranges (`smacv2/env/starcraft2/starcraft2.py`, `use_unit_ranges`):
colossus 200 + 150 shield, 20 damage per attack (two beams of 10), cooldown 1.07 s, range 7, speed 3.15;
medivac 150 health, heals an ally 12.6 health per second (energy ignored), range 4, speed 3.5; baneling 30
health, 16 damage to every enemy within 2.2 of itself when it reaches its target (then it dies), speed 3.5.
Bonus damage against armour types, armour itself, the colossus's line splash and shield regeneration are not
modelled (SMAX leaves them out too).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class UnitType:
    name: str
    race: str
    health: float
    shield: float
    damage: float  # per attack; for a healer, health restored per second
    attack_range: float
    sight_range: float
    speed: float  # distance per second
    cooldown: float  # seconds between attacks
    heals: bool = False  # its "attacks" target allies and restore health
    splash: float = 0.0  # > 0: the attack hits every enemy within this radius and the unit dies


UNIT_TYPES: tuple[UnitType, ...] = (
    UnitType("marine", "terran", 45, 0, 9, 5, 9, 3.15, 0.61),
    UnitType("marauder", "terran", 125, 0, 10, 6, 10, 2.25, 1.07),
    UnitType("stalker", "protoss", 80, 80, 13, 6, 10, 4.13, 1.87),
    UnitType("zealot", "protoss", 100, 50, 8, 2, 9, 3.15, 0.86),
    UnitType("zergling", "zerg", 35, 0, 5, 2, 8, 4.13, 0.5),
    UnitType("hydralisk", "zerg", 80, 0, 12, 5, 9, 3.15, 0.59),
    UnitType("colossus", "protoss", 200, 150, 20, 7, 10, 3.15, 1.07),
    UnitType("medivac", "terran", 150, 0, 12.6, 4, 11, 3.5, 0.0, heals=True),
    # SMACv2's baneling range is 0.25, and an attack is available within max(range, 2) (`min_attack_range`)
    UnitType("baneling", "zerg", 30, 0, 16, 2, 8, 3.5, 0.0, splash=2.2),
)
UNIT_INDEX = {u.name: i for i, u in enumerate(UNIT_TYPES)}
STAT_NAMES = ("health", "shield", "damage", "attack_range", "sight_range", "speed", "cooldown", "splash")


def unit_index(name: str) -> int:
    if name not in UNIT_INDEX:
        raise ValueError(f"unknown unit type {name!r}; expected one of {sorted(UNIT_INDEX)}")
    return UNIT_INDEX[name]


def stat_table(device: torch.device) -> dict[str, torch.Tensor]:
    """`{stat: [n_types]}` float tensors (and `heals`, bool) indexed by unit type id."""
    table = {s: torch.tensor([float(getattr(u, s)) for u in UNIT_TYPES], device=device) for s in STAT_NAMES}
    table["heals"] = torch.tensor([u.heals for u in UNIT_TYPES], device=device)
    return table

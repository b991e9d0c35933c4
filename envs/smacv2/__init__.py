"""SMACv2 on StarCraft II itself, as `smacv2/<race>_<allies>_vs_<enemies>` (e.g. `smacv2/protoss_5_vs_5`).

Each id builds SMACv2's `StarCraftCapabilityEnvWrapper` with the capability config of SMACv2's own examples
(`smacv2/examples/configs/sc2_gen_<race>.yaml`: unit types drawn with the race's weights, a team made only of
the exception unit redrawn, start positions surrounded or reflected with p 0.5 on the 32x32 map `10gen_<race>`,
difficulty 7, step_mul 8), one game instance per copy (`SMACv2Env`). SMACv2 and StarCraft II are optional:
the ids are always listed, and building one without them raises `marl.MissingDependency` saying how to install
them (`pip install 'marl-suite[smacv2]'` and the game, see docs/environments/smacv2.md).
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any

import marl
from envs.smacv2.env import GROUP, SMACv2Env
from marl.core.registry import MissingDependency
from marl.core.validation import check_bool, check_choice, check_int, check_number

# race -> (unit types, their weights, exception unit types), in the order of SMACv2's example configs
RACES: dict[str, tuple[tuple[str, ...], tuple[float, ...], tuple[str, ...]]] = {
    "protoss": (("stalker", "zealot", "colossus"), (0.45, 0.45, 0.1), ()),
    "terran": (("marine", "marauder", "medivac"), (0.45, 0.45, 0.1), ("medivac",)),
    "zerg": (("zergling", "baneling", "hydralisk"), (0.45, 0.1, 0.45), ("baneling",)),
}
SIZES = ((5, 5), (10, 10), (20, 20), (10, 11), (20, 23))  # (allies, enemies): SMACv2's scenarios
MAPS = tuple(f"{race}_{n}_vs_{m}" for race in RACES for n, m in SIZES)
MAP_SIZE = 32
INSTALL = (
    "the smacv2/* environments need SMACv2 and StarCraft II: "
    "pip install git+https://github.com/oxwhirl/smacv2.git (or pip install 'marl-suite[smacv2]'); "
    "then install StarCraft II (Linux: Blizzard's SC2.4.10 package, as the install_sc2.sh script of "
    "github.com/benellis3/mappo that SMACv2's README points to does), set SC2PATH to the game's folder "
    "(pysc2 looks in ~/StarCraftII without it) and put SMACv2's SMAC_Maps folder (with 32x32_flat.SC2Map, from "
    "github.com/oxwhirl/smacv2/releases/tag/maps) in $SC2PATH/Maps; see docs/environments/smacv2.md"
)


@dataclasses.dataclass
class SMACv2Config:
    """Options of SMACv2's game: `reflect_p` goes into the capability config, every other key to
    `StarCraftCapabilityEnvWrapper` under its own name. The id fixes the race and the team sizes; the defaults
    are those of SMACv2's example configs."""

    difficulty: str = "7"  # the built-in AI's level, "1" (very easy) to "A" (cheat insane)
    step_mul: int = 8  # game steps per environment step
    reflect_p: float = 0.5  # probability of the reflected start (else surrounded)
    conic_fov: bool = False
    obs_own_pos: bool = True
    use_unit_ranges: bool = True
    min_attack_range: int = 2
    game_version: str | None = None  # None: the installed StarCraft II

    def validate(self) -> None:
        check_choice("difficulty", self.difficulty, [*"123456789", "A"])
        check_int("step_mul", self.step_mul, low=1)
        check_number("reflect_p", self.reflect_p, low=0.0, high=1.0)
        for name in ("conic_fov", "obs_own_pos", "use_unit_ranges"):
            check_bool(name, getattr(self, name))
        check_int("min_attack_range", self.min_attack_range, low=0)
        if self.game_version is not None and not isinstance(self.game_version, str):
            raise ValueError(
                f"game_version must be a string such as '4.10' or None, got {self.game_version!r}"
            )


def capability_config(race: str, n_units: int, n_enemies: int, reflect_p: float = 0.5) -> dict[str, Any]:
    """SMACv2's distribution config for a race and team sizes, as in its example configs."""
    units, weights, exceptions = RACES[race]
    team_gen = {"dist_type": "weighted_teams", "unit_types": list(units), "weights": list(weights)}
    if exceptions:
        team_gen["exception_unit_types"] = list(exceptions)
    team_gen["observe"] = True
    return {
        "n_units": n_units,
        "n_enemies": n_enemies,
        "team_gen": team_gen,
        "start_positions": {
            "dist_type": "surrounded_and_reflect",
            "p": reflect_p,
            "map_x": MAP_SIZE,
            "map_y": MAP_SIZE,
        },
    }


def game_factory(race: str, n_units: int, n_enemies: int, config: SMACv2Config) -> Any:
    """`seed -> StarCraftCapabilityEnvWrapper` for one copy; raises `MissingDependency` without smacv2."""
    try:
        from smacv2.env import StarCraftCapabilityEnvWrapper
    except ModuleNotFoundError as err:  # smacv2 itself, or pysc2 / protobuf it imports
        raise MissingDependency(f"{INSTALL} (import failed: {err})") from err
    capabilities = capability_config(race, n_units, n_enemies, config.reflect_p)
    # every other key is one of the wrapper's (StarCraft2Env's) keyword arguments, under its own name
    options = {k: v for k, v in dataclasses.asdict(config).items() if k != "reflect_p"}

    def build(seed: int) -> Any:
        return StarCraftCapabilityEnvWrapper(
            capability_config=copy.deepcopy(capabilities),  # the wrapper writes into its config
            map_name=f"10gen_{race}",
            seed=seed,
            continuing_episode=True,  # SMACv2 then reports a timeout as info["episode_limit"]
            **options,
        )

    return build


def _build(
    config: SMACv2Config,
    num_envs: int,
    device: str,
    seed: int | None,
    *,
    race: str,
    n_units: int,
    n_enemies: int,
) -> SMACv2Env:
    """The registered factory of one map."""
    game_fn = game_factory(race, n_units, n_enemies, config)
    return SMACv2Env(game_fn, num_envs=num_envs, device=device, seed=seed)


def register() -> None:
    """Register `smacv2/<race>_<n>_vs_<m>` for SMACv2's 15 scenarios (idempotent); they build only where
    smacv2 and StarCraft II are installed."""
    for race in RACES:
        for n, m in SIZES:
            name = f"{race}_{n}_vs_{m}"
            if name not in _factories:
                _factories[name] = functools.partial(_build, race=race, n_units=n, n_enemies=m)
            description = (
                f"SMACv2 on StarCraft II: {race}, {n} allies vs {m} enemies (needs smacv2 and the game)."
            )
            marl.register_env(
                f"smacv2/{name}", _factories[name], config=SMACv2Config, description=description
            )


_factories: dict[str, functools.partial] = {}

__all__ = ["GROUP", "MAPS", "RACES", "SIZES", "SMACv2Config", "SMACv2Env", "capability_config", "register"]

"""The mean-field Ising model of Yang et al. (2018): `ising/lattice`, every spin of a periodic lattice an agent
that is paid for agreeing with its four neighbours. See docs/environments/ising.md."""

from __future__ import annotations

import marl
from envs.ising.lattice import IsingConfig, IsingLattice, lattice_neighbours

__all__ = ["IsingConfig", "IsingLattice", "lattice_neighbours", "register"]


def register() -> None:
    """Register `ising/lattice` with the core (idempotent)."""
    marl.register_env(
        "ising/lattice",
        IsingLattice,
        config=IsingConfig,
        description="Yang et al.'s mean-field Ising model: spins of an L x L periodic lattice as agents.",
    )

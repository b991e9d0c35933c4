"""What the particle-world families (envs.mpe, envs.swarm) share: the batched 2D physics core
(`ParticleWorld`, mpe2's rules), the discrete movement directions, and the pygame drawing of discs."""

from envs.particles.physics import MOVE_DIRECTIONS, ParticleWorld, length

__all__ = ["MOVE_DIRECTIONS", "ParticleWorld", "length"]

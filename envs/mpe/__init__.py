"""Particle worlds: mpe2's MPE tasks on a batched 2D physics core (`envs.particles.ParticleWorld`)."""

from __future__ import annotations

import marl
from envs.mpe.base import AgentSpec, LandmarkSpec, MPEConfig, MPEEnv, PartialObservabilityConfig
from envs.mpe.simple import Simple
from envs.mpe.simple_adversary import SimpleAdversary, SimpleAdversaryConfig
from envs.mpe.simple_crypto import SimpleCrypto
from envs.mpe.simple_push import SimplePush
from envs.mpe.simple_reference import SimpleReference, SimpleReferenceConfig
from envs.mpe.simple_speaker_listener import SimpleSpeakerListener
from envs.mpe.simple_spread import SimpleSpread, SimpleSpreadConfig
from envs.mpe.simple_tag import SimpleTag, SimpleTagConfig
from envs.mpe.simple_world_comm import SimpleWorldComm, SimpleWorldCommConfig
from envs.particles.physics import ParticleWorld

TASKS: dict[str, type[MPEEnv]] = {
    "simple": Simple,
    "simple_spread": SimpleSpread,
    "simple_tag": SimpleTag,
    "simple_adversary": SimpleAdversary,
    "simple_push": SimplePush,
    "simple_reference": SimpleReference,
    "simple_speaker_listener": SimpleSpeakerListener,
    "simple_crypto": SimpleCrypto,
    "simple_world_comm": SimpleWorldComm,
}


def register() -> None:
    """Register every MPE task as `mpe/<name>` (idempotent)."""
    for name, factory in TASKS.items():
        marl.register_env(f"mpe/{name}", factory, config=factory.config_class)


__all__ = [
    "AgentSpec",
    "LandmarkSpec",
    "MPEConfig",
    "MPEEnv",
    "PartialObservabilityConfig",
    "SimpleAdversaryConfig",
    "SimpleReferenceConfig",
    "SimpleSpreadConfig",
    "SimpleTagConfig",
    "SimpleWorldCommConfig",
    "ParticleWorld",
    "TASKS",
    "register",
    *(c.__name__ for c in TASKS.values()),
]

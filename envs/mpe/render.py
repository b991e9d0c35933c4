"""Drawing of one MPE copy as mpe2 draws it: every entity (`envs.particles.render.draw_particles`) and a
caption per speaking agent."""

from __future__ import annotations

import numpy as np

from envs.particles.render import draw_particles

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def message_text(name: str, message: np.ndarray, continuous: bool) -> str:
    """mpe2's caption for an agent's message: `_` when silent, a letter (discrete) or the values."""
    if not np.any(message):
        word = "_"
    elif continuous:
        word = "[" + ",".join(f"{v:.2f}" for v in message) + "]"
    else:
        word = ALPHABET[int(np.argmax(message))]
    return f"{name} sends {word}"


def render_mpe(env, index: int) -> np.ndarray:
    """Copy `index` of an `MPEEnv`: every entity, and a caption per speaking agent (as mpe2 draws it)."""
    positions = env.world.pos[index].detach().cpu().double().numpy()
    sizes = env.world.size.detach().cpu().double().numpy()
    colors = env._entity_colors(index)
    comm = env.comm[index].detach().cpu().double().numpy()
    text = [
        message_text(spec.name, comm[i], env.continuous_actions)
        for i, spec in enumerate(env.agent_specs)
        if not spec.silent
    ]
    cam_range = max(1.0, float(np.abs(positions).max()) + float(sizes.max()))
    return draw_particles(positions, sizes, colors, cam_range=cam_range, text=text)

"""Reading a `Step` field by field: the layout checks and the trajectory comparisons share these."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from torch import Tensor

from marl.core.env import BatchedEnv, Step

# what a field of a Step belongs to at an auto-reset step: the ended episode ("outcome"), the new one
# ("observation"), or episode statistics (meaningful only where `done`)
OUTCOME, OBSERVATION, INFO = "outcome", "observation", "info"


def torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype


def observation_fields(obs: Any, space: gym.spaces.Space, where: str) -> dict[str, Tensor]:
    """`{key: tensor}` of one group's observation (key "" for a Box space), checked against the space's
    structure: a Tensor for a Box, a dict with the Dict space's keys in its order for a Dict."""
    if isinstance(space, gym.spaces.Dict):
        if not isinstance(obs, dict) or list(obs) != list(space.spaces):
            got = list(obs) if isinstance(obs, dict) else type(obs).__name__
            raise AssertionError(
                f"{where}: expected a dict with keys {list(space.spaces)} in order, got {got}"
            )
        return dict(obs)
    if not isinstance(obs, Tensor):
        raise AssertionError(f"{where}: expected a Tensor for {space}, got {type(obs).__name__}")
    return {"": obs}


def observation_spaces(space: gym.spaces.Space) -> dict[str, gym.spaces.Box]:
    """`{key: Box}` of a group's observation space (key "" for a Box space)."""
    return dict(space.spaces) if isinstance(space, gym.spaces.Dict) else {"": space}


def step_fields(env: BatchedEnv, step: Step) -> Iterator[tuple[str, str, Tensor]]:
    """Every tensor of `step` as `(label, kind, tensor)`, the batch dimension first; kind is OUTCOME,
    OBSERVATION or INFO (see above)."""
    for g, spec in env.group_specs.items():
        gs = step[g]
        for key, t in observation_fields(gs.obs, spec.observation_space, f"group {g!r} obs").items():
            yield f"{g}.obs{f'[{key}]' if key else ''}", OBSERVATION, t
        yield f"{g}.reward", OUTCOME, gs.reward
        yield f"{g}.terminated", OUTCOME, gs.terminated
        yield f"{g}.alive", OBSERVATION, gs.alive
        optional = {"joined": gs.joined, "action_mask": gs.action_mask}
        if gs.neighbours is not None:
            optional |= {"neighbours.index": gs.neighbours.index, "neighbours.mask": gs.neighbours.mask}
        for name, t in optional.items():
            if t is not None:
                yield f"{g}.{name}", OBSERVATION, t
        if step.final_obs is not None:
            final = observation_fields(step.final_obs[g], spec.observation_space, f"group {g!r} final_obs")
            for key, t in final.items():
                yield f"{g}.final_obs{f'[{key}]' if key else ''}", OUTCOME, t
    yield "state", OBSERVATION, step.state
    yield "truncated", OUTCOME, step.truncated
    yield "done", OUTCOME, step.done
    if step.final_state is not None:
        yield "final_state", OUTCOME, step.final_state
    for name, t in step.info.items():
        yield f"info[{name}]", INFO, t

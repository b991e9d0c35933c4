"""Accelerators: an environment on another device follows its CPU trajectory, and loops stay free of host syncs.

`check_matches_cpu` compares one step at a time from the same state: before each step the CPU copy's state
(every tensor and number the environment holds) is copied into the other copy, both take the same actions, and
every field of the two steps must agree within float tolerance. Random draws inside a step come from each
device's own generator and differ, so the values that depend on them are left out: they are the values where a
second CPU copy, stepped from the same state with another seed, disagrees with the first. With
`device="cpu"` the check compares two CPU copies, which exercises all of it without an accelerator.

`HostSyncs` records the CUDA host synchronisations (`torch.cuda.set_sync_debug_mode`) a block of code makes,
with the line of the suite that made each one; `step_loop_syncs` keeps those between the first and the last
`env.step` of a training iteration, i.e. inside its step loop.
"""

from __future__ import annotations

import dataclasses
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from marl.bridge import PettingZooEnv
from marl.core.env import BatchedEnv
from marl.testing.harness import CheckSkipped, Subject, conformance_check, require
from marl.testing.tensors import INFO, step_fields

RTOL, ATOL = 1e-4, 1e-5
ROOT = Path(__file__).resolve().parents[2]
# the words of torch's warning for a synchronising CUDA call under set_sync_debug_mode("warn")
SYNC_WARNING = "called a synchronizing CUDA operation"


# ====================================================================== the CPU trajectory
@conformance_check("matches_cpu")
def check_matches_cpu(subject: Subject) -> None:
    """On `device`, every step from the CPU copy's state under the same actions gives the CPU's outcome
    within float tolerance (values drawn at random inside the step left out, see the module docstring)."""
    cpu = subject.make(device="cpu")
    if isinstance(cpu, PettingZooEnv):
        raise CheckSkipped("wraps external PettingZoo environments, which run on the CPU whatever the device")
    twin = subject.make(device="cpu", seed=subject.seed + 1)
    other = subject.make(seed=subject.seed + 2)
    for env, seed in ((cpu, subject.seed), (twin, subject.seed + 1), (other, subject.seed + 2)):
        env.reset(seed=seed)
    actions = torch.Generator()
    actions.manual_seed(subject.seed)
    compared = 0
    for t in range(1, subject.steps + 1):
        copy_state(cpu, twin)
        copy_state(cpu, other)
        chosen = cpu.sample_actions(actions)
        reference, alternative = cpu.step(chosen), twin.step(chosen)
        result = other.step({g: a.to(other.device) for g, a in chosen.items()})
        compared += compare_steps(cpu, reference, alternative, result, f"step {t} on {other.device}")
    require(compared > 0, "every value depended on random draws inside the step: nothing could be compared")


def compare_steps(env: BatchedEnv, reference: Any, alternative: Any, result: Any, when: str) -> int:
    """How many values of `result` were compared with `reference` (those where `alternative`, the CPU run
    with other random draws, agrees with it); fails on the first value outside the tolerance."""
    fields = {label: (kind, t) for label, kind, t in step_fields(env, reference)}
    alternatives = {label: t for label, _, t in step_fields(env, alternative)}
    results = {label: t for label, _, t in step_fields(env, result)}
    compared = 0
    for label, (kind, expected) in fields.items():
        if label not in results:
            raise AssertionError(f"{when}: {label} is missing (the CPU step has it)")
        got = results[label].cpu()
        require(got.shape == expected.shape, f"{when}: {label} has shape {tuple(got.shape)}, on CPU {tuple(expected.shape)}")  # fmt: skip
        deterministic = expected == alternatives[label]
        if kind == INFO:  # episode statistics mean something only where an episode ended
            deterministic &= reference.done.reshape(-1, *[1] * (expected.dim() - 1))
        if expected.is_floating_point():
            close = torch.isclose(got, expected, rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            close = got == expected
        wrong = deterministic & ~close
        if wrong.any():
            index = tuple(int(i) for i in wrong.nonzero()[0])
            raise AssertionError(
                f"{when}: {label}{list(index)} is {got[index].item()}, on CPU {expected[index].item()} "
                f"(rtol {RTOL}, atol {ATOL})"
            )
        compared += int(deterministic.sum())
    return compared


def copy_state(source: BatchedEnv, target: BatchedEnv) -> None:
    """Make `target` hold `source`'s state: every tensor, array and number reachable from its attributes
    (through dicts, lists, tuples and plain objects), copied in place where shapes agree. The generator is
    left alone: each copy keeps drawing from its own."""
    _copy_into(source, target, "env", set())


def _copy_into(source: Any, target: Any, path: str, seen: set[int]) -> Any:
    """The value `target` should hold for `source` (tensors are copied in place when they can be)."""
    if isinstance(source, Tensor):
        if isinstance(target, Tensor) and target.shape == source.shape and target.dtype == source.dtype:
            return target.copy_(source)
        return source.to(target.device if isinstance(target, Tensor) else source.device).clone()
    if isinstance(source, np.ndarray):
        return source.copy()
    if isinstance(source, (bool, int, float)):
        return source
    if id(source) in seen or type(source) is not type(target) or not _holds_state(source):
        return target
    seen.add(id(source))
    if isinstance(source, dict):
        for key, value in source.items():
            target[key] = _copy_into(value, target.get(key), f"{path}[{key!r}]", seen)
    elif isinstance(source, list):
        old = list(target) + [None] * (len(source) - len(target))
        target[:] = [_copy_into(value, old[i], f"{path}[{i}]", seen) for i, value in enumerate(source)]
    elif isinstance(source, tuple):  # tensors inside are copied in place; other changes cannot be made
        for i, (s, t) in enumerate(zip(source, target, strict=True)):
            require(_copy_into(s, t, f"{path}[{i}]", seen) is t, f"cannot copy the state: {path}[{i}]")
    else:
        for name, value in vars(source).items():
            setattr(target, name, _copy_into(value, getattr(target, name, None), f"{path}.{name}", seen))
    return target


def _holds_state(obj: Any) -> bool:
    """Containers and plain objects of the suite or a plugin hold state; frozen dataclasses (specs),
    functions and library objects (spaces, generators, modules) do not."""
    if isinstance(obj, (dict, list, tuple)):
        return True
    frozen = dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen
    library = type(obj).__module__.split(".")[0] in ("torch", "numpy", "gymnasium", "pygame", "builtins")
    return hasattr(obj, "__dict__") and not callable(obj) and not frozen and not library


# ====================================================================== host syncs
@dataclass(frozen=True)
class Sync:
    """One host synchronisation: where in the suite it was made (`file:line (function)`, relative to the
    repository) and how many `env.step` calls had completed before it (-1 when made inside `env.step`)."""

    where: str
    steps_before: int

    def site(self) -> str:
        """`file (function)`: the place without the line number, as `ALLOWED_SYNCS` names it."""
        file, _, rest = self.where.partition(":")
        return f"{file} {rest.partition(' ')[2]}"


class HostSyncs:
    """Records the CUDA host syncs made inside `with HostSyncs(env) as syncs:` (empty off CUDA).

    With `env`, each sync also records how many of that environment's `step` calls had completed before it,
    so that `in_step_loop()` can keep those made between the first and the last step."""

    def __init__(self, env: BatchedEnv | None = None) -> None:
        self.env, self.syncs, self.steps, self._inside_step = env, [], 0, False

    def __enter__(self) -> HostSyncs:
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("always")
        shown = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
            if SYNC_WARNING in str(message):
                self.syncs.append(Sync(_suite_frame(), -1 if self._inside_step else self.steps))
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        if self.env is not None:
            self._wrap_step(self.env)
        self._debug_mode = torch.cuda.get_sync_debug_mode() if torch.cuda.is_available() else None
        if self._debug_mode is not None:
            torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._debug_mode is not None:
            torch.cuda.set_sync_debug_mode(self._debug_mode)
        if self.env is not None:
            del self.env.step  # back to the class's method
        self._warnings.__exit__(*exc)

    def _wrap_step(self, env: BatchedEnv) -> None:
        step = env.step

        def counted(actions: dict[str, Tensor]) -> Any:
            self._inside_step = True
            try:
                return step(actions)
            finally:
                self._inside_step = False
                self.steps += 1

        env.step = counted

    def in_step_loop(self) -> list[Sync]:
        """The syncs made inside a `step` call or between the first and the last one."""
        return [s for s in self.syncs if s.steps_before == -1 or 0 < s.steps_before < self.steps]


def _suite_frame() -> str:
    """`file:line (function)` of the innermost frame outside torch, `warnings` and this module: the line of
    the suite (or of a plugin) that made the synchronising call."""
    skipped = (Path(torch.__file__).parent, Path(warnings.__file__), Path(__file__))
    for frame in reversed(traceback.extract_stack()):
        path = Path(frame.filename)
        if any(path == s or s in path.parents for s in skipped):
            continue
        shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        return f"{shown}:{frame.lineno} ({frame.name})"
    return "<unknown>"


def unexpected(syncs: list[Sync], allowed: dict[str, str]) -> list[str]:
    """The places of `syncs` that `allowed` (`{"file (function)": why}`) does not list."""
    return sorted({s.where for s in syncs if s.site() not in allowed})

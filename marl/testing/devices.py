"""Accelerators: an environment on another device follows its CPU trajectory, and loops stay free of host syncs.

`check_matches_cpu` compares one step at a time from the same state: before each step the CPU copy's state
(every tensor and number the environment holds) is copied into the other copy, both take the same actions, and
every field of the two steps must agree within float tolerance. Each device's generator would draw different
numbers, so the other copy replays the CPU's: while it steps, `torch.rand`, `randn`, `randint`, `randperm`,
`multinomial`, `bernoulli` and `normal` called with its generator draw on the CPU from a generator in the CPU
copy's state instead (draws made any other way differ and fail the check). With `device="cpu"` the check
compares two CPU copies, which exercises all of it without an accelerator.

`HostSyncs` records the CUDA host synchronisations (`torch.cuda.set_sync_debug_mode`) a block of code makes,
with the line of the suite that made each one, and which of them fell inside a training iteration's step loop.
"""

from __future__ import annotations

import dataclasses
import functools
import traceback
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from marl.core.env import BatchedEnv, Step
from marl.testing.harness import CheckSkipped, Subject, conformance_check, require, require_none
from marl.testing.tensors import INFO, step_fields

RTOL, ATOL = 1e-4, 1e-5
ROOT = Path(__file__).resolve().parents[2]
# the words of torch's warning for a synchronising CUDA call under set_sync_debug_mode("warn")
SYNC_WARNING = "called a synchronizing CUDA operation"
REPLAYED = ("rand", "randn", "randint", "randperm", "multinomial", "bernoulli", "normal")


# ====================================================================== the CPU trajectory
@conformance_check("matches_cpu")
def check_matches_cpu(subject: Subject) -> None:
    """On `device`, every step from the CPU copy's state, under the same actions and the same random draws,
    gives the CPU's outcome within float tolerance (see the module docstring)."""
    cpu = subject.make(device="cpu")
    if cpu.external_copies:
        raise CheckSkipped("wraps external environments, which run on the CPU whatever the device")
    other = subject.make(seed=subject.seed + 1)  # other draws unless they are replayed
    draws = torch.Generator()
    draws.set_state(cpu.generator.get_state())
    cpu.reset()
    with replaying(other, draws):
        other.reset()
    actions = torch.Generator()
    actions.manual_seed(subject.seed)
    for t in range(1, subject.steps + 1):
        copy_state(cpu, other)
        chosen = cpu.sample_actions(actions)
        draws.set_state(cpu.generator.get_state())
        reference = cpu.step(chosen)
        with replaying(other, draws):
            result = other.step({g: a.to(other.device) for g, a in chosen.items()})
        compare_steps(cpu, reference, result, f"step {t} on {other.device}")


@contextmanager
def replaying(env: BatchedEnv, draws: torch.Generator) -> Iterator[None]:
    """While inside, torch's sampling functions called with `env.generator` draw from the CPU generator
    `draws` instead, and the result moves to `env.device`."""
    originals = {name: getattr(torch, name) for name in REPLAYED}

    def replay(sample: Any) -> Any:
        @functools.wraps(sample)
        def replayed(*args: Any, generator: torch.Generator | None = None, **kwargs: Any) -> Any:
            if generator is not env.generator:
                return sample(*args, generator=generator, **kwargs)
            kwargs.pop("device", None)
            args = tuple(a.cpu() if isinstance(a, Tensor) else a for a in args)
            kwargs = {k: v.cpu() if isinstance(v, Tensor) else v for k, v in kwargs.items()}
            return sample(*args, generator=draws, **kwargs).to(env.device)

        return replayed

    for name, sample in originals.items():
        setattr(torch, name, replay(sample))
    try:
        yield
    finally:
        for name, sample in originals.items():
            setattr(torch, name, sample)


def compare_steps(env: BatchedEnv, reference: Step, result: Step, when: str) -> None:
    """Every field of `result` equals `reference`'s (within float tolerance); episode statistics only where
    an episode ended (on an accelerator they are computed at every step)."""
    results = {label: t for label, _, t in step_fields(env, result)}
    for label, kind, expected in step_fields(env, reference):
        require(label in results, f"{when}: {label} is missing (the CPU step has it)")
        got = results[label].cpu()
        shapes = f"{tuple(got.shape)}, on CPU {tuple(expected.shape)}"
        require(got.shape == expected.shape, f"{when}: {label} has shape {shapes}")
        if expected.is_floating_point():
            wrong = ~torch.isclose(got, expected.to(got.dtype), rtol=RTOL, atol=ATOL, equal_nan=True)
        else:
            wrong = got != expected
        if kind == INFO:
            wrong &= reference.done.reshape(-1, *[1] * (expected.dim() - 1))
        if wrong.any():
            index = tuple(int(i) for i in wrong.nonzero()[0])
            values = f"{got[index].item()}, on CPU {expected[index].item()}"
            require_none(wrong, f"{when}: {label}{list(index)} is {values} (rtol {RTOL}, atol {ATOL})")


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
    elif isinstance(source, tuple):  # tensors inside are copied in place; nothing else may differ
        for i, (s, t) in enumerate(zip(source, target, strict=True)):
            new = _copy_into(s, t, f"{path}[{i}]", seen)
            same = new is t or (isinstance(t, (bool, int, float)) and new == t)
            require(same, f"cannot copy the state: {path}[{i}] differs and is immutable")
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
# host syncs allowed inside a training iteration's step loop, by place (`file (function)`), with the reason
ALLOWED_SYNCS = {
    "marl/core/env.py (_check_actions)": "action validation reads one flag per step (validate_actions=False "
    "turns it off)",
}


@dataclass(frozen=True)
class Sync:
    """One host synchronisation: where it was made (`file:line (function)`, relative to the repository),
    how many `env.step` calls had completed before it, and whether it was made inside one."""

    where: str
    steps_before: int
    inside_step: bool

    @property
    def site(self) -> str:
        """`file (function)`: the place without its line number, as `ALLOWED_SYNCS` names it."""
        file, _, function = self.where.partition(" ")
        return f"{file.rpartition(':')[0]} {function}"


class HostSyncs:
    """Records the CUDA host syncs made inside `with HostSyncs(env) as syncs:` in `syncs.syncs` (none off
    CUDA), with how many of `env`'s `step` calls had completed before each."""

    def __init__(self, env: BatchedEnv) -> None:
        self.env, self.syncs, self.steps, self._inside_step = env, [], 0, False

    def __enter__(self) -> HostSyncs:
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("always")
        show = warnings.showwarning

        def record(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
            if SYNC_WARNING in str(message):
                self.syncs.append(Sync(_suite_frame(), self.steps, self._inside_step))
            else:
                show(message, category, filename, lineno, file, line)

        warnings.showwarning = record
        step = self.env.step

        def counted(actions: dict[str, Tensor]) -> Step:
            self._inside_step = True
            try:
                return step(actions)
            finally:
                self._inside_step = False
                self.steps += 1

        self.env.step = counted
        self._debug_mode = torch.cuda.get_sync_debug_mode() if torch.cuda.is_available() else None
        if self._debug_mode is not None:
            torch.cuda.set_sync_debug_mode("warn")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._debug_mode is not None:
            torch.cuda.set_sync_debug_mode(self._debug_mode)
        del self.env.step  # the class's method again
        self._warnings.__exit__(*exc)

    def in_steps(self) -> list[Sync]:
        """The syncs made inside `step` calls."""
        return [s for s in self.syncs if s.inside_step]

    def in_step_loop(self) -> list[Sync]:
        """The syncs made inside a `step` or between the first and the last one (the step loop)."""
        return [s for s in self.syncs if s.inside_step or 0 < s.steps_before < self.steps]


def unexpected(syncs: list[Sync], allowed: dict[str, str] = ALLOWED_SYNCS) -> list[str]:
    """The places of `syncs` that `allowed` does not list."""
    return sorted({s.where for s in syncs if s.site not in allowed})


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

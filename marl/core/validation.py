"""Validators for configuration values: each raises one `ValueError` naming the key, the value and what is
expected, so every environment family (and plugin) rejects bad settings in the same words.

They return the value converted to the plain Python type (numpy scalars included), so a config's
`validate()` can both check and normalise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

Config = TypeVar("Config")


def _fail(key: str, value: object, expected: str) -> ValueError:
    return ValueError(f"{key} must be {expected}, got {value!r}")


def _bounds(low: float | None, high: float | None, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


def check_int(
    key: str, value: object, *, low: int | None = None, high: int | None = None, allow_none: bool = False
) -> int | None:
    """An int (not a bool) in `[low, high]` (either bound optional); `None` too with `allow_none`."""
    expected = f"an int{_bounds(low, high)}{' or None' if allow_none else ''}"
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise _fail(key, value, expected)
    if (low is not None and value < low) or (high is not None and value > high):
        raise _fail(key, value, expected)
    return int(value)


def check_positive_int(key: str, value: object) -> int:
    """An int >= 1 (a count of agents, steps, cells)."""
    return check_int(key, value, low=1)


def check_number(
    key: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    allow_none: bool = False,
) -> float | None:
    """A finite int or float (not a bool) in the range given by `low` / `high`, each bound closed unless
    `low_open` / `high_open`; `None` too with `allow_none`."""
    expected = f"a finite number{_bounds(low, high, low_open, high_open)}{' or None' if allow_none else ''}"
    if value is None and allow_none:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise _fail(key, value, expected)
    number = float(value)
    if not math.isfinite(number):
        raise _fail(key, value, expected)
    if low is not None and (number <= low if low_open else number < low):
        raise _fail(key, value, expected)
    if high is not None and (number >= high if high_open else number > high):
        raise _fail(key, value, expected)
    return number


def check_bool(key: str, value: object) -> bool:
    """True or False (not 0 / 1 or a string)."""
    if not isinstance(value, (bool, np.bool_)):
        raise _fail(key, value, "True or False")
    return bool(value)


def check_choice(key: str, value: object, choices: Sequence[str]) -> str:
    """One of the names in `choices`."""
    if not isinstance(value, str) or value not in choices:
        raise _fail(key, value, f"one of {list(choices)}")
    return value


def validated(config: Config | None, config_class: type[Config]) -> Config:
    """`config` (or `config_class()` when None) after its `validate()`; for environment constructors, which
    may be called directly as well as through `marl.make`."""
    if config is None:
        config = config_class()
    if not isinstance(config, config_class):
        raise TypeError(f"expected a {config_class.__name__}, got {type(config).__name__}: {config!r}")
    validate: Any = getattr(config, "validate", None)
    if validate is not None:
        validate()
    return config

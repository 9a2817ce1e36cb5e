"""Checks msgspec's type system cannot express: JSON depth, key counts, NULs, integer range.

Pure functions; each raises `ValueError` whose message starts with the offending path, so that a
struct's `__post_init__` can call them and msgspec reports `<message> - at $.…`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from . import limits


def check_text(value: str, path: str, *, max_chars: int, allow_empty: bool = False) -> None:
    """A user-supplied string: bounded, no NUL (PostgreSQL text cannot hold U+0000)."""
    if not allow_empty and not value:
        raise ValueError(f"{path}: must not be empty")
    if len(value) > max_chars:
        raise ValueError(f"{path}: longer than {max_chars} characters")
    if "\x00" in value:
        raise ValueError(f"{path}: contains a NUL character")


def check_properties(props: dict[str, Any], path: str = "properties") -> None:
    """An event's `properties`: at most MAX_PROPERTIES keys in all, MAX_PROPERTY_DEPTH deep,
    strings bounded and NUL-free (keys too), integers within signed 64 bits, finite floats."""
    budget = [limits.MAX_PROPERTIES]
    _check_object(props, path, 1, budget)


def _check_object(obj: dict[str, Any], path: str, depth: int, budget: list[int]) -> None:
    if depth > limits.MAX_PROPERTY_DEPTH:
        raise ValueError(f"{path}: nested deeper than {limits.MAX_PROPERTY_DEPTH} levels")
    budget[0] -= len(obj)
    if budget[0] < 0:
        raise ValueError(f"{path}: more than {limits.MAX_PROPERTIES} property keys in all")
    for key, value in obj.items():
        check_text(key, f"{path} key {key[:40]!r}", max_chars=limits.MAX_PROPERTY_KEY_CHARS)
        _check_value(value, f"{path}.{key[:40]}", depth, budget)


def _check_value(value: Any, path: str, depth: int, budget: list[int]) -> None:
    if isinstance(value, str):
        check_text(value, path, max_chars=limits.MAX_PROPERTY_STRING_CHARS, allow_empty=True)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not limits.MIN_INT <= value <= limits.MAX_INT:
            raise ValueError(f"{path}: integer outside the signed 64-bit range")
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"{path}: number is not finite")
    elif isinstance(value, dict):
        _check_object(value, path, depth + 1, budget)
    elif isinstance(value, list):
        if depth + 1 > limits.MAX_PROPERTY_DEPTH:
            raise ValueError(f"{path}: nested deeper than {limits.MAX_PROPERTY_DEPTH} levels")
        budget[0] -= len(value)
        if budget[0] < 0:
            raise ValueError(f"{path}: more than {limits.MAX_PROPERTIES} property values in all")
        for i, item in enumerate(value):
            _check_value(item, f"{path}[{i}]", depth + 1, budget)
    else:
        raise ValueError(f"{path}: unsupported value type {type(value).__name__}")


def check_timestamp(ts: datetime, received_at: datetime, path: str = "timestamp") -> None:
    """A client timestamp: within the years we store and not far in the future."""
    if not limits.MIN_TIMESTAMP_YEAR <= ts.year <= limits.MAX_TIMESTAMP_YEAR:
        raise ValueError(
            f"{path}: year must be between {limits.MIN_TIMESTAMP_YEAR} and {limits.MAX_TIMESTAMP_YEAR}"
        )
    if ts - received_at > timedelta(seconds=limits.MAX_FUTURE_SKEW_S):
        raise ValueError(f"{path}: more than {limits.MAX_FUTURE_SKEW_S // 3600} hours in the future")

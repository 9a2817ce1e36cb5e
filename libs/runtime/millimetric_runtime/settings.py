"""Typed settings from the environment, read the same way by every service.

A service declares its settings as a frozen dataclass: each field's type says how its variable is
read (`int`, `float`, `bool`, `str`, `str | None`, `tuple[str, ...]`, a `Literal` of choices) and
`Annotated[…, msgspec.Meta(ge=…, le=…)]` bounds it. `from_env(cls, environ, prefix)` reads every
field from `PREFIX + FIELD_NAME` (or the name given with `env(…)`) and converts it with
`msgspec.convert`, so a bad value fails at start-up with one line that names the variable.

Rules, the same for every variable:
- unset or blank means the default;
- booleans are `1/true/yes/on` or `0/false/no/off` (any case);
- tuples are comma lists (blank items dropped);
- a field declared with `secret(…)` may also be read from a file named by `<NAME>_FILE` (the
  Docker/Kubernetes secrets convention), and never appears in the settings' repr.

Only a service's `__main__` passes `os.environ`; tests pass a dict.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import msgspec

T = TypeVar("T")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


def env(name: str, default: Any) -> Any:
    """A field read from the variable `name` instead of `PREFIX + FIELD_NAME`."""
    return dataclasses.field(default=default, metadata={"env": name})


def secret(default: str | None = None, *, name: str | None = None) -> Any:
    """A field holding a secret (a password): also readable from `<NAME>_FILE`, never shown in repr."""
    metadata: dict[str, Any] = {"secret": True}
    if name is not None:
        metadata["env"] = name
    return dataclasses.field(default=default, repr=False, metadata=metadata)


def variable(cls: type[Any], field_name: str, prefix: str) -> str:
    """The environment variable a field of `cls` is read from."""
    for f in dataclasses.fields(cls):
        if f.name == field_name:
            return str(f.metadata.get("env", prefix + f.name.upper()))
    raise KeyError(field_name)


def from_env(cls: type[T], environ: Mapping[str, str], prefix: str) -> T:
    """Build `cls` (a dataclass) from `environ`; raises ConfigError naming the first bad variable."""
    hints = typing.get_type_hints(cls, include_extras=True)
    values: dict[str, Any] = {}
    names: dict[str, str] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        name = variable(cls, f.name, prefix)
        names[f.name] = name
        raw = environ.get(name)
        if (raw is None or not raw.strip()) and f.metadata.get("secret"):
            raw = _read_secret_file(name, environ.get(name + "_FILE"))
        if raw is None or not raw.strip():
            continue
        values[f.name] = _prepare(raw.strip(), hints[f.name], name)
    try:
        return msgspec.convert(values, cls, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_explain(str(exc), names, values)) from None


def _read_secret_file(name: str, path: str | None) -> str | None:
    if not path or not path.strip():
        return None
    try:
        return Path(path.strip()).read_text().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(f"{name}_FILE: cannot read {path.strip()!r}: {exc.strerror or exc}") from None


def _prepare(raw: str, hint: Any, name: str) -> Any:
    """The raw text in the form msgspec converts to the field's type."""
    base = _unwrap(hint)
    if base is bool:
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")
    if typing.get_origin(base) is tuple:
        return [part.strip() for part in raw.split(",") if part.strip()]
    return raw


def _unwrap(hint: Any) -> Any:
    """`Annotated[X, …]` → X; `X | None` → X."""
    if typing.get_origin(hint) is typing.Annotated:
        hint = typing.get_args(hint)[0]
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _unwrap(args[0])
    return hint


def _explain(message: str, names: Mapping[str, str], values: Mapping[str, Any]) -> str:
    """msgspec's 'Expected `int` >= 1 - at `$.batch_max_events`' → 'INGEST_BATCH_MAX_EVENTS: expected `int` >= 1, got '0''."""
    text, sep, path = message.rpartition(" - at `$.")
    if not sep:
        return message  # a cross-field check (__post_init__) names its variables itself
    field = path.rstrip("`")
    name = names.get(field, field)
    got = values.get(field)
    shown = ",".join(got) if isinstance(got, list) else got
    return f"{name}: {text[:1].lower()}{text[1:]}, got {shown!r}"

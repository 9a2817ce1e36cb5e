"""Typed reading of environment variables, shared by every service's `settings.py`.

Each service declares its Settings as a frozen dataclass and builds it with an `EnvReader` over a
mapping (tests pass a dict; only `__main__` passes `os.environ`). A bad value fails at startup with
a message naming the variable.
"""

from __future__ import annotations

from collections.abc import Mapping


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the environment variable."""


class EnvReader:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ

    def text(self, name: str, default: str) -> str:
        value = self._env.get(name, default).strip()
        if not value:
            raise ConfigError(f"{name} must not be empty")
        return value

    def integer(self, name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be an integer, got {raw!r}") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f" and at most {maximum}" if maximum is not None else ""
            raise ConfigError(f"{name} must be at least {minimum}{bound}, got {value}")
        return value

    def number(self, name: str, default: float, *, minimum: float = 0.0) -> float:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
        if not value >= minimum:
            raise ConfigError(f"{name} must be at least {minimum}, got {value}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false, got {raw!r}")

    def items(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._env.get(name)
        if raw is None:
            return default
        return tuple(part.strip() for part in raw.split(",") if part.strip())

"""The one answer to "does this exception mean a dependency is unavailable right now?", and the one
way to log an outage: a line when it starts and a line when it ends, never a traceback per request.

`is_unavailable` covers PostgreSQL (asyncpg), the broker (aiokafka) and the query service (aiohttp):
connection refused or lost, timeouts, a server starting or shutting down, too many connections, a
pool that is closing. Every service's single exception boundary uses it, so a new exception type is
handled everywhere at once. It says nothing about the caller's input: a value PostgreSQL rejects
(SQLSTATE class 22) or a bug is not "unavailable".
"""

from __future__ import annotations

import logging
import time
from typing import Final

import aiohttp
import asyncpg
from aiokafka.errors import KafkaError

_UNAVAILABLE_PG: Final[tuple[type[BaseException], ...]] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # 57P03: starting up / shutting down
    asyncpg.AdminShutdownError,  # 57P01: fast shutdown terminated our session
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing" (ValueError-derived ones excluded below)
    # NOTE: asyncpg raises this ("cannot switch to state …; another operation is in progress") when the
    # server drops the connection mid-statement, e.g. `pg_ctl stop -m fast`.
    asyncpg.InternalClientError,
)


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` means PostgreSQL, the broker or the query service cannot be used now, so the
    same request can succeed later (answer 503 / retryable, retry the batch, keep connecting)."""
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        return False  # asyncpg's client-side DataError / ClientConfigurationError: our mistake, not an outage
    return isinstance(exc, (*_UNAVAILABLE_PG, OSError, TimeoutError, KafkaError, aiohttp.ClientError))


class Outage:
    """One dependency's availability as this process sees it, logged on changes only.

    `failed(exc)` on every failure: the first one logs a warning naming the dependency and the
    error type (no traceback: an outage is expected, not a bug); later ones are only counted.
    `recovered()` on every success: cheap while healthy; after an outage it logs one line with how
    many failures there were and how long it lasted."""

    def __init__(self, dependency: str, logger: logging.Logger, consequence: str = "") -> None:
        self._dependency = dependency
        self._logger = logger
        self._consequence = consequence
        self._since: float | None = None
        self.failures = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        self.failures += 1
        if self._since is None:
            self._since = time.monotonic()
            self._logger.warning("%s unavailable (%s)%s", self._dependency, type(exc).__name__,
                                 f"; {self._consequence}" if self._consequence else "")

    def recovered(self) -> None:
        if self._since is None:
            return
        self._logger.info("%s available again after %.1fs (%d failed calls)", self._dependency,
                          time.monotonic() - self._since, self.failures)
        self._since = None
        self.failures = 0

"""The three kinds of failure, so the consume loop reads like the policy:

- `Poison`: this record can never be stored (undecodable, fails the protocol's validation, a value
  PostgreSQL rejects): dead-letter it with the reason and move on.
- `Transient`: a dependency is unwell (connection lost, database restarting, timeout, dead-letter
  topic unreachable): commit nothing, pause fetching, back off, retry the same batch.
- anything else is a bug (e.g. the schema does not match the code): crash loudly and let the
  supervisor restart the worker; offsets were not committed, so nothing is lost.

`classify` is the one place that maps an exception to its kind.
"""

from __future__ import annotations

import asyncio
from typing import Literal

import asyncpg
from aiokafka.errors import KafkaError

Kind = Literal["poison", "transient", "bug"]


class Poison(Exception):
    """A record that can never be written; `reason` goes into the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    """A failure worth retrying the same batch for."""


_TRANSIENT_PG: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,  # SQLSTATE class 08
    asyncpg.CannotConnectNowError,  # 57P03: starting up / shutting down
    asyncpg.AdminShutdownError,  # 57P01: fast shutdown terminated our session
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.InsufficientResourcesError,  # class 53: disk full, out of memory
    asyncpg.InterfaceError,  # "connection is closed", "pool is closing" (ValueError-derived ones excluded below)
    # NOTE: asyncpg raises this ("cannot switch to state …; another operation is in progress") when the
    # server drops the connection mid-statement, e.g. `pg_ctl stop -m fast`; the retry uses a fresh connection.
    asyncpg.InternalClientError,
)

_DATA_PG: tuple[type[BaseException], ...] = (
    asyncpg.DataError,  # SQLSTATE class 22, and asyncpg's "invalid input for query argument"
    asyncpg.CheckViolationError,  # 23514: a CHECK on the events table
)


def is_transient(exc: BaseException) -> bool:
    """Retrying the same batch later can succeed."""
    if isinstance(exc, Transient):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        return False  # asyncpg's client-side DataError / ClientConfigurationError: our mistake, not an outage
    return isinstance(exc, (*_TRANSIENT_PG, OSError, asyncio.TimeoutError, ConnectionError, KafkaError))


def is_data_error(exc: BaseException) -> bool:
    """PostgreSQL refused a value of the row itself (SQLSTATE class 22, or a CHECK constraint).
    NOT NULL, foreign key or unique violations are not: they mean the schema and the code disagree."""
    return isinstance(exc, _DATA_PG)


def classify(exc: BaseException) -> Kind:
    """Which policy applies to a failure raised while writing a batch."""
    if isinstance(exc, Poison):
        return "poison"
    if is_data_error(exc):
        return "poison"
    if is_transient(exc):
        return "transient"
    return "bug"

"""The three kinds of failure, so the consume loop reads like the policy:

- `Poison`: this record can never be stored (undecodable, a value PostgreSQL rejects):
  dead-letter it and move on.
- `Transient`: the dependency is unwell (connection lost, database restarting, timeout):
  do not commit, back off, retry the same batch.
- anything else is a bug (e.g. the schema does not match the code): crash loudly and let the
  supervisor restart the worker; offsets were not committed, so nothing is lost.
"""

from __future__ import annotations

import asyncio

import asyncpg
from aiokafka.errors import KafkaError


class Poison(Exception):
    """A record that can never be written; `reason` goes into the dead-letter headers."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Transient(Exception):
    """A failure worth retrying the same batch for."""


_TRANSIENT_PG = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.QueryCanceledError,  # statement_timeout
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
    asyncpg.InsufficientResourcesError,
    asyncpg.InterfaceError,
)


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, (*_TRANSIENT_PG, OSError, asyncio.TimeoutError, ConnectionError, KafkaError))


def is_data_error(exc: BaseException) -> bool:
    """SQLSTATE class 22 (data exception) or 23 other than our dedupe: the row itself is unstorable."""
    return isinstance(exc, (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError))

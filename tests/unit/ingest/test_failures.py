"""failures.py: every failure the write path can raise is sorted into poison, transient or bug."""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions._base as asyncpg_base
import pytest
from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
from millimetric_ingest.failures import Poison, Transient, classify, is_data_error, is_transient


@pytest.mark.parametrize("exc", [
    Poison("undecodable"),
    asyncpg.DataError("invalid input for query argument $3 (date value out of range)"),
    asyncpg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence"),
    asyncpg.NumericValueOutOfRangeError("value out of range"),
    asyncpg.DatetimeFieldOverflowError("date/time field value out of range"),
    asyncpg.CheckViolationError("new row violates check constraint"),
], ids=type)
def test_values_that_can_never_be_stored_are_poison(exc: BaseException) -> None:
    assert classify(exc) == "poison"


@pytest.mark.parametrize("exc", [
    Transient("dead-letter write failed"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.SerializationError("could not serialize access"),
    asyncpg.DiskFullError("could not extend file"),
    asyncpg.InterfaceError("cannot call Connection.execute(): connection is closed"),
    asyncpg.InternalClientError("cannot switch to state 12; another operation (2) is in progress"),
    ConnectionRefusedError(111, "Connection refused"),
    FileNotFoundError(2, "No such file or directory"),  # the Unix socket of a stopped server
    TimeoutError(),
    KafkaConnectionError("broker gone"),
    KafkaTimeoutError(),
], ids=type)
def test_an_unwell_dependency_is_transient(exc: BaseException) -> None:
    assert classify(exc) == "transient"
    assert not is_data_error(exc)


@pytest.mark.parametrize("exc", [
    asyncpg.UndefinedColumnError('column "visitor_id" does not exist'),
    asyncpg.UndefinedTableError('relation "events" does not exist'),
    asyncpg.NotNullViolationError("null value in column violates not-null constraint"),
    asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg_base.DataError("invalid input: expected str, got int"),  # asyncpg's client side: our mistake
    KeyError("event_id"),
    TypeError("unsupported operand"),
], ids=type)
def test_a_schema_mismatch_or_a_coding_error_is_a_bug(exc: BaseException) -> None:
    assert classify(exc) == "bug"
    assert not is_transient(exc)


def test_poison_carries_its_reason_for_the_dead_letter_headers() -> None:
    assert Poison("unknown project x").reason == "unknown project x"

"""One classifier for "a dependency is unavailable", and outages logged on changes only."""

from __future__ import annotations

import logging

import aiohttp
import asyncpg
import pytest
from aiokafka.errors import KafkaConnectionError, NodeNotReadyError
from millimetric_runtime.dependencies import Outage, is_unavailable


@pytest.mark.parametrize("exc", [
    OSError("connection refused"), ConnectionResetError(), TimeoutError(),
    asyncpg.InterfaceError("pool is closing"), asyncpg.CannotConnectNowError("starting up"),
    asyncpg.AdminShutdownError("terminating connection"), asyncpg.TooManyConnectionsError("too many"),
    asyncpg.ConnectionDoesNotExistError("closed"),
    KafkaConnectionError("broker gone"), NodeNotReadyError(),
    aiohttp.ClientConnectionError(), aiohttp.ServerDisconnectedError(),
])
def test_outages_are_unavailable(exc: BaseException) -> None:
    assert is_unavailable(exc)


@pytest.mark.parametrize("exc", [
    ValueError("a bug"), KeyError("k"), asyncpg.DataError("bad value"), asyncpg.UniqueViolationError("dup"),
    asyncpg.exceptions.DataError("invalid input for query argument"), asyncpg.QueryCanceledError("statement timeout"),
])
def test_bugs_and_bad_values_are_not(exc: BaseException) -> None:
    assert not is_unavailable(exc)


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(caplog: pytest.LogCaptureFixture) -> None:
    outage = Outage("database", logging.getLogger("t"), "reads answer 503")
    caplog.set_level(logging.INFO, "t")
    outage.recovered()  # healthy: nothing to say
    for _ in range(50):
        outage.failed(OSError("refused"))
    assert outage.down and outage.failures == 50
    outage.recovered()
    outage.recovered()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0] == "database unavailable (OSError); reads answer 503"
    assert lines[1].startswith("database available again after ") and lines[1].endswith("(50 failed calls)")
    assert not any(r.exc_info for r in caplog.records), "an expected outage is not a traceback"
    assert not outage.down and outage.failures == 0

"""Issue 5 fault tests: real processes, real PostgreSQL, real broker. Each one ends with the ledger
check: the set of stored event ids equals the set of acknowledged ones, with no duplicates.

Small batches (INGEST_BATCH_MAX_EVENTS) keep many write → commit cycles going during the load, so
a kill lands between a write and its offset commit, or in the middle of a write, not after the
whole load sat in one batch."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import pytest
from millimetric.embedded import Broker

from tests.support.accounts import create_account
from tests.support.faults import new_topic, private_stack, start_private_postgres
from tests.support.load import Ledger, assert_ledger, stored_event_ids, track_many, wait_until
from tests.support.stack import Service, Stack, wait_ready

pytestmark = pytest.mark.slow

SMALL_BATCHES = {"INGEST_BATCH_MAX_EVENTS": "50"}


async def _gateway_ready(stack: Stack) -> None:
    gateway = stack.start("gateway")
    await asyncio.to_thread(wait_ready, stack.gateway_url + "/readyz", 30, gateway)


def log_of(service: Service) -> str:
    return service.log_path.read_text(errors="replace")


def assigned(service: Service) -> list[int] | None:
    """The partitions of the worker's latest assignment (None before its first)."""
    lines = [line for line in log_of(service).splitlines() if "partitions assigned: [" in line]
    if not lines:
        return None
    inner = lines[-1].rsplit("[", 1)[1].rstrip("]")
    return [int(p) for p in inner.split(",") if p.strip()]


async def _start_workers(stack: Stack, *names: str) -> list[Service]:
    """Start ingest workers and wait until each owns partitions (a group's first join takes seconds)."""
    workers = [stack.start(name) for name in names]
    await wait_until(lambda: all(assigned(w) for w in workers), deadline_s=60, what=f"{', '.join(names)} assigned")
    return workers


async def _stored_at_least(dsn: str, project_id: uuid.UUID, n: int) -> bool:
    try:
        return len(await stored_event_ids(dsn, project_id)) >= n
    except OSError:
        return False


async def _mid_load(dsn: str, project_id: uuid.UUID, ledger: Ledger, count: int) -> bool:
    """The moment to strike: the worker is writing (some events stored), or half the load is in."""
    return len(ledger.acked) >= count // 2 or await _stored_at_least(dsn, project_id, count // 10)


async def test_sigkill_of_the_ingest_worker_mid_load_loses_and_duplicates_nothing(pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "sigkill")
    project = (await create_account(pg_dsn, "pro")).projects[0]
    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic, **SMALL_BATCHES) as stack:
        await _gateway_ready(stack)
        (worker,) = await _start_workers(stack, "ingest")
        ledger = Ledger()
        load = asyncio.create_task(track_many(stack.mcp_url, project.sk, 3000, ledger=ledger))
        await wait_until(lambda: _mid_load(pg_dsn, project.project_id, ledger, 3000), deadline_s=60, what="mid-load")
        assert stack.stop(worker, signal.SIGKILL) == -signal.SIGKILL
        assert not load.done(), "the kill must land while events are still being sent"
        stack.start("ingest-2")
        await load
        await assert_ledger(pg_dsn, project.project_id, ledger)


async def test_three_workers_one_killed_and_restarted_mid_load_lose_and_duplicate_nothing(
        pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "scaleout", partitions=6)
    project = (await create_account(pg_dsn, "pro")).projects[0]
    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic, **SMALL_BATCHES) as stack:
        await _gateway_ready(stack)
        workers = await _start_workers(stack, "ingest-1", "ingest-2", "ingest-3")
        # The group shares the partitions: every worker owns some, no partition has two owners.
        await wait_until(lambda: sorted(p for w in workers for p in assigned(w) or []) == list(range(6)), deadline_s=60,
                         what="the six partitions shared by the three workers")
        ledger = Ledger()
        load = asyncio.create_task(track_many(stack.mcp_url, project.sk, 3000, ledger=ledger))
        await wait_until(lambda: _mid_load(pg_dsn, project.project_id, ledger, 3000), deadline_s=60, what="mid-load")
        assert stack.stop(workers[1], signal.SIGKILL) == -signal.SIGKILL
        assert not load.done(), "the kill must land while events are still being sent"
        stack.start("ingest-2b")
        await load
        await assert_ledger(pg_dsn, project.project_id, ledger)


async def test_sigterm_flushes_commits_and_exits_zero_within_the_grace_period(pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "sigterm")
    project = (await create_account(pg_dsn, "pro")).projects[0]
    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic, INGEST_SHUTDOWN_GRACE_S="20", **SMALL_BATCHES) as stack:
        await _gateway_ready(stack)
        (worker,) = await _start_workers(stack, "ingest")
        ledger = Ledger()
        load = asyncio.create_task(track_many(stack.mcp_url, project.sk, 2000, ledger=ledger))
        await wait_until(lambda: _mid_load(pg_dsn, project.project_id, ledger, 2000), deadline_s=60, what="mid-load")
        # Exit code 0 means the graceful path (flush, commit, leave); the grace timer would exit 1.
        assert await asyncio.to_thread(stack.stop, worker, signal.SIGTERM, 60) == 0
        log = log_of(worker)
        assert "final stats" in log and "shutdown complete" in log
        stack.start("ingest-2")
        await load
        await assert_ledger(pg_dsn, project.project_id, ledger)


async def test_postgres_stopped_for_seconds_under_load_loses_and_duplicates_nothing(broker: Broker, tmp_path: Path) -> None:
    pg = await asyncio.to_thread(start_private_postgres)
    try:
        topic = await new_topic(broker.bootstrap, "pgdown")
        project = (await create_account(pg.dsn, "pro")).projects[0]
        # A long key cache lets the gateway keep accepting events while its database is away. A poll
        # interval shorter than the outage proves the paused worker keeps polling and stays in the group.
        with private_stack(pg.dsn, broker.bootstrap, tmp_path, topic, GATEWAY_KEY_CACHE_TTL_S="600",
                           INGEST_RETRY_MAX_BACKOFF_S="1", INGEST_MAX_POLL_INTERVAL_MS="2000", **SMALL_BATCHES) as stack:
            await _gateway_ready(stack)
            (worker,) = await _start_workers(stack, "ingest")
            ledger = Ledger()
            load = asyncio.create_task(track_many(stack.mcp_url, project.sk, 3000, ledger=ledger, concurrency=10))
            await wait_until(lambda: _stored_at_least(pg.dsn, project.project_id, 300), deadline_s=60, what="first events stored")
            await asyncio.to_thread(pg.stop)
            # The database stays away for several seconds: while the worker pauses and backs off
            # (0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 + 1 s before the seventh retry) and the rest of the load is accepted.
            await wait_until(lambda: "fetching paused" in log_of(worker), deadline_s=30, what="worker paused")
            await wait_until(lambda: log_of(worker).count("transient failure writing") >= 7, deadline_s=60,
                             what="seven retries")
            await wait_until(load.done, deadline_s=60, what="the whole load accepted while the database is down")
            await asyncio.to_thread(pg.start)
            await load
            await assert_ledger(pg.dsn, project.project_id, ledger)
            log = log_of(worker)
            assert "written after" in log and "fetching resumed" in log and "paused=True" in log
            assert worker.process.poll() is None, "the worker rides out the outage; it does not crash"
            assert log.count("partitions assigned") == 1 and "partitions revoked" not in log, "it kept its partitions"
    finally:
        await asyncio.to_thread(pg.stop_quietly)

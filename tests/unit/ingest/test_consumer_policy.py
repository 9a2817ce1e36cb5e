"""The consume loop's failure policy, with fakes for PostgreSQL, the consumer and the dead-letter
producer: what is committed, when, and what is retried, dead-lettered or crashed on."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition
from millimetric_ingest.batch import Record
from millimetric_ingest.consumer import IngestWorker
from millimetric_ingest.failures import Transient
from millimetric_ingest.settings import Settings
from millimetric_protocol.events import EventMessage, encode_event

PROJECT = uuid.uuid4()
TOPIC = "analytics.events.v1"


class Journal(list[str]):
    """What happened, in order, across the fakes."""


class FakeConn:
    def __init__(self, journal: Journal, failures: list[BaseException] | None = None) -> None:
        self.journal = journal
        self.failures = failures or []
        self.stored: set[uuid.UUID] = set()

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        if "FROM projects" in sql:
            return [{"project_id": p, "domains": []} for p in args[0] if p == PROJECT]
        return []  # session lookups: nothing stored before

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        yield

    async def fetchval(self, sql: str, *columns: list[Any]) -> int:
        if self.failures:
            failure = self.failures.pop(0)
            self.journal.append(f"write failed: {type(failure).__name__}")
            raise failure
        event_ids, names = columns[1], columns[4]
        if any(name == "rejected-by-postgres" for name in names):
            self.journal.append(f"write refused ({len(names)} rows)")
            raise asyncpg.UntranslatableCharacterError("unsupported Unicode escape sequence")
        new = [e for e in event_ids if e not in self.stored]
        self.stored.update(new)
        self.journal.append(f"write {len(event_ids)} rows")
        return len(new)


class FakePool:
    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn

    @contextlib.asynccontextmanager
    async def acquire(self) -> AsyncIterator[FakeConn]:
        yield self.conn

    async def expire_connections(self) -> None:
        pass


class FakeDeadLetters:
    def __init__(self, journal: Journal, failures: int = 0) -> None:
        self.journal = journal
        self.failures = failures
        self.sent: list[tuple[Record, str]] = []
        self.count = 0

    async def send_all(self, poison: list[tuple[Record, str]]) -> None:
        if not poison:
            return
        if self.failures:
            self.failures -= 1
            self.journal.append("dead-letter failed")
            raise Transient("dead-letter write failed: KafkaTimeoutError")
        self.sent.extend(poison)
        self.count += len(poison)
        self.journal.append(f"dead-lettered {sorted(r.offset for r, _ in poison)}")


class FakeConsumer:
    def __init__(self, journal: Journal, partitions: tuple[int, ...] = (0, 1)) -> None:
        self.journal = journal
        self.tps = {TopicPartition(TOPIC, p) for p in partitions}
        self.paused_tps: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []
        self.polls = 0

    def assignment(self) -> set[TopicPartition]:
        return set(self.tps)

    def paused(self) -> set[TopicPartition]:
        return set(self.paused_tps)

    def pause(self, *tps: TopicPartition) -> None:
        self.paused_tps.update(tps)
        self.journal.append("pause")

    def resume(self, *tps: TopicPartition) -> None:
        self.paused_tps.difference_update(tps)
        self.journal.append("resume")

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[TopicPartition, list[Any]]:
        assert self.paused_tps == self.tps, "polled for records while retrying"
        self.polls += 1
        await asyncio.sleep(timeout_ms / 1000)
        return {}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        self.journal.append(f"commit {sorted((tp.partition, o) for tp, o in offsets.items())}")

    def highwater(self, tp: TopicPartition) -> int | None:
        return None


def event(partition: int, offset: int, *, name: str = "ok", project: uuid.UUID = PROJECT) -> Record:
    now = datetime.now(UTC)
    message = EventMessage(v=1, event_id=uuid.uuid4(), project_id=project, received_at=now, timestamp=now, event=name,
                           anonymous_id=f"v{offset}")
    return Record(TOPIC, partition, offset, encode_event(message))


def make(journal: Journal, *, write_failures: list[BaseException] | None = None, dlq_failures: int = 0
         ) -> tuple[IngestWorker, FakeConn, FakeConsumer, FakeDeadLetters]:
    conn = FakeConn(journal, write_failures)
    dead = FakeDeadLetters(journal, dlq_failures)
    worker = IngestWorker(Settings(retry_max_backoff_s=0.1), FakePool(conn), dead)  # type: ignore[arg-type]
    consumer = FakeConsumer(journal)
    worker._consumer = consumer  # type: ignore[assignment]
    return worker, conn, consumer, dead


async def flush(worker: IngestWorker, records: list[Record]) -> None:
    for r in records:
        worker._batch.add(r)
    await worker.flush(reason="test")


async def test_commits_each_partitions_last_written_offset_plus_one_only_after_the_write() -> None:
    journal = Journal()
    worker, conn, consumer, _ = make(journal)
    await flush(worker, [event(0, 10), event(1, 4), event(0, 11), event(1, 5)])
    assert journal == ["write 4 rows", "commit [(0, 12), (1, 6)]"]
    assert worker.written == 4


async def test_a_redelivered_batch_is_stored_once_and_committed_again() -> None:
    journal = Journal()
    worker, conn, consumer, _ = make(journal)
    records = [event(0, 0), event(0, 1)]
    await flush(worker, records)
    await flush(worker, records)
    assert len(conn.stored) == 2 and worker.written == 2
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 2}] * 2


async def test_poison_is_dead_lettered_before_the_offsets_move_past_it_and_the_rest_is_written() -> None:
    journal = Journal()
    worker, conn, _, dead = make(journal)
    garbage = Record(TOPIC, 0, 1, b"\x00garbage")
    stranger = event(0, 3, project=uuid.uuid4())
    nul = Record(TOPIC, 0, 4, json.dumps({**json.loads(encode_event(EventMessage(
        v=1, event_id=uuid.uuid4(), project_id=PROJECT, received_at=datetime.now(UTC), timestamp=datetime.now(UTC),
        event="e", anonymous_id="a"))), "event": "x\u0000"}).encode())
    await flush(worker, [event(0, 0), garbage, event(0, 2), stranger, nul, event(0, 5)])
    assert journal == ["write 3 rows", "dead-lettered [1, 3, 4]", "commit [(0, 6)]"]
    reasons = {r.offset: why for r, why in dead.sent}
    assert reasons[1].startswith("undecodable event message")
    assert reasons[3] == f"unknown project {json.loads(stranger.value)['project_id']}"
    assert reasons[4] == "event: contains a NUL character"


async def test_one_row_postgres_refuses_is_isolated_by_bisection_and_the_others_written() -> None:
    journal = Journal()
    worker, conn, consumer, dead = make(journal)
    records = [event(0, n, name="rejected-by-postgres" if n == 5 else "ok") for n in range(8)]
    await flush(worker, records)
    assert len(conn.stored) == 7
    ((bad, reason),) = dead.sent
    assert bad.offset == 5 and reason.startswith("rejected by PostgreSQL: UntranslatableCharacterError")
    assert consumer.commits == [{TopicPartition(TOPIC, 0): 8}]
    assert journal.index("dead-lettered [5]") < journal.index("commit [(0, 8)]") == len(journal) - 1


async def test_a_transient_failure_pauses_fetching_retries_the_same_batch_and_commits_only_after_success() -> None:
    journal = Journal()
    gone = asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation")
    worker, conn, consumer, _ = make(journal, write_failures=[gone, OSError("connection refused")])
    await flush(worker, [event(0, 0), event(1, 0)])
    assert journal == ["write failed: ConnectionDoesNotExistError", "pause", "write failed: OSError", "write 2 rows",
                       "resume", "commit [(0, 1), (1, 1)]"]
    assert consumer.polls >= 1, "kept polling (paused) so the group keeps the worker"
    assert worker.retries == 2 and not consumer.paused_tps


async def test_an_unreachable_dead_letter_topic_keeps_the_offset_until_the_dead_letter_is_written() -> None:
    journal = Journal()
    worker, conn, consumer, dead = make(journal, dlq_failures=2)
    await flush(worker, [event(0, 0), Record(TOPIC, 0, 1, b"garbage")])
    assert [j for j in journal if j.startswith(("dead", "commit"))] == [
        "dead-letter failed", "dead-letter failed", "dead-lettered [1]", "commit [(0, 2)]"]
    assert len(conn.stored) == 1


async def test_a_bug_crashes_the_worker_without_committing() -> None:
    journal = Journal()
    worker, _, consumer, _ = make(journal, write_failures=[asyncpg.UndefinedColumnError('column "x" does not exist')])
    with pytest.raises(asyncpg.UndefinedColumnError):
        await flush(worker, [event(0, 0)])
    assert consumer.commits == []


async def test_stopping_during_an_outage_gives_the_batch_up_uncommitted() -> None:
    journal = Journal()
    worker, _, consumer, _ = make(journal, write_failures=[OSError("down")] * 1000)
    task = asyncio.create_task(flush(worker, [event(0, 0)]))
    while worker.retries < 2:
        await asyncio.sleep(0.01)
    worker.stop()
    await asyncio.wait_for(task, 5)
    assert consumer.commits == [] and not consumer.paused_tps


async def test_revocation_during_an_outage_gives_the_batch_up_so_the_next_owner_rereads_it() -> None:
    journal = Journal()
    worker, _, consumer, _ = make(journal, write_failures=[OSError("down")] * 1000)
    task = asyncio.create_task(flush(worker, [event(0, 0), event(1, 0)]))
    while worker.retries < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(worker.on_revoked(set(consumer.tps)), 5)  # returns: the rebalance is not held up
    await asyncio.wait_for(task, 5)
    assert consumer.commits == []


class FakeMessage:
    def __init__(self, record: Record) -> None:
        self.offset, self.value, self.key = record.offset, record.value, record.key


async def test_a_batch_given_up_on_revocation_drops_the_rest_of_its_fetch_so_no_commit_skips_it() -> None:
    journal = Journal()
    conn = FakeConn(journal, [OSError("down")] * 1000)
    worker = IngestWorker(Settings(retry_max_backoff_s=0.1, batch_max_events=2), FakePool(conn),
                          FakeDeadLetters(journal))  # type: ignore[arg-type]
    consumer = FakeConsumer(journal)
    worker._consumer = consumer  # type: ignore[assignment]
    fetched = {TopicPartition(TOPIC, 0): [FakeMessage(event(0, n)) for n in range(6)]}
    task = asyncio.create_task(worker._hold(fetched))
    while worker.retries < 2:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(worker.on_revoked(set(consumer.tps)), 5)
    await asyncio.wait_for(task, 5)
    assert len(worker._batch) == 0, "offsets 2-5 must not be held behind the given-up 0-1"
    assert consumer.commits == []

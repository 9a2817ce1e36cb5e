"""Hostile input written straight to the topic (the topic can be written by others than the gateway):
every message that can never be stored lands in the dead-letter topic with its reason and origin,
and the valid messages around it - in the same batch - are stored."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from millimetric.embedded import Broker
from millimetric_ingest import consumer as consumer_module
from millimetric_ingest.batch import Record
from millimetric_ingest.consumer import IngestWorker
from millimetric_ingest.settings import Settings
from millimetric_protocol.events import EventMessage, encode_event

from tests.support.accounts import create_account
from tests.support.faults import new_topic, private_stack, read_topic
from tests.support.load import stored_event_ids, wait_until

pytestmark = pytest.mark.slow


def _valid(project_id: uuid.UUID, n: int) -> tuple[str, bytes]:
    now = datetime.now(UTC)
    message = EventMessage(v=1, event_id=uuid.uuid4(), project_id=project_id, received_at=now, timestamp=now,
                           event="valid", anonymous_id=f"visitor-{n}", properties={"n": n})
    return str(message.event_id), encode_event(message)


def _raw(project_id: uuid.UUID, **overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"v": 1, "event_id": str(uuid.uuid4()), "project_id": str(project_id), "received_at": now, "timestamp": now,
            "event": "hostile", "anonymous_id": "visitor", "properties": {}, **overrides}


def _nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


def poison_cases(project_id: uuid.UUID) -> dict[str, tuple[bytes, str]]:
    """name -> (message bytes, a fragment the dead-letter reason must contain)."""
    nul = "x\u0000y"
    return {
        "garbage bytes": (b"\xff\xfe\x00garbage{", "undecodable"),
        "empty message": (b"", "undecodable"),
        "NUL in every field": (json.dumps(_raw(
            project_id, event=nul, anonymous_id=nul, user_id=nul, properties={nul: nul, "k": nul},
            context={"ip": nul, "user_agent": nul, "library": nul})).encode(), "NUL character"),
        "NUL in a property key only": (json.dumps(_raw(project_id, properties={"a\u0000": 1})).encode(), "NUL character"),
        "64-bit overflow": (json.dumps(_raw(project_id, properties={"n": 2**63})).encode(), "signed 64-bit"),
        "huge integer": (json.dumps(_raw(project_id, properties={"n": 10**40})).encode(), "signed 64-bit"),
        "year 10000": (json.dumps(_raw(project_id, timestamp="10000-01-01T00:00:00Z")).encode(), "datetime"),
        "year 10000 once in UTC": (json.dumps(_raw(project_id, timestamp="9999-12-31T23:00:00-05:00",
                                                   received_at="9999-12-31T23:00:00-05:00")).encode(), "storable range"),
        "lone surrogate": (json.dumps(_raw(project_id)).replace('"hostile"', '"a\\ud800b"').encode(), "surrogate"),
        "invalid UTF-8": (json.dumps(_raw(project_id)).replace("hostile", "ho\udcffstile").encode("utf-8", "surrogateescape"),
                          "undecodable"),
        "nested too deep": (json.dumps(_raw(project_id, properties=_nested(6))).encode(), "nested deeper"),
        "nested 100000 deep": (json.dumps(_raw(project_id))
                               .replace('"properties": {}', '"properties": ' + '{"a":' * 100_000 + "1" + "}" * 100_000).encode(),
                               "undecodable"),
        "non-finite number": (json.dumps(_raw(project_id)).replace('"properties": {}', '"properties": {"x": 1e999}').encode(),
                              "undecodable"),
        "unknown version": (json.dumps(_raw(project_id, v=2)).encode(), "version"),
        "unknown project": (json.dumps(_raw(uuid.uuid4())).encode(), "unknown project"),
    }


async def test_poison_messages_are_dead_lettered_with_reasons_and_the_valid_ones_around_them_stored(
        pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "poison", partitions=1)
    project = (await create_account(pg_dsn, "pro")).projects[0]
    cases = poison_cases(project.project_id)
    valid_ids: list[str] = []
    expected: dict[int, tuple[str, bytes, str]] = {}  # offset -> (case, value, reason fragment)
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all", max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        # valid, poison, valid, poison, ... valid: the worker (started afterwards) reads them as one batch.
        for n, (name, (value, reason)) in enumerate(cases.items()):
            event_id, good = _valid(project.project_id, n)
            await producer.send_and_wait(topic, good, key=b"k")
            valid_ids.append(event_id)
            sent = await producer.send_and_wait(topic, value, key=b"k")
            expected[sent.offset] = (name, value, reason)
        event_id, good = _valid(project.project_id, len(cases))
        await producer.send_and_wait(topic, good, key=b"k")
        valid_ids.append(event_id)
    finally:
        await producer.stop()

    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic) as stack:
        worker = stack.start("ingest")
        await wait_until(lambda: _all_stored(pg_dsn, project.project_id, valid_ids), deadline_s=60, what="valid events stored")
        letters = await read_topic(broker.bootstrap, topic + ".dlq", len(cases), deadline_s=30)
        await wait_until(lambda: f"dead_lettered={len(cases)}" in worker.log_path.read_text(), deadline_s=30,
                         what="dead-letter count in the stats line")
    assert sorted(await stored_event_ids(pg_dsn, project.project_id)) == sorted(valid_ids)
    assert len(letters) == len(cases), [dict(r.headers) for r in letters]
    for record in letters:
        headers = {k: v.decode() for k, v in record.headers}
        name, value, fragment = expected[int(headers["original_offset"])]
        assert headers["original_topic"] == topic and headers["original_partition"] == "0", name
        assert fragment in headers["reason"], (name, headers["reason"])
        assert record.value == value or (value == b"" and not record.value), name


async def test_a_dead_letter_topic_that_cannot_be_written_keeps_the_offset_until_it_can(
        pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "nodlq", partitions=1)
    project = (await create_account(pg_dsn, "pro")).projects[0]
    producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
    await producer.start()
    try:
        first_id, first = _valid(project.project_id, 0)
        await producer.send_and_wait(topic, first)
        poison = await producer.send_and_wait(topic, b"not an event")
    finally:
        await producer.stop()

    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic, INGEST_DEAD_LETTER_TIMEOUT_S="1",
                       INGEST_RETRY_MAX_BACKOFF_S="0.5") as stack:
        group = stack.env["INGEST_GROUP_ID"]
        # A dead-letter topic the broker refuses (an invalid name): the worker retries and commits nothing.
        worker = stack.start("ingest", {"INGEST_DEAD_LETTER_TOPIC": "no such topic!"})
        await wait_until(lambda: worker.log_path.read_text().count("dead-letter write failed") >= 3, deadline_s=60,
                         what="dead-letter write retried")
        assert await stored_event_ids(pg_dsn, project.project_id) == [first_id]  # written (idempotently) each retry
        assert await _committed(broker.bootstrap, group, topic) is None
        # Stopped mid-retry, it still exits cleanly; the next worker re-reads from the kept offset.
        assert stack.stop(worker) == 0
        assert await _committed(broker.bootstrap, group, topic) is None
        stack.start("ingest-2")
        (letter,) = await read_topic(broker.bootstrap, topic + ".dlq", 1, deadline_s=60)
        assert dict(letter.headers)["original_offset"] == str(poison.offset).encode()
        await wait_until(lambda: _committed_is(broker.bootstrap, group, topic, poison.offset + 1), deadline_s=30,
                         what="offset committed past the dead letter")
    assert await stored_event_ids(pg_dsn, project.project_id) == [first_id]


async def test_one_row_postgres_rejects_is_dead_lettered_and_the_rest_of_its_batch_written(
        pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Skip the protocol's re-validation so a value only PostgreSQL refuses (\u0000 in jsonb) reaches it.
    monkeypatch.setattr(consumer_module, "decode_event", _decode_without_checks)
    project = (await create_account(pg_dsn, "pro")).projects[0]
    records, good_ids = [], []
    for n in range(9):
        event_id, value = _valid(project.project_id, n)
        records.append(Record("t", 0, n, value))
        good_ids.append(event_id)
    records.insert(4, Record("t", 0, 99, json.dumps(_raw(project.project_id, properties={"k": "a\u0000b"})).encode()))
    dead = _CapturingDeadLetters()
    pool = await asyncpg.create_pool(pg_dsn, min_size=1, max_size=1)
    try:
        worker = IngestWorker(Settings(pg_dsn=pg_dsn), pool, dead)  # type: ignore[arg-type]
        await worker._store(records)
    finally:
        await pool.close()
    assert sorted(await stored_event_ids(pg_dsn, project.project_id)) == sorted(good_ids)
    ((record, reason),) = dead.sent
    assert record.offset == 99 and reason.startswith("rejected by PostgreSQL: UntranslatableCharacterError")


def _decode_without_checks(data: bytes) -> EventMessage:
    import msgspec

    return msgspec.json.decode(data, type=EventMessage)


class _CapturingDeadLetters:
    count = 0

    def __init__(self) -> None:
        self.sent: list[tuple[Record, str]] = []

    async def send_all(self, poison: list[tuple[Record, str]]) -> None:
        self.sent.extend(poison)


async def _all_stored(dsn: str, project_id: uuid.UUID, ids: list[str]) -> bool:
    return set(ids) <= set(await stored_event_ids(dsn, project_id))


async def _committed(bootstrap: str, group: str, topic: str) -> int | None:
    """The group's committed offset of partition 0, read without joining the group."""
    reader = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        return await reader.committed(tp)  # type: ignore[no-any-return]
    finally:
        await reader.stop()


async def _committed_is(bootstrap: str, group: str, topic: str, offset: int) -> bool:
    return await _committed(bootstrap, group, topic) == offset


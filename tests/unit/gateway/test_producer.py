"""The gateway's producer with a fake Kafka client: a success only after the broker's
acknowledgement; every failure (not connected, broker down, slow, refused, too many in flight) is the
same retryable error, quickly; readiness follows the broker and comes back by itself."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError, KafkaError
from millimetric_gateway.producer import EventProducer
from millimetric_gateway.settings import Settings
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.events import EventMessage

SETTINGS = Settings(events_topic="t", produce_timeout_s=0.2, max_inflight_produces=2)


class FakeMetadata:
    def __init__(self, topics: set[str]) -> None:
        self._topics = topics

    def topics(self) -> set[str]:
        return self._topics


class FakeClient:
    def __init__(self) -> None:
        self.up = True

    async def fetch_all_metadata(self) -> FakeMetadata:
        if not self.up:
            raise KafkaError("Unable to get cluster metadata over all known brokers")
        return FakeMetadata({"t"})


class FakeKafka:
    def __init__(self, behaviour: str = "ack") -> None:
        self.behaviour = behaviour
        self.acked: list[bytes] = []
        self.attempts = 0
        self.client = FakeClient()

    async def send_and_wait(self, topic: str, value: bytes, key: bytes | None = None) -> None:
        self.attempts += 1
        if self.behaviour == "hang":
            await asyncio.sleep(3600)
        if self.behaviour == "refuse":
            raise KafkaConnectionError("broker gone")
        self.acked.append(value)

    async def stop(self) -> None:
        pass


def message() -> EventMessage:
    now = datetime.now(UTC)
    return EventMessage(v=1, event_id=uuid.uuid4(), project_id=uuid.uuid4(), received_at=now, timestamp=now,
                        event="e", anonymous_id="a")


def connected(kafka: FakeKafka, settings: Settings = SETTINGS) -> EventProducer:
    producer = EventProducer(settings)
    producer._producer = kafka  # type: ignore[assignment]
    producer._healthy = True
    return producer


def assert_retryable(exc: ProtocolError) -> None:
    assert exc.name is ErrorName.TOOL_FAILED and exc.data == {"retryable": True}


async def test_a_send_returns_only_after_the_broker_acknowledged() -> None:
    kafka = FakeKafka()
    producer = connected(kafka)
    await producer.send(message())
    assert len(kafka.acked) == 1 and producer.produced == 1 and producer.ready


async def test_not_connected_yet_is_a_retryable_error_and_not_ready() -> None:
    producer = EventProducer(SETTINGS)
    assert not producer.ready
    with pytest.raises(ProtocolError) as info:
        await producer.send(message())
    assert_retryable(info.value)


@pytest.mark.parametrize("behaviour", ["hang", "refuse"])
async def test_a_slow_or_refusing_broker_is_a_retryable_error_within_the_bound_and_not_ready(behaviour: str) -> None:
    kafka = FakeKafka(behaviour)
    producer = connected(kafka)
    with pytest.raises(ProtocolError) as info:
        await asyncio.wait_for(producer.send(message()), 5)  # the bound is 0.2 s; 5 s only guards against a hang
    assert_retryable(info.value)
    assert producer.produced == 0 and not producer.ready
    # Known down: the next call fails fast, without waiting for the broker again.
    with pytest.raises(ProtocolError):
        await producer.send(message())
    assert kafka.attempts == 1


async def test_more_sends_in_flight_than_the_cap_get_a_retryable_error_at_once() -> None:
    kafka = FakeKafka("hang")
    producer = connected(kafka, Settings(events_topic="t", produce_timeout_s=30, max_inflight_produces=2))
    pending = [asyncio.create_task(producer.send(message())) for _ in range(2)]
    await asyncio.sleep(0.01)
    with pytest.raises(ProtocolError) as info:
        await producer.send(message())
    assert_retryable(info.value)
    assert "in flight" in str(info.value)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


async def test_readiness_follows_the_broker_and_comes_back_by_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("millimetric_gateway.producer.UNHEALTHY_CHECK_INTERVAL_S", 0.01)
    monkeypatch.setattr("millimetric_gateway.producer.HEALTHY_CHECK_INTERVAL_S", 0.01)
    kafka = FakeKafka()
    producer = EventProducer(SETTINGS)

    async def connect() -> None:
        producer._producer = kafka  # type: ignore[assignment]

    monkeypatch.setattr(producer, "_connect", connect)
    await producer.start()
    try:
        await _until(lambda: producer.ready)
        kafka.client.up = False
        await _until(lambda: not producer.ready)
        kafka.client.up = True
        await _until(lambda: producer.ready)
        await producer.send(message())
    finally:
        await producer.stop()
    assert not producer.ready


async def _until(condition: Any) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), 5)

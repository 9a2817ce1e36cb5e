"""The Kafka producer: `acks=all`, a bounded wait per send, and a cap on sends in flight.

The gateway starts even when the broker is unreachable: the producer connects in the background
and keeps retrying; until it is connected, `send` fails fast with a retryable error. A success is
returned only after the broker acknowledged the write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.events import EventMessage, encode_event

from .settings import Settings

logger = logging.getLogger(__name__)


def _unavailable(detail: str) -> ProtocolError:
    return ProtocolError(ErrorName.TOOL_FAILED, detail, {"retryable": True})


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._inflight = asyncio.Semaphore(settings.max_inflight_produces)
        self._connector: asyncio.Task[None] | None = None
        self.produced = 0

    @property
    def ready(self) -> bool:
        return self._producer is not None

    def _make(self) -> AIOKafkaProducer:
        s = self._settings
        return AIOKafkaProducer(
            bootstrap_servers=s.kafka_bootstrap,
            acks="all",
            enable_idempotence=s.kafka_idempotence,
            linger_ms=2,
            request_timeout_ms=max(1000, int(s.produce_timeout_s * 1000)),
            client_id="millimetric-gateway",
        )

    async def _connect_forever(self) -> None:
        delay = 0.2
        while True:
            producer = self._make()
            try:
                await producer.start()
            except (KafkaError, OSError) as exc:
                logger.warning("broker not reachable (%s); retrying in %.1fs", type(exc).__name__, delay)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            self._producer = producer
            logger.info("producer connected to %s", self._settings.kafka_bootstrap)
            return

    async def start(self) -> None:
        self._connector = asyncio.create_task(self._connect_forever())

    async def stop(self) -> None:
        if self._connector is not None:
            self._connector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connector
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, message: EventMessage) -> None:
        """Write one event and wait for the broker's acknowledgement, within the produce timeout.
        Raises a retryable UNAVAILABLE error on any failure: nothing is reported as written unless it was."""
        producer = self._producer
        if producer is None:
            raise _unavailable("event broker not connected yet")
        if self._inflight.locked():
            raise _unavailable("too many events in flight; retry shortly")
        async with self._inflight:
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(self._settings.events_topic, encode_event(message), key=message.partition_key()),
                    timeout=self._settings.produce_timeout_s,
                )
            except asyncio.TimeoutError:
                logger.warning("produce timed out after %.1fs", self._settings.produce_timeout_s)
                raise _unavailable("event broker did not acknowledge in time") from None
            except KafkaError as exc:
                logger.warning("produce failed: %s", type(exc).__name__)
                raise _unavailable("event broker refused the write") from exc
        self.produced += 1


@contextlib.asynccontextmanager
async def producer_context(settings: Settings) -> AsyncIterator[EventProducer]:
    producer = EventProducer(settings)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()

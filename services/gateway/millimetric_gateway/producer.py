"""The Kafka producer: `acks=all`, a bounded wait per send, and a cap on sends in flight.

The gateway starts even when the broker is unreachable: a background task connects and keeps
retrying, then keeps checking the broker (a metadata request naming the events topic). `ready` is
true only while the broker answers and the topic exists; while it is false, `send` fails fast with
a retryable error instead of waiting for a broker that is known to be gone, and readiness comes
back by itself when the broker does.

A success is returned only after the broker acknowledged the write (`acks=all`; the idempotent
producer on real Kafka, GATEWAY_KAFKA_IDEMPOTENCE). Every failure - not connected, broker down,
slow past GATEWAY_PRODUCE_TIMEOUT_S, refused, too many sends in flight - raises the same retryable
`tool_failed` error (`data.retryable: true`). NOTE: a send answered with an error may still reach
the topic (the broker wrote it but the acknowledgement was late or lost), so an event answered with
an error is stored at most once - and a retry with the same event_id never stores it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Final

from aiokafka import AIOKafkaProducer
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.events import EventMessage, encode_event
from millimetric_runtime.backoff import Backoff, retry
from millimetric_runtime.dependencies import is_unavailable

from .settings import Settings

logger = logging.getLogger(__name__)

HEALTHY_CHECK_INTERVAL_S: Final = 10.0
"""How often a healthy producer re-checks the broker (catches a broker that died while idle)."""
UNHEALTHY_CHECK_INTERVAL_S: Final = 0.5
"""How often an unhealthy producer checks whether the broker is back."""
CONNECT_BACKOFF: Final = Backoff(base_s=0.2, cap_s=5.0)


def _unavailable(detail: str) -> ProtocolError:
    return ProtocolError(ErrorName.TOOL_FAILED, detail, {"retryable": True})


class EventProducer:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._inflight = asyncio.Semaphore(settings.max_inflight_produces)
        self._monitor: asyncio.Task[None] | None = None
        self._healthy = False
        self._wake = asyncio.Event()
        self.produced = 0

    @property
    def ready(self) -> bool:
        """Connected, and the broker answered the last check (or acknowledged the last send)."""
        return self._producer is not None and self._healthy

    def _make(self) -> AIOKafkaProducer:
        s = self._settings
        return AIOKafkaProducer(
            **s.kafka.client_options(),
            acks="all",
            enable_idempotence=s.kafka_idempotence,
            linger_ms=2,
            # Batches not acknowledged within this are failed by the client itself, so an event
            # answered with a timeout error does not linger in memory for long.
            request_timeout_ms=max(1000, int(s.produce_timeout_s * 1000)),
            client_id="millimetric-gateway",
        )

    async def _connect(self) -> None:
        """Start a producer, retrying with backoff until the broker answers (or the task is cancelled)."""

        async def attempt() -> AIOKafkaProducer:
            producer = self._make()
            try:
                await asyncio.wait_for(producer.start(), self._settings.produce_timeout_s + 5)
            except BaseException:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise
            return producer

        def retrying(exc: BaseException, delay_s: float) -> None:
            logger.warning("broker not reachable (%s); retrying in %.1fs", type(exc).__name__, delay_s)

        self._producer = await retry(attempt, policy=CONNECT_BACKOFF, retryable=is_unavailable, on_retry=retrying)
        logger.info("producer connected to %s", self._settings.kafka_bootstrap)

    async def _check(self) -> bool:
        """One metadata round trip: the broker answers and knows the events topic."""
        producer = self._producer
        if producer is None:
            return False
        try:
            metadata = await asyncio.wait_for(producer.client.fetch_all_metadata(), self._settings.produce_timeout_s)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return False
        return self._settings.events_topic in metadata.topics()

    def _set_health(self, healthy: bool, why: str) -> None:
        if healthy != self._healthy:
            self._healthy = healthy
            if healthy:
                logger.info("broker reachable and topic present; ready")
            else:
                logger.warning("broker unhealthy (%s); not ready, track_event answers a retryable error", why)
                self._wake.set()

    async def _watch(self) -> None:
        """Connect, then keep `ready` true to the broker's state until cancelled."""
        await self._connect()
        while True:
            healthy = await self._check()
            self._set_health(healthy, "metadata check failed")
            self._wake.clear()
            interval = HEALTHY_CHECK_INTERVAL_S if self._healthy else UNHEALTHY_CHECK_INTERVAL_S
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
            # arrives as the wait ends, and stop() would then wait for this task forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._wake.wait()

    async def start(self) -> None:
        self._monitor = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        self._healthy = False
        if self._producer is not None:
            # Bounded: with the broker gone, pending batches would otherwise wait for their timeout.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self._settings.produce_timeout_s + 1)
            self._producer = None

    async def send(self, message: EventMessage) -> None:
        """Write one event and wait for the broker's acknowledgement, within the produce timeout.
        Raises a retryable `tool_failed` error on any failure: nothing is reported as written unless it was."""
        producer = self._producer
        if producer is None:
            raise _unavailable("event broker not connected yet")
        if not self._healthy:
            raise _unavailable("event broker unavailable")
        if self._inflight.locked():
            raise _unavailable("too many events in flight; retry shortly")
        async with self._inflight:
            try:
                await asyncio.wait_for(
                    producer.send_and_wait(self._settings.events_topic, encode_event(message), key=message.partition_key()),
                    timeout=self._settings.produce_timeout_s,
                )
            except TimeoutError:
                self._set_health(False, f"produce not acknowledged within {self._settings.produce_timeout_s:g}s")
                raise _unavailable("event broker did not acknowledge in time") from None
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                self._set_health(False, f"produce failed: {type(exc).__name__}")
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

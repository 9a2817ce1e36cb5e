"""The dead-letter producer: a poison record goes to `<topic>.dlq`, byte for byte, with headers
`reason`, `original_topic`, `original_partition` and `original_offset`.

`send_all` returns only after the broker acknowledged every dead letter (`acks=all`), and the
consumer commits past a record only after that; if the dead-letter topic cannot be written within
`INGEST_DEAD_LETTER_TIMEOUT_S`, the failure is `Transient`: the batch is retried, nothing is
committed, nothing is dropped. A retried batch may dead-letter a record twice (at-least-once):
readers of the dead-letter topic deduplicate on (original_partition, original_offset).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer

from .batch import Record
from .failures import Transient
from .settings import Settings

logger = logging.getLogger(__name__)

MAX_REASON_BYTES = 1000


class DeadLetters:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self.count = 0

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            timeout_s = self._settings.dead_letter_timeout_s
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.kafka_bootstrap, acks="all",
                enable_idempotence=self._settings.kafka_idempotence, client_id="millimetric-ingest-dlq",
                request_timeout_ms=max(1000, int(timeout_s * 1000)),
            )
            try:
                await asyncio.wait_for(producer.start(), timeout_s)
            except Exception as exc:
                with contextlib.suppress(Exception):
                    await producer.stop()
                raise Transient(f"dead-letter producer cannot connect: {type(exc).__name__}") from exc
            self._producer = producer
        return self._producer

    async def send_all(self, poison: list[tuple[Record, str]]) -> None:
        """Dead-letter every (record, reason) and wait for the broker's acknowledgement of all."""
        if not poison:
            return
        producer = await self._ensure()

        async def send(record: Record, reason: str) -> None:
            headers = [
                ("reason", reason.encode("utf-8", "replace")[:MAX_REASON_BYTES]),
                ("original_topic", record.topic.encode()),
                ("original_partition", str(record.partition).encode()),
                ("original_offset", str(record.offset).encode()),
            ]
            await producer.send_and_wait(self._settings.dead_letter_topic, record.value, key=record.key, headers=headers)

        try:
            await asyncio.wait_for(asyncio.gather(*(send(r, why) for r, why in poison)), self._settings.dead_letter_timeout_s)
        except Exception as exc:
            raise Transient(f"dead-letter write failed: {type(exc).__name__}") from exc
        self.count += len(poison)
        for record, reason in poison:
            # Rate is bounded by the poison arriving; the reason names the path, never the payload.
            logger.warning("dead-lettered %s p%s:%s: %s", record.topic, record.partition, record.offset, reason[:200])

    async def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._producer.stop(), self._settings.dead_letter_timeout_s)
            self._producer = None

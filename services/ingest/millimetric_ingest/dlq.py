"""The dead-letter producer: a poison record goes to `<topic>.dlq` with its reason and origin.

The send completes (broker-acknowledged) before the consumer commits past the record; if it
cannot, the failure is transient and the batch is retried rather than the record dropped.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer

from .batch import Record
from .failures import Transient
from .settings import Settings

logger = logging.getLogger(__name__)


class DeadLetters:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producer: AIOKafkaProducer | None = None
        self.count = 0

    async def _ensure(self) -> AIOKafkaProducer:
        if self._producer is None:
            producer = AIOKafkaProducer(
                bootstrap_servers=self._settings.kafka_bootstrap, acks="all",
                enable_idempotence=self._settings.kafka_idempotence, client_id="millimetric-ingest-dlq",
            )
            try:
                await producer.start()
            except Exception as exc:
                await producer.stop()
                raise Transient(f"dead-letter producer cannot connect: {type(exc).__name__}") from exc
            self._producer = producer
        return self._producer

    async def send(self, record: Record, reason: str) -> None:
        producer = await self._ensure()
        headers = [
            ("reason", reason[:1000].encode()),
            ("original_topic", record.topic.encode()),
            ("original_partition", str(record.partition).encode()),
            ("original_offset", str(record.offset).encode()),
        ]
        try:
            await asyncio.wait_for(
                producer.send_and_wait(self._settings.dead_letter_topic, record.value, key=record.key, headers=headers), 10
            )
        except Exception as exc:
            raise Transient(f"dead-letter write failed: {type(exc).__name__}") from exc
        self.count += 1
        logger.warning("dead-lettered p%s:%s (%s); dead letters so far: %s", record.partition, record.offset, reason[:200], self.count)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

"""fetch → batch → write → commit, with a rebalance listener.

Guarantees:
- offsets are committed only after the PostgreSQL transaction holding those records committed (or
  the record was dead-lettered), and always as explicit per-partition offsets (last processed + 1);
- writes are idempotent on (project_id, event_id), so anything re-delivered after a crash, a
  rebalance or a failed commit is stored once;
- transient failures retry the same batch with backoff and commit nothing meanwhile; poison
  records go to the dead-letter topic; anything else crashes the worker (the supervisor restarts it).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Iterable

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from millimetric_protocol.events import EventMessage, decode_event

from .attribution import derive
from .batch import Batch, Record, commit_offsets, describe
from .dlq import DeadLetters
from .failures import Transient, is_data_error, is_transient
from .sessions import resolve_sessions
from .settings import Settings
from .sink import Row, project_domains, write_rows

logger = logging.getLogger(__name__)

_DOMAIN_CACHE_TTL_S = 60.0


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: IngestWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        # Write and commit what we hold before the partitions move to another worker.
        await self._worker.flush(reason="revoke")
        logger.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        logger.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))


class IngestWorker:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, dead_letters: DeadLetters) -> None:
        self._settings = settings
        self._pool = pool
        self._dlq = dead_letters
        self._batch = Batch(settings.batch_max_events, settings.batch_max_bytes, settings.batch_max_age_ms)
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._domains: dict[uuid.UUID, tuple[float, tuple[str, ...] | None]] = {}
        self.written = 0

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Consume until `stop()`; then flush, commit and leave the group."""
        consumer = await self._start_consumer()
        if consumer is None:
            return
        self._consumer = consumer
        try:
            while not self._stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=max(1, self._batch.remaining_ms()),
                                                 max_records=max(1, self._batch.room()))
                for tp, messages in fetched.items():
                    for m in messages:
                        self._batch.add(Record(tp.topic, tp.partition, m.offset, m.value or b"", m.key))
                if self._batch.due:
                    await self.flush(reason="batch")
            await self.flush(reason="shutdown")
        finally:
            await consumer.stop()  # leaves the group so partitions move at once
            self._consumer = None
            logger.info("consumer stopped; %s events written", self.written)

    async def _start_consumer(self) -> AIOKafkaConsumer | None:
        delay = 0.2
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._settings.kafka_bootstrap,
                group_id=self._settings.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="millimetric-ingest",
                max_partition_fetch_bytes=self._settings.batch_max_bytes,
            )
            consumer.subscribe([self._settings.events_topic], listener=_Listener(self))
            try:
                await consumer.start()
                return consumer
            except (KafkaError, OSError) as exc:
                logger.warning("broker not reachable (%s); retrying in %.1fs", type(exc).__name__, delay)
                await consumer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        return None

    async def flush(self, *, reason: str) -> None:
        """Write the held batch (retrying transient failures) and commit its offsets."""
        async with self._lock:
            records = self._batch.take()
            if not records:
                return
            started = time.monotonic()
            if not await self._process_with_retry(records):
                return  # stopping mid-outage: nothing committed; the next owner re-reads these
            await self._commit(records)
            logger.debug("%s flush %s (%d records) in %.0f ms", reason, describe(records), len(records),
                         (time.monotonic() - started) * 1000)

    async def _process_with_retry(self, records: list[Record]) -> bool:
        delay = 0.1
        attempt = 0
        while True:
            try:
                await self._process(records)
                if attempt:
                    logger.info("batch %s written after %d retries", describe(records), attempt)
                return True
            except Exception as exc:
                if not (isinstance(exc, Transient) or is_transient(exc)):
                    raise  # a bug: crash loudly, commit nothing
                attempt += 1
                logger.warning("transient failure writing %s (%s: %s); retry %d in %.1fs", describe(records),
                               type(exc).__name__, str(exc)[:200], attempt, delay)
            if self._stopping.is_set():
                return False
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=delay)
            except asyncio.TimeoutError:
                pass
            delay = min(delay * 2, self._settings.retry_max_backoff_s)

    async def _process(self, records: list[Record]) -> None:
        decoded: list[tuple[Record, EventMessage]] = []
        poison: list[tuple[Record, str]] = []
        for record in records:
            try:
                decoded.append((record, decode_event(record.value)))
            except ValueError as exc:
                poison.append((record, str(exc)))
        async with self._pool.acquire() as conn:
            domains = await self._project_domains(conn, {m.project_id for _, m in decoded})
            rows: list[tuple[Record, Row]] = []
            for record, message in decoded:
                project = domains.get(message.project_id)
                if project is None:
                    poison.append((record, f"unknown project {message.project_id}"))
                    continue
                rows.append((record, Row(message, derive(message.properties, project_domains=project))))
            rows = await resolve_sessions(conn, rows)
            await self._write_isolating(conn, rows, poison)
        for record, why in poison:
            await self._dlq.send(record, why)

    async def _write_isolating(self, conn: asyncpg.Connection, rows: list[tuple[Record, Row]],
                               poison: list[tuple[Record, str]]) -> None:
        """Write rows; when PostgreSQL rejects a value, bisect so one bad row never sinks the others."""
        if not rows:
            return
        try:
            self.written += await write_rows(conn, [row for _, row in rows])
        except Exception as exc:
            if not is_data_error(exc):
                raise
            if len(rows) == 1:
                poison.append((rows[0][0], f"rejected by PostgreSQL: {type(exc).__name__}: {str(exc)[:300]}"))
                return
            mid = len(rows) // 2
            await self._write_isolating(conn, rows[:mid], poison)
            await self._write_isolating(conn, rows[mid:], poison)

    async def _project_domains(self, conn: asyncpg.Connection, project_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
        now = time.monotonic()
        missing = {p for p in project_ids if p not in self._domains or self._domains[p][0] < now}
        if missing:
            found = await project_domains(conn, missing)
            for p in missing:
                self._domains[p] = (now + _DOMAIN_CACHE_TTL_S, found.get(p))
        return {p: d for p in project_ids if (d := self._domains[p][1]) is not None}

    async def _commit(self, records: list[Record]) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        offsets = {TopicPartition(t, p): o for (t, p), o in commit_offsets(records).items()}
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The rows are stored; whoever owns the partitions now re-reads and skips them as duplicates.
            logger.warning("offset commit failed (%s) for %s; records will be re-read and deduplicated",
                           type(exc).__name__, describe(records))

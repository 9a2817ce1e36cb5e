"""fetch → batch → write → commit, with a rebalance listener.

Guarantees:
- offsets are committed only after the PostgreSQL transaction holding those records committed (or
  the record was dead-lettered and the broker acknowledged that), and always as explicit
  per-partition offsets (last processed + 1), never "whatever was fetched";
- writes are idempotent on (project_id, event_id), so anything re-delivered after a crash, a
  rebalance or a failed commit is stored once;
- failures follow `failures.classify`: poison records are dead-lettered (bisecting a failed batch so
  one bad row never sinks the others); transient failures pause fetching and retry the same batch
  with backoff, committing nothing meanwhile, while the worker keeps polling so it stays in the
  group through a long outage; anything else is a bug and crashes the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError
from millimetric_protocol.events import EventMessage, decode_event

from .attribution import derive
from .batch import Batch, Record, commit_offsets, describe
from .dlq import DeadLetters
from .failures import Poison, classify
from .sessions import resolve_sessions
from .settings import Settings
from .sink import Row, encode_row, project_domains, write_encoded

logger = logging.getLogger(__name__)

_DOMAIN_CACHE_TTL_S = 60.0
_KEEPALIVE_SLICE_S = 0.5
"""While backing off, poll (paused) in slices this long, so stop and revoke are noticed quickly."""


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, worker: IngestWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self._worker.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        self._worker.on_assigned(set(assigned))


class IngestWorker:
    """One member of the consumer group. `run()` consumes until `stop()`, then flushes, commits and
    leaves the group. In replay mode it also stops by itself once every partition is caught up with
    the end offsets it saw at start."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, dead_letters: DeadLetters) -> None:
        self._settings = settings
        self._pool = pool
        self._dlq = dead_letters
        self._batch = Batch(settings.batch_max_events, settings.batch_max_bytes, settings.batch_max_age_ms)
        self._lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._stopping = asyncio.Event()
        self._revoking = asyncio.Event()
        self._domains: dict[uuid.UUID, tuple[float, tuple[str, ...] | None]] = {}
        self._processed: dict[TopicPartition, int] = {}
        """Per partition: last written or dead-lettered offset + 1 (what the next commit would say)."""
        self._committed: dict[TopicPartition, int] = {}
        self._paused = False
        self._replay_end: dict[TopicPartition, int] | None = None
        self._next_stats = time.monotonic() + settings.stats_interval_s
        self._next_replay_check = 0.0
        self.written = 0
        self.retries = 0
        self.caught_up = False

    def stop(self) -> None:
        """Ask `run()` to stop fetching, flush, commit and leave the group. Safe from a signal handler."""
        self._stopping.set()

    # --- partition ownership ---------------------------------------------------------------

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        # Positions of newly assigned partitions restart at the committed offsets (aiokafka resets
        # them), so nothing abandoned by an earlier failed flush is skipped.
        self._paused = False
        for tp in assigned:
            self._processed.pop(tp, None)
            self._committed.pop(tp, None)
        logger.info("partitions assigned: %s", sorted(tp.partition for tp in assigned))

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        """Write and commit what we hold before the partitions move to another worker. A batch
        stuck on a transient failure is given up uncommitted: the next owner re-reads it."""
        if not revoked:
            return  # aiokafka calls this before the first assignment too
        self._revoking.set()
        try:
            await self.flush(reason="revoke", patient=False)
        finally:
            self._revoking.clear()
        logger.info("partitions revoked: %s", sorted(tp.partition for tp in revoked))

    # --- the loop ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Consume until `stop()` (or, replaying, until caught up); then flush, commit and leave."""
        consumer = await self._start_consumer()
        if consumer is None:
            return
        self._consumer = consumer
        try:
            if self._settings.replay:
                await self._read_replay_end(consumer)
            while not self._stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=max(1, self._batch.remaining_ms()),
                                                 max_records=max(1, self._batch.room()))
                await self._hold(fetched)
                if self._batch.due:
                    await self.flush(reason="age")
                await self._tick(consumer)
            await self.flush(reason="shutdown", patient=False)
        finally:
            self._consumer = None
            with contextlib.suppress(Exception):
                # Leaves the group, so the partitions move to the other workers at once.
                await asyncio.wait_for(consumer.stop(), self._settings.commit_timeout_s)
            self._log_stats(consumer, final=True)

    async def _hold(self, fetched: dict[TopicPartition, list[Any]]) -> None:
        """Add fetched records to the batch, flushing whenever it is full. If a flush gives its batch
        up (stopping, or partitions revoked mid-outage), the rest of this fetch is dropped too: adding
        it would let a later commit skip the records given up. Nothing is lost: their partitions'
        positions restart from the committed offsets at the next assignment."""
        for tp, messages in fetched.items():
            for m in messages:
                full = self._batch.add(Record(tp.topic, tp.partition, m.offset, m.value or b"", m.key))
                if full and not await self.flush(reason="full"):
                    return

    async def _start_consumer(self) -> AIOKafkaConsumer | None:
        delay = 0.2
        while not self._stopping.is_set():
            s = self._settings
            consumer = AIOKafkaConsumer(
                bootstrap_servers=s.kafka_bootstrap,
                group_id=s.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="millimetric-ingest",
                max_partition_fetch_bytes=s.batch_max_bytes,
                fetch_max_wait_ms=s.fetch_max_wait_ms,
                session_timeout_ms=s.session_timeout_ms,
                heartbeat_interval_ms=max(100, min(3000, s.session_timeout_ms // 3)),
                max_poll_interval_ms=s.max_poll_interval_ms,
                # How long the coordinator waits for members to rejoin, e.g. while one flushes on revoke.
                rebalance_timeout_ms=max(s.max_poll_interval_ms, s.session_timeout_ms),
            )
            consumer.subscribe([s.events_topic], listener=_Listener(self))
            try:
                await consumer.start()
                logger.info("consuming %s as group %s", s.events_topic, s.group_id)
                return consumer
            except (KafkaError, OSError) as exc:
                logger.warning("broker not reachable (%s); retrying in %.1fs", type(exc).__name__, delay)
                with contextlib.suppress(Exception):
                    await consumer.stop()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                delay = min(delay * 2, 5.0)
        return None

    async def flush(self, *, reason: str, patient: bool = True) -> bool:
        """Write the held batch and commit its offsets. `patient`: on a transient failure, pause
        fetching and retry until it succeeds (or stop/revoke); otherwise try once. Returns False when
        the batch was given up uncommitted (its records are re-read by whoever owns the partitions next)."""
        async with self._lock:
            records = self._batch.take()
            if not records:
                return True
            started = time.monotonic()
            if not await self._store_with_retry(records, patient=patient):
                return False
            await self._commit(records)
            logger.debug("%s flush %s (%d records) in %.0f ms", reason, describe(records), len(records),
                         (time.monotonic() - started) * 1000)
            return True

    async def _store_with_retry(self, records: list[Record], *, patient: bool) -> bool:
        delay = 0.1
        attempt = 0
        try:
            while True:
                try:
                    await self._store(records)
                except Exception as exc:
                    if classify(exc) != "transient":
                        raise  # a bug: crash loudly, commit nothing
                    attempt += 1
                    self.retries += 1
                    give_up = not patient or self._stopping.is_set() or self._revoking.is_set()
                    logger.warning("transient failure writing %s (%s: %s); %s", describe(records), type(exc).__name__,
                                   str(exc)[:200], "giving the batch up uncommitted, it will be re-read" if give_up
                                   else f"retry {attempt} in {delay:.1f}s with fetching paused")
                    if give_up:
                        return False
                    await self._pool.expire_connections()  # a connection that saw the failure is not reused
                    self._pause()
                    await self._keep_alive(delay)
                    if self._stopping.is_set() or self._revoking.is_set():
                        logger.warning("giving batch %s up uncommitted (%s); it will be re-read", describe(records),
                                       "stopping" if self._stopping.is_set() else "partitions revoked")
                        return False
                    delay = min(delay * 2, self._settings.retry_max_backoff_s)
                    continue
                if attempt:
                    logger.info("batch %s written after %d retries", describe(records), attempt)
                return True
        finally:
            self._resume()

    async def _store(self, records: list[Record]) -> None:
        """Store a batch; when PostgreSQL rejects a value, bisect so that only the row that cannot
        be stored is dead-lettered and every other row of the batch is written."""
        try:
            await self._process(records)
        except Exception as exc:
            if classify(exc) != "poison":
                raise
            if len(records) == 1:
                reason = exc.reason if isinstance(exc, Poison) else f"rejected by PostgreSQL: {type(exc).__name__}: {str(exc)[:300]}"
                await self._dlq.send_all([(records[0], reason)])
                self._mark_processed(records)
                return
            mid = len(records) // 2
            await self._store(records[:mid])
            await self._store(records[mid:])

    async def _process(self, records: list[Record]) -> None:
        """Decode and re-validate, attribute, resolve sessions, write (one transaction), then
        dead-letter what can never be stored. Raises on any failure; has no effect on offsets."""
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
            encoded = []
            for record, row in rows:
                try:
                    encoded.append(encode_row(row))
                except Poison as exc:
                    poison.append((record, exc.reason))
            if encoded:
                self.written += await write_encoded(conn, encoded)
        # After the write: a failure here retries the batch, and the rewrite is a no-op.
        await self._dlq.send_all(poison)
        self._mark_processed(records)

    def _mark_processed(self, records: list[Record]) -> None:
        for (topic, partition), offset in commit_offsets(records).items():
            tp = TopicPartition(topic, partition)
            self._processed[tp] = max(offset, self._processed.get(tp, 0))

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
            await asyncio.wait_for(consumer.commit(offsets), self._settings.commit_timeout_s)
        except (TimeoutError, KafkaError) as exc:
            # The rows are stored; whoever owns the partitions next re-reads and skips them as duplicates.
            logger.warning("offset commit failed (%s) for %s; records will be re-read and deduplicated",
                           type(exc).__name__, describe(records))
            return
        self._committed.update(offsets)

    # --- transient failures: pause, keep polling --------------------------------------------

    def _pause(self) -> None:
        consumer = self._consumer
        if consumer is None or self._paused:
            return
        consumer.pause(*consumer.assignment())
        self._paused = True
        logger.warning("fetching paused while a transient failure is retried")

    def _resume(self) -> None:
        consumer = self._consumer
        if consumer is None or not self._paused:
            return
        self._paused = False
        with contextlib.suppress(KafkaError):
            consumer.resume(*(consumer.paused() & consumer.assignment()))
        logger.info("fetching resumed")

    async def _keep_alive(self, delay_s: float) -> None:
        """Wait `delay_s` (or until stop/revoke) while calling `getmany` on the paused consumer, so
        the poll timer never reaches max_poll_interval_ms and the worker keeps its partitions."""
        consumer = self._consumer
        end = time.monotonic() + delay_s
        while not (self._stopping.is_set() or self._revoking.is_set()):
            left = end - time.monotonic()
            if left <= 0:
                return
            slice_s = min(left, _KEEPALIVE_SLICE_S)
            if consumer is None:
                await asyncio.sleep(slice_s)
                continue
            try:
                fetched = await consumer.getmany(timeout_ms=max(1, int(slice_s * 1000)))
            except KafkaError:
                await asyncio.sleep(slice_s)
                continue
            # Paused partitions return nothing. Should anything come back, rewind to it so it is
            # fetched again after the retry: never dropped, never added behind the batch in hand.
            for tp, messages in fetched.items():
                if messages:
                    consumer.seek(tp, min(m.offset for m in messages))
            self._maybe_log_stats(consumer)  # lag keeps being reported through an outage

    # --- visibility and replay --------------------------------------------------------------

    def _maybe_log_stats(self, consumer: AIOKafkaConsumer) -> None:
        now = time.monotonic()
        if now >= self._next_stats:
            self._next_stats = now + self._settings.stats_interval_s
            self._log_stats(consumer)

    async def _tick(self, consumer: AIOKafkaConsumer) -> None:
        self._maybe_log_stats(consumer)
        now = time.monotonic()
        if self._replay_end is None or self._batch or now < self._next_replay_check:
            return
        self._next_replay_check = now + 0.5
        if await self._replay_done(consumer):
            self.caught_up = True
            logger.info("replay caught up with the end offsets seen at start: %s events written into this "
                        "database; keep ingesting with INGEST_GROUP_ID=%s", self.written, self._settings.group_id)
            self.stop()

    @property
    def dead_lettered(self) -> int:
        return self._dlq.count

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def ready(self) -> bool:
        """In the consumer group and not paused by a dependency outage (the worker's /readyz)."""
        return self._consumer is not None and not self._paused

    def current_lag(self) -> dict[int, int]:
        """Per-partition lag for /metrics; empty while not consuming."""
        consumer = self._consumer
        if consumer is None:
            return {}
        try:
            return self.lag(consumer)
        except Exception:  # a scrape must never fail because the consumer is between states
            return {}

    def lag(self, consumer: AIOKafkaConsumer) -> dict[int, int]:
        """Per assigned partition: records at the broker not yet written here (high-water mark minus
        the processed offset, or the committed one)."""
        lags: dict[int, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            done = self._processed.get(tp, self._committed.get(tp))
            if high is not None and done is not None:
                lags[tp.partition] = max(0, high - done)
            elif high is not None:
                lags[tp.partition] = high  # nothing processed yet since assignment: an upper bound
        return lags

    def _log_stats(self, consumer: AIOKafkaConsumer, *, final: bool = False) -> None:
        try:
            lags = self.lag(consumer)
        except Exception:  # a stopped consumer has no assignment to report
            lags = {}
        logger.info("%s: written=%d dead_lettered=%d retries=%d lag=%d %s paused=%s", "final stats" if final else "stats",
                    self.written, self._dlq.count, self.retries, sum(lags.values()),
                    " ".join(f"p{p}={n}" for p, n in sorted(lags.items())) or "-", self._paused)

    async def _read_replay_end(self, consumer: AIOKafkaConsumer) -> None:
        topic = self._settings.events_topic
        deadline = time.monotonic() + 30
        while (partitions := consumer.partitions_for_topic(topic)) is None:
            if time.monotonic() > deadline or self._stopping.is_set():
                raise RuntimeError(f"topic {topic} not found; nothing to replay")
            await asyncio.sleep(0.1)
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._replay_end = await consumer.end_offsets(tps)
        logger.info("replaying %s from the beginning up to %s as group %s", topic,
                    " ".join(f"p{tp.partition}:{o}" for tp, o in sorted(self._replay_end.items())), self._settings.group_id)

    async def _replay_done(self, consumer: AIOKafkaConsumer) -> bool:
        assert self._replay_end is not None
        for tp, end in self._replay_end.items():
            if end == 0:
                continue
            done = self._processed.get(tp)
            if done is None:
                # Nothing processed here since assignment (another replay worker of the group owns it,
                # or a resumed replay had already finished it): ask for the group's committed offset.
                with contextlib.suppress(KafkaError, asyncio.TimeoutError):
                    done = await asyncio.wait_for(consumer.committed(tp), self._settings.commit_timeout_s)
            if done is None or done < end:
                return False
        return True

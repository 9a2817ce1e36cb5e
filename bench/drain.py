"""Benchmark 3, drain: events/s from a pre-filled topic into PostgreSQL, by 1 and by 2 ingest
workers, vs the database ceiling.

The topic (4 partitions) is filled directly with aiokafka before anything is timed: realistic
events from `millimetric.demodata.generate` (landing pages with UTM tags and click ids, search and
social referrers, internal navigation that inherits its session's attribution, signups and
purchases) over 30 days for 10 projects, each encoded as the gateway does (`EventMessage`,
`encode_event`, keyed by `partition_key()`). A run starts `python -m millimetric ingest` with a new
consumer group into an empty events table and polls `count(*)` every 100 ms: the figure is events/s
from the first stored batch until all are stored (startup — imports, group join — is reported
apart). The reference is the database alone: the rows the worker stored, read back, then per batch
of the worker's size (`INGEST_BATCH_MAX_EVENTS` default) `COPY` (asyncpg copy_records_to_table) into
a temporary staging table plus `INSERT … SELECT … ON CONFLICT DO NOTHING` into the same events
table, one transaction per batch, on one connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from millimetric.demodata import generate
from millimetric_ingest.settings import Settings as IngestSettings
from millimetric_protocol.events import EVENT_MESSAGE_VERSION, EventContext, EventMessage, encode_event

from .config import Scale
from .infra import Infra, PeakRss, Stack, cpu_seconds
from .results import Outcome, Target
from .stats import fmt, fmt_ratio, ratio
from .tenants import Account, create_account

logger = logging.getLogger(__name__)

TARGET_RATIO = 0.5
PROJECTS = 10
PARTITIONS = 4
POLL_S = 0.1

# Every events column but the generated visitor_id, in table order.
COPY_COLUMNS = (
    "project_id", "event_id", "timestamp", "received_at", "event", "anonymous_id", "user_id", "properties", "context",
    "source", "medium", "campaign", "channel", "is_paid", "utm_source", "utm_medium", "utm_campaign", "utm_content",
    "utm_term", "referrer_host", "click_ids", "attribution_version",
)


def messages(account: Account, total: int) -> list[tuple[bytes, bytes]]:
    """(key, value) pairs of `total` encoded event messages spread over the account's projects."""
    out: list[tuple[bytes, bytes]] = []
    per_project = -(-total // len(account.projects))
    context = EventContext(ip="127.0.0.0", user_agent="bench/1.0")
    for i, project in enumerate(account.projects):
        count = min(per_project, total - len(out))
        for args in generate(days=30, events=count, domain=project.domain, seed=100 + i):
            at = datetime.fromisoformat(args["timestamp"])
            message = EventMessage(
                v=EVENT_MESSAGE_VERSION, event_id=uuid.UUID(args["event_id"]), project_id=project.project_id,
                received_at=at + timedelta(milliseconds=40), timestamp=at, event=args["event"],
                anonymous_id=args["anonymous_id"], properties=args["properties"], context=context,
            )
            out.append((message.partition_key(), encode_event(message)))
    return out


async def fill_topic(bootstrap: str, topic: str, pairs: list[tuple[bytes, bytes]]) -> None:
    # The gateway's producer settings (acks=all, linger 2 ms, default 16 KiB batches), so the topic
    # holds record batches of the size a busy gateway writes, not bigger ones that fetch faster.
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, client_id="bench-drain")
    await producer.start()
    try:
        chunk = 5000
        for start in range(0, len(pairs), chunk):
            futures = [await producer.send(topic, value, key=key) for key, value in pairs[start:start + chunk]]
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def _count(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM events"))


def _pg_cpu(postgres_pid: int | None) -> float:
    """CPU seconds of PostgreSQL's live processes (the postmaster and its backends)."""
    return cpu_seconds(postgres_pid, children=True) if postgres_pid else float("nan")


async def _truncate(conn: asyncpg.Connection) -> None:
    """Empty events and whatever the sink maintains beside it (every table of the events shape's
    database but the control plane), so each run starts from the same state."""
    tables = [r["tablename"] for r in await conn.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT IN "
        "('accounts', 'projects', 'api_keys', 'schema_migrations')")]
    await conn.execute(f"TRUNCATE {', '.join(tables)}")
    await conn.execute("CHECKPOINT")  # every run starts without the previous one's dirty pages


async def drain_run(stack: Stack, workers: int, total: int, group: str, postgres_pid: int | None) -> dict[str, Any]:
    """Start `workers` ingest workers on an empty table; time until `total` rows are stored."""
    conn = await asyncpg.connect(stack.dsn)
    try:
        await _truncate(conn)
        pg_before = _pg_cpu(postgres_pid)
        started = time.monotonic()
        procs = [stack.start(f"ingest-{i + 1}", {"INGEST_GROUP_ID": group}) for i in range(workers)]
        first_at: float | None = None
        first_count = 0
        count = 0
        deadline = started + 60 + total / 500  # far beyond any healthy run; bounded all the same
        with PeakRss({p.name: p.pid for p in procs}) as rss:
            while count < total and time.monotonic() < deadline:
                for p in procs:
                    if p.process.poll() is not None:
                        raise RuntimeError(f"{p.name} exited with {p.process.returncode}: {p.log_tail()}")
                await asyncio.sleep(POLL_S)
                count = await _count(conn)
                logger.info("%d worker(s): %d stored after %.1fs", workers, count, time.monotonic() - started)
                if first_at is None and count:
                    first_at, first_count = time.monotonic(), count
            done_at = time.monotonic()
            worker_cpu = sum(cpu_seconds(p.pid) for p in procs)
            pg_cpu = _pg_cpu(postgres_pid) - pg_before
        for p in procs:
            stack.stop(p)
    finally:
        await conn.close()
    if count < total:
        raise RuntimeError(f"{workers} worker(s) stored {count} of {total} events before the deadline")
    assert first_at is not None
    steady_s = done_at - first_at
    return {
        "rate": (total - first_count) / steady_s if steady_s > 0 else float("nan"),
        "wall_rate": total / (done_at - started),
        "startup_s": first_at - started,
        "seconds": done_at - started,
        "rss": rss.mib(),
        # Whole run, startup included: imports and group join are a small, fixed part.
        "worker_us": worker_cpu / total * 1e6,
        "pg_us": pg_cpu / total * 1e6,
    }


async def ceiling_run(dsn: str, batch: int, postgres_pid: int | None) -> dict[str, Any]:
    """COPY + INSERT … ON CONFLICT DO NOTHING of the stored rows, `batch` rows per transaction."""
    conn = await asyncpg.connect(dsn)
    try:
        cols = ", ".join(COPY_COLUMNS)
        records = [tuple(r) for r in await conn.fetch(f"SELECT {cols} FROM events ORDER BY received_at, event_id")]
        await conn.execute(f"CREATE TEMP TABLE drain_staging AS SELECT {cols} FROM events WITH NO DATA")
        await _truncate(conn)
        pg_before = _pg_cpu(postgres_pid)
        started = time.monotonic()
        for start in range(0, len(records), batch):
            async with conn.transaction():
                await conn.copy_records_to_table("drain_staging", records=records[start:start + batch], columns=COPY_COLUMNS)
                await conn.execute(f"INSERT INTO events ({cols}) SELECT {cols} FROM drain_staging ON CONFLICT DO NOTHING")
                await conn.execute("TRUNCATE drain_staging")
        took = time.monotonic() - started
        pg_cpu = _pg_cpu(postgres_pid) - pg_before
        stored = await _count(conn)
    finally:
        await conn.close()
    if stored != len(records):
        raise RuntimeError(f"ceiling stored {stored} of {len(records)} rows")
    return {"rate": len(records) / took, "seconds": took, "pg_us": pg_cpu / len(records) * 1e6}


async def run(infra: Infra, scale: Scale) -> Outcome:
    total = scale.drain_events
    dsn = await infra.database("bench_drain")
    topic = await infra.topic("drain", partitions=PARTITIONS)
    account = await create_account(dsn, projects=PROJECTS)
    began = time.monotonic()
    pairs = await asyncio.to_thread(messages, account, total)
    await fill_topic(infra.bootstrap, topic, pairs)
    fill_s = time.monotonic() - began
    del pairs
    stack = infra.stack(dsn, topic)
    try:
        pg = infra.postgres_pid
        one = await drain_run(stack, 1, total, f"bench-drain-1-{infra.run_id}", pg)
        ceiling = await ceiling_run(dsn, IngestSettings().batch_max_events, pg)
        two = await drain_run(stack, 2, total, f"bench-drain-2-{infra.run_id}", pg)
    finally:
        stack.stop_all()
    r1, r2 = ratio(one["rate"], ceiling["rate"]), ratio(two["rate"], ceiling["rate"])
    rss1 = max(one["rss"].values())
    rss2 = max(two["rss"].values())
    summary = (f"drain: 1 worker {fmt(one['rate'])} events/s = {fmt_ratio(r1)} of the database ceiling "
               f"{fmt(ceiling['rate'])} events/s [target ≥ {TARGET_RATIO}×]; 2 workers {fmt(two['rate'])} events/s = "
               f"{fmt_ratio(r2)}; {total:,} events; CPU per event: worker {fmt(one['worker_us'])} µs + PostgreSQL "
               f"{fmt(one['pg_us'])} µs vs ceiling PostgreSQL {fmt(ceiling['pg_us'])} µs; startup {one['startup_s']:.1f}s / "
               f"{two['startup_s']:.1f}s; peak RSS per worker {rss1:.0f} / {rss2:.0f} MiB")
    columns = {
        "events": f"{total:,}", "1 worker ev/s": fmt(one["rate"]), "2 workers ev/s": fmt(two["rate"]),
        "ceiling ev/s": fmt(ceiling["rate"]), "1w ratio": fmt_ratio(r1), "2w ratio": fmt_ratio(r2),
        "CPU µs/event worker + PG (ceiling PG)": f"{fmt(one['worker_us'])} + {fmt(one['pg_us'])} ({fmt(ceiling['pg_us'])})",
        "startup 1w/2w": f"{one['startup_s']:.1f}s / {two['startup_s']:.1f}s",
        "RSS ingest MiB 1w/2w": f"{rss1:.0f} / {rss2:.0f}",
    }
    return Outcome(
        name="drain", summary=summary, columns=columns,
        targets=[Target("drain, 1 worker ≥ 0.5× database ceiling", r1 >= TARGET_RATIO if r1 == r1 else None, fmt_ratio(r1))],
        data={"rss_mib_1": one["rss"], "rss_mib_2": two["rss"]},
        notes=[f"topic filled in {fill_s:.0f}s (not timed); one run per worker count"],
        description=("Events/s from a pre-filled topic (realistic demo-data events, 10 projects, 30 days) into an empty "
                     "events table by 1 and 2 ingest workers, from the first stored batch to the last (startup apart), "
                     "vs the database ceiling: the same rows by COPY into a staging table + INSERT … ON CONFLICT DO "
                     "NOTHING, in batches of the worker's size. Target: 1 worker ≥ 0.5× the ceiling. RSS = peak per worker."),
    )

"""Millimetric ingest worker: one member of the consumer group that reads the events topic,
derives attribution, writes PostgreSQL idempotently and commits offsets only after the write.
Run several for throughput; partitions are shared among them. Configured from INGEST_* variables.
SIGTERM/SIGINT: stop fetching, flush, commit, leave the group, exit 0 within the grace period.

Replay (`millimetric ingest --replay`, or INGEST_REPLAY=true): rebuild the PostgreSQL projection
from the beginning of the topic into the database INGEST_PG_DSN names (migrated, with accounts and
projects restored), under a new consumer group; exits 0 once caught up with the end offsets seen at
start. Continue with ordinary workers using that group id (logged) so nothing in between is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import time
from collections.abc import Sequence

import asyncpg
from millimetric_runtime.backoff import Backoff, retry
from millimetric_runtime.dependencies import is_unavailable
from millimetric_runtime.logs import setup_logging

from .consumer import IngestWorker
from .dlq import DeadLetters
from .observability import serve
from .settings import Settings

logger = logging.getLogger("millimetric_ingest")
CONNECT_BACKOFF = Backoff(base_s=0.2, cap_s=5.0)


async def run(settings: Settings) -> int:
    """Run one worker until stopped (or, replaying, caught up); returns the process exit code."""
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    worker: IngestWorker | None = None

    def request_stop() -> None:
        if stopping.is_set():
            return
        logger.info("stop requested; flushing and leaving the group (grace %.0fs)", settings.shutdown_grace_s)
        stopping.set()
        if worker is not None:
            worker.stop()
        loop.call_later(settings.shutdown_grace_s, _give_up, settings.shutdown_grace_s)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    pool = await _connect(settings, stopping)
    if pool is None:
        return 0
    dead_letters = DeadLetters(settings)
    try:
        if settings.replay and not await _replay_target_ok(pool):
            return 2
        worker = IngestWorker(settings, pool, dead_letters)
        if stopping.is_set():
            worker.stop()
        http = await serve(worker, settings)
        try:
            await worker.run()
        finally:
            if http is not None:
                await http.cleanup()
    finally:
        await dead_letters.close()
        await pool.close()
    logger.info("shutdown complete")
    return 0


def _give_up(grace_s: float) -> None:
    # Nothing uncommitted is lost: offsets were not moved past anything unwritten.
    logger.error("shutdown grace period of %.0fs exceeded; exiting without final commit", grace_s)
    logging.shutdown()
    os._exit(1)


async def _connect(settings: Settings, stopping: asyncio.Event) -> asyncpg.Pool | None:
    """A connection pool, retrying with backoff while the database is unavailable (None: stopped first)."""

    async def attempt() -> asyncpg.Pool:
        pool: asyncpg.Pool = await asyncpg.create_pool(
            settings.pg_dsn, min_size=1, max_size=2,
            timeout=settings.pg_connect_timeout_s,
            # Client-side bound a little above the server's statement_timeout: every call has a deadline.
            command_timeout=settings.statement_timeout_ms / 1000 + 5,
            server_settings={"statement_timeout": str(settings.statement_timeout_ms)},
        )
        return pool

    def retrying(exc: BaseException, delay_s: float) -> None:
        reason = str(exc)[:200] if isinstance(exc, asyncpg.PostgresError) else type(exc).__name__
        logger.warning("database not usable (%s); retrying in %.1fs", reason, delay_s)

    # A server refusing us (wrong password, no such database) is retried too: it is fixed outside
    # this process, and the worker stays up (not ready) meanwhile instead of crash-looping.
    return await retry(attempt, policy=CONNECT_BACKOFF, stop=stopping, on_retry=retrying,
                       retryable=lambda exc: is_unavailable(exc) or isinstance(exc, asyncpg.PostgresError))


async def _replay_target_ok(pool: asyncpg.Pool) -> bool:
    """A replay needs the control plane (accounts, projects) restored first: without projects every
    event would be dead-lettered as `unknown project`."""
    async with pool.acquire() as conn:
        projects = await conn.fetchval("SELECT count(*) FROM projects")
        events = await conn.fetchval("SELECT count(*) FROM events")
    if not projects:
        logger.error("replay target has no projects: restore accounts and projects into it first "
                     "(e.g. pg_dump --data-only -t accounts -t projects -t api_keys)")
        return False
    if events:
        logger.warning("replay target already holds %s events; they are kept (writes are idempotent)", events)
    return True


def settings_for(settings: Settings, *, replay: bool = False, group_id: str | None = None,
                 now: float | None = None) -> Settings:
    """Apply the command line: `--replay` and `--group-id`. A replay without an explicit group uses
    INGEST_REPLAY_GROUP_ID, else a new `<INGEST_GROUP_ID>-replay-<UTC time>` (so it starts at the
    beginning of the topic)."""
    if replay:
        settings = dataclasses.replace(settings, replay=True)
    if settings.replay:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
        group_id = group_id or settings.replay_group_id or f"{settings.group_id}-replay-{stamp}"
    if group_id:
        settings = dataclasses.replace(settings, group_id=group_id)
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="millimetric ingest", description="Run one ingest worker (INGEST_* variables).")
    parser.add_argument("--replay", action="store_true",
                        help="rebuild the projection from the beginning of the topic under a new consumer group; exit when caught up")
    parser.add_argument("--group-id", help="consumer group (default INGEST_GROUP_ID; with --replay a new one)")
    args = parser.parse_args(argv)
    settings = settings_for(Settings.from_env(os.environ), replay=args.replay, group_id=args.group_id)
    setup_logging("ingest", json_lines=settings.log_json)
    raise SystemExit(asyncio.run(run(settings)))


if __name__ == "__main__":
    main()

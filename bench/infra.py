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
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import psutil
from millimetric.dev import service_env
from millimetric.embedded import Broker, ensure_topics, free_port, start_postgres, stop_postgres
from millimetric.kafka import KafkaCluster
from millimetric.migrate import migrate

READY_TIMEOUT_S: Final = 60.0
STOP_TIMEOUT_S: Final = 30.0


def with_database(dsn: str, database: str) -> str:
    """The same server, another database (the DSN's path names the database)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


def wait_http_ready(url: str, timeout_s: float = READY_TIMEOUT_S, process: subprocess.Popen[bytes] | None = None,
                    log_path: Path | None = None) -> None:
    """Poll `url` until it answers 200; fail early if `process` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path and log_path.exists() else ""
            raise RuntimeError(f"process for {url} exited with {process.returncode}\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {timeout_s}s")


@dataclass
class Proc:
    """One child process started by the benchmark (a service, a reference server or a load generator)."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""


def spawn(name: str, argv: list[str], env: Mapping[str, str], log_dir: Path) -> Proc:
    log_path = log_dir / f"{name}.log"
    log = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    try:
        process = subprocess.Popen(argv, env=dict(env), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        log.close()
    return Proc(name, process, log_path)


@dataclass
class Stack:
    """The services of one benchmark, pointed at its database and topic."""

    dsn: str
    topic: str
    env: dict[str, str]
    log_dir: Path
    gateway_port: int
    query_port: int
    procs: list[Proc] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def mcp_url(self) -> str:
        return self.gateway_url + "/mcp"

    @property
    def mcp_account_url(self) -> str:
        return self.gateway_url + "/mcp/account"

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    def start(self, name: str, extra_env: Mapping[str, str] | None = None) -> Proc:
        """Start one service: 'gateway', 'query', 'ingest' or 'ingest-2' …"""
        proc = spawn(name, [sys.executable, "-m", "millimetric", name.split("-")[0]], {**self.env, **(extra_env or {})},
                     self.log_dir)
        self.procs.append(proc)
        return proc

    def start_serving(self, ingest_workers: int = 1, extra_env: Mapping[str, str] | None = None) -> None:
        """query, gateway and N ingest workers, waiting until query and gateway are ready."""
        query = self.start("query", extra_env)
        gateway = self.start("gateway", extra_env)
        for i in range(ingest_workers):
            self.start(f"ingest-{i + 1}", extra_env)
        wait_http_ready(self.query_url + "/readyz", process=query.process, log_path=query.log_path)
        wait_http_ready(self.gateway_url + "/readyz", process=gateway.process, log_path=gateway.log_path)

    def stop(self, proc: Proc) -> int:
        code = proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)
        return code

    def stop_all(self) -> None:
        # Gateway first (no new events), then ingest (flush), then query: the order `millimetric dev` uses.
        order = {"gateway": 0, "ingest": 1, "query": 2}
        for proc in sorted(self.procs, key=lambda p: order.get(p.name.split("-")[0], 3)):
            proc.stop()
        self.procs.clear()

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.procs}


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
        gateway_port, query_port = free_port(), free_port()
        env = service_env(os.environ, dsn=dsn, bootstrap=self.bootstrap, idempotence=False, gateway_port=gateway_port,
                          query_port=query_port, host="127.0.0.1")
        env.update({"GATEWAY_EVENTS_TOPIC": topic, "INGEST_EVENTS_TOPIC": topic, "PYTHONUNBUFFERED": "1"})
        env.update(extra_env or {})
        stack = Stack(dsn, topic, env, self.log_dir, gateway_port, query_port)
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

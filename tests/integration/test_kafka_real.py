"""Apache Kafka itself, as production runs it (millimetric.kafka): the helper's own promises (what
is missing is named, the download happens once, three replicated nodes that can be stopped, killed
and started again), the pipeline with the idempotent producer on, and the SASL_SSL and SSL
listeners at the client level.

The cluster is the session's (`kafka_cluster`): a test that stops or kills a node starts it again
and waits until every partition it touched is fully replicated before it returns."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import signal
import ssl
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import aiohttp
import psutil
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, SaslAuthenticationFailed
from millimetric.embedded import ensure_topics, free_port
from millimetric.kafka import INSTALL_HINT, KafkaCluster, KafkaSetupError, PartitionState, fetch_kafka, find_java

from tests.support.accounts import create_account
from tests.support.faults import read_topic, unique_name
from tests.support.kafka import SASL_USER, client_tls, sasl_password
from tests.support.load import Ledger, assert_ledger, track_many, wait_until
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Stack

# --- what the helper says when it cannot run Kafka -------------------------------------------------


def test_without_java_or_maven_the_helper_says_what_to_install(tmp_path: Path) -> None:
    bare = {"PATH": str(tmp_path), "MILLIMETRIC_KAFKA_CACHE": str(tmp_path / "cache")}
    with pytest.raises(KafkaSetupError) as no_java:
        find_java(bare)
    with pytest.raises(KafkaSetupError) as no_maven:
        fetch_kafka(environ=bare)
    assert str(no_java.value) == str(no_maven.value) == INSTALL_HINT
    assert "apt-get install default-jre-headless maven" in INSTALL_HINT


@pytest.mark.real_kafka
@pytest.mark.slow
def test_a_failed_download_names_the_artifact_and_mavens_error(tmp_path: Path) -> None:
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), "MILLIMETRIC_KAFKA_CACHE": str(tmp_path)}
    with pytest.raises(KafkaSetupError) as failed:
        fetch_kafka("0.0.0-none", environ)
    message = str(failed.value)
    assert message.startswith("cannot download org.apache.kafka:kafka_2.13:0.0.0-none with Maven: [ERROR] "), message
    assert "\n" not in message
    assert not (tmp_path / "kafka-0.0.0-none").exists(), "nothing half-downloaded is left where a later run would look"


@pytest.mark.real_kafka
@pytest.mark.slow
def test_concurrent_first_runs_download_once_and_later_runs_reuse_it(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    environ = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), "MILLIMETRIC_KAFKA_CACHE": str(tmp_path)}
    results: list[Path] = []
    caplog.set_level(logging.INFO, logger="millimetric.kafka")
    threads = [threading.Thread(target=lambda: results.append(fetch_kafka(environ=environ))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert len(results) == 2 and results[0] == results[1] == tmp_path / "kafka-4.1.0" / "libs"
    assert (results[0] / "kafka_2.13-4.1.0.jar").exists()
    assert [r.message.split(" (")[0] for r in caplog.records] == ["downloading Apache Kafka 4.1.0"]
    assert fetch_kafka(environ={**environ, "PATH": str(tmp_path)}) == results[0], "a finished download needs no Maven"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kafka-4.1.0", "kafka-4.1.0.lock"], "no staging dir left behind"


@pytest.mark.real_kafka
def test_a_node_that_exits_while_starting_is_reported_with_its_log(tmp_path: Path) -> None:
    cluster = KafkaCluster(tmp_path / "kafka", 1, heap_mb=1)  # too small a heap for the JVM to start
    with pytest.raises(KafkaSetupError) as failed:
        cluster.start(timeout_s=60)
    message = str(failed.value)
    assert message.startswith("Kafka node 1 exited with 1 while starting; "), message
    assert "heap" in message, "the log's tail says why"
    assert not cluster.broker(1).running


# --- the cluster -----------------------------------------------------------------------------------


async def replicated_topic(cluster: KafkaCluster, prefix: str, partitions: int = 1) -> str:
    topic = unique_name(f"test.{prefix}")
    await ensure_topics(cluster.bootstrap, topic, partitions, replication_factor=cluster.replication_factor,
                        min_insync_replicas=cluster.min_insync_replicas)
    return topic


async def fully_replicated(cluster: KafkaCluster, topic: str, partition: int = 0) -> PartitionState:
    async def state() -> PartitionState | None:
        s = await cluster.partition(topic, partition)
        return s if s.leader != -1 and len(s.replicas) == 3 and set(s.isr) == set(s.replicas) else None

    return await poll(state, deadline_s=60, interval_s=0.2)


async def configs_of(admin: AIOKafkaAdminClient, kind: ConfigResourceType, name: str) -> dict[str, str]:
    """The configuration of one topic or broker (polled: a node may not know a new topic for moments)."""
    async def described() -> dict[str, str]:
        (answer,) = await admin.describe_configs([ConfigResource(kind, name)])
        ((error_code, _, _, _, entries),) = answer.resources
        return {entry[0]: entry[1] for entry in entries} if error_code == 0 else {}

    return await poll(described, deadline_s=30, interval_s=0.2)


async def test_three_nodes_answer_and_topics_and_internal_topics_are_replicated_three_times(kafka_cluster: KafkaCluster) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.bootstrap)
    await admin.start()
    try:
        assert {b["node_id"] for b in (await admin.describe_cluster())["brokers"]} == {1, 2, 3}
        topic = await replicated_topic(kafka_cluster, "replicated", partitions=3)
        for p in range(3):
            assert len((await fully_replicated(kafka_cluster, topic, p)).isr) == 3
        # A topic's own min.insync.replicas wins over the brokers' 2: ensure_topics did set it.
        relaxed = unique_name("test.relaxed")
        await ensure_topics(kafka_cluster.bootstrap, relaxed, 1, replication_factor=3, min_insync_replicas=1)
        topic_configs = [await configs_of(admin, ConfigResourceType.TOPIC, name) for name in (topic, relaxed)]
        broker = await configs_of(admin, ConfigResourceType.BROKER, "2")
    finally:
        await admin.close()
    assert [c["min.insync.replicas"] for c in topic_configs] == ["2", "1"]
    assert broker["auto.create.topics.enable"] == "false"
    assert (broker["offsets.topic.replication.factor"], broker["transaction.state.log.replication.factor"],
            broker["share.coordinator.state.topic.replication.factor"]) == ("3", "3", "3")
    assert (broker["min.insync.replicas"], broker["transaction.state.log.min.isr"],
            broker["share.coordinator.state.topic.min.isr"]) == ("2", "2", "2")


async def test_a_topic_the_cluster_cannot_hold_is_refused_naming_the_reason(kafka_cluster: KafkaCluster) -> None:
    with pytest.raises(RuntimeError, match="InvalidReplicationFactor"):
        await ensure_topics(kafka_cluster.bootstrap, unique_name("test.toomany"), 1, timeout_s=1, replication_factor=4)


@pytest.mark.slow
async def test_a_killed_leader_is_replaced_and_catches_up_when_started_again(kafka_cluster: KafkaCluster) -> None:
    topic = await replicated_topic(kafka_cluster, "failover")
    leader = (await fully_replicated(kafka_cluster, topic)).leader
    producer = AIOKafkaProducer(bootstrap_servers=kafka_cluster.bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = [f"before-{i}".encode() for i in range(10)]
        for value in sent:
            await producer.send_and_wait(topic, value, partition=0)
        assert await asyncio.to_thread(kafka_cluster.kill_broker, leader) == -signal.SIGKILL

        async def new_leader() -> PartitionState | None:
            s = await kafka_cluster.partition(topic, 0)
            return s if s.leader not in (-1, leader) and leader not in s.isr else None

        await poll(new_leader, deadline_s=60, interval_s=0.2)
        # Two replicas of three are in sync: min.insync.replicas=2 still accepts acks=all writes.
        during = [f"during-{i}".encode() for i in range(10)]
        for value in during:
            await producer.send_and_wait(topic, value, partition=0)
        await asyncio.to_thread(kafka_cluster.start_broker, leader)
        assert kafka_cluster.broker(leader).running
        await fully_replicated(kafka_cluster, topic)
    finally:
        await producer.stop()
    records = await read_topic(kafka_cluster.bootstrap, topic, 20)
    assert [r.value for r in records] == sent + during, "every write once, in order, across the failover"


@pytest.mark.slow
async def test_a_cleanly_stopped_node_leaves_the_isr_and_returns_to_it(kafka_cluster: KafkaCluster) -> None:
    topic = await replicated_topic(kafka_cluster, "stop")
    state = await fully_replicated(kafka_cluster, topic)
    follower = next(r for r in state.replicas if r != state.leader)
    # SIGTERM runs the JVM's shutdown hooks (controlled shutdown); 143 is how a JVM reports it.
    assert await asyncio.to_thread(kafka_cluster.stop_broker, follower) == 128 + signal.SIGTERM
    assert "shut down completed" in kafka_cluster.broker(follower).log_tail(20_000)

    async def shrunk() -> bool:
        s = await kafka_cluster.partition(topic, 0)
        return s.leader == state.leader and follower not in s.isr

    await poll(shrunk, deadline_s=30, interval_s=0.2)
    await asyncio.to_thread(kafka_cluster.start_broker, follower)
    assert follower in (await fully_replicated(kafka_cluster, topic)).isr


# --- the pipeline on it ----------------------------------------------------------------------------


async def tool(http: aiohttp.ClientSession, url: str, key: str, name: str, arguments: dict[str, Any]) -> Any:
    reply = await post(http, url, rpc("tools/call", {"name": name, "arguments": arguments}), key=key)
    result = reply.result
    assert not result.get("isError"), result
    return json.loads(result["content"][0]["text"])


async def test_tracked_event_goes_through_real_kafka_to_postgres_and_back(kafka_stack: Stack,
                                                                          http: aiohttp.ClientSession) -> None:
    assert kafka_stack.env["GATEWAY_KAFKA_IDEMPOTENCE"] == kafka_stack.env["INGEST_KAFKA_IDEMPOTENCE"] == "true"
    project = (await create_account(kafka_stack.dsn, "pro")).projects[0]
    tracked = await tool(http, kafka_stack.mcp_url, project.sk, "track_event", {
        "event": "agent_task_completed", "anonymous_id": "agent_001", "user_id": "user_42",
        "properties": {"task": "refactor_billing", "duration_ms": 12400, "utm_source": "fb", "utm_medium": "cpc"}})
    assert tracked["status"] == "accepted"

    async def found() -> list[dict[str, Any]]:
        rows = await tool(http, kafka_stack.mcp_url, project.rk, "query_events", {"event": "agent_task_completed"})
        return [r for r in rows if r["event_id"] == tracked["event_id"]]

    (row,) = await poll(found, deadline_s=60, interval_s=0.2)
    assert (row["anonymous_id"], row["user_id"], row["properties"]["duration_ms"]) == ("agent_001", "user_42", 12400)
    assert (row["source"], row["medium"]) == ("facebook", "paid")


@pytest.mark.slow
async def test_a_node_killed_under_load_loses_and_duplicates_no_event(kafka_stack: Stack, kafka_cluster: KafkaCluster) -> None:
    project = (await create_account(kafka_stack.dsn, "pro")).projects[0]
    ledger = Ledger()
    load = asyncio.create_task(track_many(kafka_stack.mcp_url, project.sk, 600, ledger=ledger, concurrency=8))
    await wait_until(lambda: len(ledger.acked) >= 100, deadline_s=60, what="first events accepted")
    # The node that leads partition 0 of the events topic: the gateway is writing to it right now.
    topic = kafka_stack.env["GATEWAY_EVENTS_TOPIC"]
    victim = (await kafka_cluster.partition(topic, 0)).leader
    await asyncio.to_thread(kafka_cluster.kill_broker, victim)
    assert not load.done(), "the kill must land while events are still being sent"
    await wait_until(lambda: len(ledger.acked) >= 300, deadline_s=90, what="events accepted with a node down")
    await asyncio.to_thread(kafka_cluster.start_broker, victim)
    await load
    await assert_ledger(kafka_stack.dsn, project.project_id, ledger, deadline_s=120)
    for p in range(4):
        await fully_replicated(kafka_cluster, topic, p)


def quiet_port_pair() -> int:
    """A free port whose successor is free too, below the kernel's ephemeral range: dev puts the
    query service on gateway port + 1, and the Kafka node's own connections would soon take a port
    just above one that was free a moment ago."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    for candidate in random.sample(range(20_000, low - 1), 100):
        if free_port(candidate) == candidate and free_port(candidate + 1) == candidate + 1:
            return candidate
    raise AssertionError(f"no two free ports in a row below {low}")


@pytest.mark.real_kafka
@pytest.mark.slow
async def test_dev_with_broker_kafka_runs_the_stack_on_apache_kafka_and_stops_it(tmp_path: Path,
                                                                                 http: aiohttp.ClientSession) -> None:
    tmp_path.chmod(0o755)  # the embedded PostgreSQL server runs as another user under root
    data_dir = tmp_path / "data"
    port = quiet_port_pair()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLIMETRIC_") or k == "MILLIMETRIC_KAFKA_CACHE"}
    proc = subprocess.Popen([sys.executable, "-m", "millimetric", "dev", "--data-dir", str(data_dir), "--port", str(port),
                             "--broker", "kafka", "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        await wait_until(lambda: (data_dir / "dev.json").exists(), deadline_s=120, what="dev.json written")
        info = json.loads((data_dir / "dev.json").read_text())
        project = info["accounts"][0]["projects"][0]
        (node,) = [c for c in psutil.Process(proc.pid).children() if "kafka.Kafka" in c.cmdline()]
        saved = json.loads((data_dir / "kafka" / "cluster.json").read_text())
        assert info["kafka_bootstrap"] == f"127.0.0.1:{saved['brokers'][0]['port']}"
        assert (data_dir / "kafka" / "broker-1" / "data" / "meta.properties").exists(), "the broker's data is in kafka/"
        event_id = (await tool(http, info["mcp_url"], project["sk"], "track_event", {"event": "on_kafka", "anonymous_id": "d"}))["event_id"]

        async def found() -> bool:
            rows = await tool(http, info["mcp_url"], project["rk"], "query_events", {"event": "on_kafka"})
            return any(r["event_id"] == event_id for r in rows)

        await poll(found, deadline_s=60, interval_s=0.2)
        proc.send_signal(signal.SIGINT)
        out, _ = await asyncio.to_thread(proc.communicate, timeout=90)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    assert not psutil.pid_exists(node.pid) or node.status() == psutil.STATUS_ZOMBIE, "the Kafka node outlived dev"


# --- SASL_SSL and SSL, at the client level ---------------------------------------------------------


def first_address(bootstrap: str) -> tuple[str, int]:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    return host, int(port)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_ssl_with_the_right_password_writes(kafka_cluster: KafkaCluster, mechanism: str) -> None:
    assert kafka_cluster.tls is not None
    topic = await replicated_topic(kafka_cluster, "sasl")
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_cluster.sasl_ssl_bootstrap, security_protocol="SASL_SSL",
        ssl_context=client_tls(kafka_cluster.tls.ca_file), sasl_mechanism=mechanism,
        sasl_plain_username=SASL_USER, sasl_plain_password=sasl_password(kafka_cluster),
        acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, mechanism.encode(), partition=0)
    finally:
        await producer.stop()
    assert [r.value for r in await read_topic(kafka_cluster.bootstrap, topic, 1)] == [mechanism.encode()]


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_sasl_ssl_with_a_wrong_password_fails_authentication(kafka_cluster: KafkaCluster, mechanism: str) -> None:
    assert kafka_cluster.tls is not None
    host, port = first_address(kafka_cluster.sasl_ssl_bootstrap)
    with pytest.raises(SaslAuthenticationFailed):
        await create_conn(host, port, security_protocol="SASL_SSL", ssl_context=client_tls(kafka_cluster.tls.ca_file),
                          sasl_mechanism=mechanism, sasl_plain_username=SASL_USER,
                          sasl_plain_password=sasl_password(kafka_cluster) + "x")


async def test_a_client_trusting_another_ca_fails_the_tls_handshake(kafka_cluster: KafkaCluster) -> None:
    assert kafka_cluster.tls is not None
    host, port = first_address(kafka_cluster.sasl_ssl_bootstrap)
    with pytest.raises(ssl.SSLCertVerificationError):
        await create_conn(host, port, security_protocol="SASL_SSL", ssl_context=client_tls(kafka_cluster.tls.foreign_ca_file),
                          sasl_mechanism="PLAIN", sasl_plain_username=SASL_USER, sasl_plain_password=sasl_password(kafka_cluster))


async def test_the_ssl_listener_takes_a_client_certificate_from_its_ca_only(kafka_cluster: KafkaCluster) -> None:
    tls = kafka_cluster.tls
    assert tls is not None
    host, port = first_address(kafka_cluster.ssl_bootstrap)
    accepted = await create_conn(host, port, security_protocol="SSL",
                                 ssl_context=client_tls(tls.ca_file, tls.client_cert_file, tls.client_key_file))
    try:
        admin = AIOKafkaAdminClient(bootstrap_servers=kafka_cluster.ssl_bootstrap, security_protocol="SSL",
                                    ssl_context=client_tls(tls.ca_file, tls.client_cert_file, tls.client_key_file))
        await admin.start()
        try:
            assert len((await admin.describe_cluster())["brokers"]) == 3
        finally:
            await admin.close()
    finally:
        accepted.close()
    # TLS 1.3: the broker checks the client's certificate after the handshake and closes the connection.
    for cert, key in ((tls.foreign_client_cert_file, tls.foreign_client_key_file), (None, None)):
        with pytest.raises(KafkaConnectionError):
            conn = await create_conn(host, port, security_protocol="SSL", ssl_context=client_tls(tls.ca_file, cert, key))
            conn.close()

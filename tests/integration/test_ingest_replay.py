"""Replay: the topic is the source of truth and PostgreSQL a projection of it. `millimetric ingest
--replay` rebuilds the projection from the beginning of the topic into a fresh database (migrated,
accounts and projects restored), and the rebuilt events table equals the original."""

from __future__ import annotations

import asyncio
import json
import subprocess
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from millimetric.embedded import Broker
from millimetric.migrate import migrate

from tests.support.accounts import create_account
from tests.support.faults import new_topic, private_stack, read_topic, start_command
from tests.support.load import Ledger, assert_ledger, track_many
from tests.support.stack import wait_ready

pytestmark = pytest.mark.slow


def with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + name))


async def fresh_database(dsn: str) -> str:
    """A new, migrated database on the same server, holding a copy of the control plane (accounts and
    projects are not events: they are restored, not replayed)."""
    name = f"replay_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
        accounts = await conn.fetch("SELECT * FROM accounts")
        projects = await conn.fetch("SELECT * FROM projects")
    finally:
        await conn.close()
    target = with_database(dsn, name)
    await migrate(target)
    conn = await asyncpg.connect(target)
    try:
        await conn.copy_records_to_table("accounts", records=[tuple(r) for r in accounts], columns=list(accounts[0].keys()))
        await conn.copy_records_to_table("projects", records=[tuple(r) for r in projects], columns=list(projects[0].keys()))
    finally:
        await conn.close()
    return target


async def events_of(dsn: str, project_id: uuid.UUID) -> list[dict[str, object]]:
    return await rows_of(dsn, "events", project_id)


async def rows_of(dsn: str, table: str, project_id: uuid.UUID) -> list[dict[str, object]]:
    """Every row of the project in `table`, in a total order of all its columns."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(f"SELECT * FROM {table} t WHERE project_id = $1 ORDER BY t::text", project_id)
    finally:
        await conn.close()
    return [dict(r) for r in rows]


async def test_replay_rebuilds_the_events_table_equal_to_the_original_in_a_fresh_database(
        pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "replay")
    project = (await create_account(pg_dsn, "pro")).projects[0]
    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic) as stack:
        gateway = stack.start("gateway")
        await asyncio.to_thread(wait_ready, stack.gateway_url + "/readyz", 30, gateway)
        stack.start("ingest")
        ledger = await track_many(stack.mcp_url, project.sk, 800, ledger=Ledger())
        # Poison on the topic too: a replay dead-letters it again and stores the rest.
        producer = AIOKafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        await producer.start()
        try:
            for n in range(3):
                await producer.send_and_wait(topic, b"garbage %d" % n)
        finally:
            await producer.stop()
        await assert_ledger(pg_dsn, project.project_id, ledger)
        await read_topic(broker.bootstrap, topic + ".dlq", 3)
        original = await events_of(pg_dsn, project.project_id)
        assert len(original) == 800
        # Session-derived attribution is part of what must be rebuilt identically: internal-navigation
        # events that took their session's campaign.
        assert any("referrer" in json.loads(str(e["properties"])) and e["source"] == "newsletter" for e in original)

        target = await fresh_database(pg_dsn)
        replay = start_command(stack, "replay", ["ingest", "--replay"], {"INGEST_PG_DSN": target})
        code = await asyncio.to_thread(_wait_exit, replay.process, 120)
        log = replay.log_path.read_text()
        assert code == 0, log[-3000:]
        assert "replay caught up" in log and "-replay-" in log  # the new group it used, to continue from

    rebuilt = await events_of(target, project.project_id)
    assert len(rebuilt) == len(original)
    assert rebuilt == original
    for rollup in ("event_counts_hourly", "visitor_hours"):
        rows = await rows_of(pg_dsn, rollup, project.project_id)
        assert rows and await rows_of(target, rollup, project.project_id) == rows, rollup
    conn = await asyncpg.connect(target)
    try:
        assert await conn.fetchval("SELECT count(*) FROM events") == len(original)  # only what the topic holds
    finally:
        await conn.close()


async def test_replay_refuses_a_database_without_projects(pg_dsn: str, broker: Broker, tmp_path: Path) -> None:
    topic = await new_topic(broker.bootstrap, "replay-empty")
    name = f"replay_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()
    target = with_database(pg_dsn, name)
    await migrate(target)
    with private_stack(pg_dsn, broker.bootstrap, tmp_path, topic) as stack:
        replay = start_command(stack, "replay", ["ingest", "--replay"], {"INGEST_PG_DSN": target})
        code = await asyncio.to_thread(_wait_exit, replay.process, 60)
        assert code == 2
        assert "restore accounts and projects" in replay.log_path.read_text()


def _wait_exit(process: subprocess.Popen[bytes], timeout_s: float) -> int:
    try:
        return process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"process did not exit within {timeout_s}s") from None


"""The gateway against a broker that is missing, then present, then stopped, then back (a new Tansu
on the same port, with memory storage: the topics are created again). No success is ever answered
without the broker's acknowledgement, failures are retryable errors that come back within the
produce bound, reads keep working, and the gateway recovers without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path
from typing import Any

import pytest
from millimetric.embedded import Broker, ensure_topics, free_port

from tests.support.accounts import create_account
from tests.support.faults import private_stack, unique_name
from tests.support.load import call_tool, http_status, stored_event_ids, wait_until
from tests.support.stack import wait_ready

pytestmark = pytest.mark.slow

PRODUCE_TIMEOUT_S = 2


def _retryable_error(answer: dict[str, Any]) -> bool:
    error = answer.get("error")
    return bool(error) and error["code"] == -32000 and error["data"]["retryable"] is True


def _accepted(answer: dict[str, Any], event_id: str) -> bool:
    result = answer.get("result")
    return bool(result) and not result.get("isError") and f'"event_id":"{event_id}"' in result["content"][0]["text"]


async def test_broker_outage_gives_retryable_errors_keeps_reads_and_recovers_without_a_gateway_restart(
        pg_dsn: str, tmp_path: Path) -> None:
    port = free_port()
    topic = unique_name("test.brokerdown")
    project = (await create_account(pg_dsn, "pro")).projects[0]
    brokers: list[Broker] = []

    async def start_broker() -> None:
        broker = Broker(port, tmp_path / f"tansu-{len(brokers)}.log")
        brokers.append(broker)
        await asyncio.to_thread(broker.start)
        await ensure_topics(broker.bootstrap, topic, 2)

    try:
        with private_stack(pg_dsn, f"127.0.0.1:{port}", tmp_path, topic,
                           GATEWAY_PRODUCE_TIMEOUT_S=str(PRODUCE_TIMEOUT_S)) as stack:
            query = stack.start("query")
            await asyncio.to_thread(wait_ready, stack.query_url + "/readyz", 30, query)
            stack.start("gateway")
            mcp, sk = stack.mcp_url, project.sk
            track = {"event": "outage", "anonymous_id": "v1"}

            # 1. No broker yet: the gateway starts anyway, is alive but not ready, refuses to track.
            await wait_until(lambda: _status_is(stack.gateway_url + "/healthz", 200), deadline_s=30, what="gateway alive")
            assert await http_status(stack.gateway_url + "/readyz") == 503
            assert _retryable_error(await call_tool(mcp, sk, "track_event", {**track, "event_id": str(uuid.uuid4())}))

            # 2. The broker arrives: ready by itself, tracking works.
            await start_broker()
            await wait_until(lambda: _status_is(stack.gateway_url + "/readyz", 200), deadline_s=60, what="gateway ready")
            first = str(uuid.uuid4())
            assert _accepted(await call_tool(mcp, sk, "track_event", {**track, "event_id": first}), first)

            # 3. The broker stops: a retryable error comes back (the client timeout is far above the
            #    produce bound, so a hang would fail this), reads still answer, readiness drops.
            await asyncio.to_thread(brokers[-1].stop)
            during = str(uuid.uuid4())
            answer = await call_tool(mcp, sk, "track_event", {**track, "event_id": during}, timeout_s=PRODUCE_TIMEOUT_S + 20)
            assert _retryable_error(answer), answer
            again = await call_tool(mcp, sk, "track_event", {**track, "event_id": during}, timeout_s=PRODUCE_TIMEOUT_S + 20)
            assert _retryable_error(again), again
            read = await call_tool(mcp, project.rk, "query_events", {"limit": 5}, timeout_s=30)
            assert "result" in read and not read["result"].get("isError"), read
            await wait_until(lambda: _status_is(stack.gateway_url + "/readyz", 503), deadline_s=30, what="gateway not ready")

            # 4. A new broker on the same port (topics created again): the same gateway process
            #    becomes ready and accepts events again; the client's retry with the same event_id succeeds.
            await start_broker()
            await wait_until(lambda: _status_is(stack.gateway_url + "/readyz", 200), deadline_s=60, what="gateway ready again")
            await wait_until(lambda: _track_accepted(mcp, sk, {**track, "event_id": during}), deadline_s=60,
                             what="tracking works again")
            assert len([s for s in stack.services if s.name == "gateway"]) == 1

            # 5. And the pipeline behind it: an ingest worker stores what the new broker acknowledged.
            stack.start("ingest")
            await wait_until(lambda: _stored(pg_dsn, project.project_id, during), deadline_s=60, what="event stored")
    finally:
        for broker in brokers:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(broker.stop)


async def _status_is(url: str, status: int) -> bool:
    return await http_status(url) == status


async def _track_accepted(mcp: str, key: str, arguments: dict[str, Any]) -> bool:
    return _accepted(await call_tool(mcp, key, "track_event", arguments, timeout_s=PRODUCE_TIMEOUT_S + 20), arguments["event_id"])


async def _stored(dsn: str, project_id: uuid.UUID, event_id: str) -> bool:
    return event_id in await stored_event_ids(dsn, project_id)

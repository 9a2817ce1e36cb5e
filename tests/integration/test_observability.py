"""Health, readiness, Prometheus metrics and logs of the gateway and the query service, over real HTTP.

A private query service and gateway run here as containers run them (JSON log lines), with every
read logged (QUERY_SLOW_READ_MS=0), so the tests can follow one request id from the gateway's
answer into the query service's log, and check that no key or payload ever reaches a log.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp
import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from millimetric.embedded import free_port
from millimetric_gateway.app import create_app as create_gateway
from millimetric_gateway.settings import Settings as GatewaySettings
from millimetric_query.app import create_app as create_query
from millimetric_query.settings import Settings as QuerySettings
from millimetric_runtime.metrics import GATEWAY_METRICS, QUERY_METRICS
from prometheus_client.parser import text_string_to_metric_families

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Service, Stack, wait_ready
from tests.support.tracking import call, send, wait_stored


@dataclass
class Pair:
    query: Service
    gateway: Service
    query_url: str
    gateway_url: str

    def log_lines(self, service: Service) -> list[dict[str, object]]:
        return [json.loads(line) for line in service.log_path.read_text(errors="replace").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def pair(stack: Stack) -> Iterator[Pair]:
    query_port, gateway_port = free_port(), free_port()
    query = stack.start("query-obs", {"QUERY_PORT": str(query_port), "QUERY_LOG_JSON": "true", "QUERY_SLOW_READ_MS": "0"})
    gateway = None
    try:
        wait_ready(f"http://127.0.0.1:{query_port}/readyz", process=query)
        gateway = stack.start("gateway-obs", {
            "GATEWAY_PORT": str(gateway_port), "GATEWAY_LOG_JSON": "true", "GATEWAY_KEY_CACHE_TTL_S": "60",
            "GATEWAY_QUERY_URL": f"http://127.0.0.1:{query_port}",
        })
        wait_ready(f"http://127.0.0.1:{gateway_port}/readyz", process=gateway)
        yield Pair(query, gateway, f"http://127.0.0.1:{query_port}", f"http://127.0.0.1:{gateway_port}")
    finally:
        for service in (gateway, query):
            if service is not None:
                stack.stop(service)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "pro")


async def get_json(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, object]]:
    async with http.get(url) as resp:
        return resp.status, await resp.json()


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: aiohttp.ClientSession, base_url: str) -> Samples:
    async with http.get(base_url + "/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        text = await resp.text()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_health_and_readiness(pair: Pair, http: aiohttp.ClientSession) -> None:
    for base in (pair.gateway_url, pair.query_url):
        assert await get_json(http, base + "/healthz") == (200, {"status": "ok"})
    status, gateway = await get_json(http, pair.gateway_url + "/readyz")
    assert (status, gateway) == (200, {"ready": True, "broker": True, "database": True, "shutting_down": False})
    status, query = await get_json(http, pair.query_url + "/readyz")
    assert (status, query) == (200, {"ready": True, "database": True, "shutting_down": False})


async def test_every_declared_metric_is_exposed_and_nothing_undeclared(pair: Pair, account: AccountFixture,
                                                                       http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    await post(http, pair.gateway_url + "/mcp", rpc("tools/call", {"name": "query_events", "arguments": {}}), key=project.rk)
    await send(http, pair.gateway_url + "/v1/batch", {"batch": [call()]}, key=project.sk)
    for base, declared, prefix in ((pair.gateway_url, GATEWAY_METRICS, "millimetric_gateway_"),
                                   (pair.query_url, QUERY_METRICS, "millimetric_query_")):
        exposed = {name for name, _ in await scrape(http, base) if name.startswith("millimetric_")}
        for name in declared:
            assert any(e == name or e.startswith(name + "_") for e in exposed), (name, sorted(exposed))
        suffixes = ("_bucket", "_sum", "_count", "_created")
        bases = {next((e[: -len(s)] for s in suffixes if e.endswith(s)), e) for e in exposed}
        assert bases - set(declared) <= {n.removesuffix("_total") for n in declared}, bases - set(declared)
        assert all(e.startswith(prefix) for e in exposed)


async def test_request_tool_event_and_key_cache_metrics_count_what_happened(
        pair: Pair, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    project = account.projects[0]
    before = await scrape(http, pair.gateway_url)
    query_before = await scrape(http, pair.query_url)
    key = project.rk
    for _ in range(3):
        reply = await post(http, pair.gateway_url + "/mcp", rpc("tools/call", {"name": "get_stats", "arguments": {}}), key=key)
        assert reply.status == 200
    bad = await post(http, pair.gateway_url + "/mcp", rpc("tools/call", {"name": "get_stats", "arguments": {"metric": "nope"}}),
                     key=key)
    assert bad.result["isError"] is True
    tracked = await send(http, pair.gateway_url + "/v1/track", call(), key=project.pk)
    batch = await send(http, pair.gateway_url + "/v1/batch", {"batch": [call(), call()]}, key=project.pk)
    mcp_track = await post(http, pair.gateway_url + "/mcp",
                           rpc("tools/call", {"name": "track_event", "arguments": {"event": "m", "anonymous_id": "a"}}),
                           key=project.sk)
    assert tracked.status == batch.status == mcp_track.status == 200
    refused = await post(http, pair.gateway_url + "/mcp", rpc("ping"), key=f"rk_live_{secrets.token_urlsafe(24)}")
    assert refused.status == 401
    after = await scrape(http, pair.gateway_url)
    query_after = await scrape(http, pair.query_url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    rpc_ok = {"endpoint": "project", "method": "tools/call", "tool": "get_stats"}
    assert delta("millimetric_gateway_rpc_requests_total", **rpc_ok, outcome="ok") == 3
    assert delta("millimetric_gateway_rpc_requests_total", **rpc_ok, outcome="invalid_arguments") == 1
    assert delta("millimetric_gateway_rpc_duration_seconds_count", **rpc_ok) == 4
    assert delta("millimetric_gateway_rpc_requests_total", endpoint="project", method="tools/call", tool="track_event",
                 outcome="ok") == 1
    assert delta("millimetric_gateway_events_produced_total", via="track") == 1
    assert delta("millimetric_gateway_events_produced_total", via="batch") == 2
    assert delta("millimetric_gateway_events_produced_total", via="mcp") == 1
    assert delta("millimetric_gateway_batch_events_count") == 1 and delta("millimetric_gateway_batch_events_sum") == 2
    assert delta("millimetric_gateway_http_requests_total", route="/mcp", method="POST", status="200") == 5
    assert delta("millimetric_gateway_http_requests_total", route="/mcp", method="POST", status="401") == 1
    assert delta("millimetric_gateway_http_requests_total", route="/v1/track", method="POST", status="200") == 1
    assert delta("millimetric_gateway_http_request_duration_seconds_count", route="/v1/batch", method="POST") == 1
    assert delta("millimetric_gateway_key_cache_lookups_total", result="hit") >= 3  # the same rk_ key, well within the TTL
    assert delta("millimetric_gateway_key_cache_lookups_total", result="miss") >= 1  # at least the unknown key
    assert value(after, "millimetric_gateway_ready") == 1

    def query_delta(name: str, **labels: str) -> float:
        return value(query_after, name, **labels) - value(query_before, name, **labels)

    assert query_delta("millimetric_query_reads_total", read="get_stats", outcome="ok") == 3
    assert query_delta("millimetric_query_read_duration_seconds_count", read="get_stats") == 3
    assert query_delta("millimetric_query_http_requests_total", route="/v1/read", method="POST", status="200") == 3
    assert value(query_after, "millimetric_query_ready") == 1
    assert value(query_after, "millimetric_query_db_pool_connections", state="idle") >= 1


async def test_the_gateways_request_id_is_on_the_query_services_log_lines(
        pair: Pair, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    reply = await post(http, pair.gateway_url + "/mcp", rpc("tools/call", {"name": "query_events", "arguments": {"limit": 1}}),
                       key=account.projects[0].rk)
    assert reply.status == 200
    request_id = reply.headers["X-Request-Id"]

    def lines_for_request() -> list[dict[str, object]]:
        return [line for line in pair.log_lines(pair.query) if line.get("request_id") == request_id]

    async def logged() -> list[dict[str, object]]:
        return lines_for_request()

    [line] = await poll(logged, deadline_s=10)
    assert line["service"] == "query" and line["level"] == "info"
    assert str(line["msg"]).startswith("read query_events took")
    for line in pair.log_lines(pair.query) + pair.log_lines(pair.gateway):  # every line is a JSON object with the basics
        assert {"ts", "level", "service", "logger", "msg"} <= set(line)


async def test_refusals_carry_the_request_id_header(pair: Pair, http: aiohttp.ClientSession) -> None:
    for url in ("/mcp", "/v1/track", "/v1/batch", "/healthz", "/metrics", "/js/millimetric.js"):
        async with http.post(pair.gateway_url + url, data=b"{}") as resp:
            assert len(resp.headers["X-Request-Id"]) == 16, url


async def test_no_key_or_payload_ever_reaches_a_log(pair: Pair, account: AccountFixture, http: aiohttp.ClientSession,
                                                    stack: Stack) -> None:
    project = account.projects[0]
    marker = f"payload-{uuid.uuid4().hex}"
    gateway = pair.gateway_url
    body = call("logged?", properties={"secret": marker}, writeKey=project.pk)
    answers = [
        await send(http, gateway + "/v1/track", body),
        await send(http, gateway + "/v1/track", call(properties={"secret": marker}), params={"key": project.pk}),
        await send(http, gateway + "/v1/track", call(properties={"secret": marker}), key=project.sk),
        await send(http, gateway + "/v1/track", call(properties={"secret": marker + "\u0000"}), key=project.sk),
        await send(http, gateway + "/v1/track", call(properties={"secret": marker}), key=project.rk),
        await send(http, gateway + "/v1/track", call(properties={"secret": marker}), key="pk_live_" + secrets.token_urlsafe(24)),
        await send(http, gateway + "/v1/batch", {"batch": [call(properties={"secret": marker})], "writeKey": project.pk}),
    ]
    assert [a.status for a in answers] == [200, 200, 200, 400, 403, 401, 200]
    for key in (project.sk, project.rk, project.pk, account.ak):
        await post(http, gateway + "/mcp", rpc("tools/call", {"name": "query_events", "arguments": {"event": marker}}), key=key)
    await post(http, gateway + "/mcp", rpc("tools/call", {"name": "track_event",
                                                          "arguments": {"event": marker, "anonymous_id": marker}}), key=project.sk)
    await wait_stored(stack.dsn, project.project_id, answers[0].json["event_ids"])
    # The query service goes away: the gateway logs the failure (with the request id), still without keys.
    stack.stop(pair.query)
    failed = await post(http, gateway + "/mcp", rpc("tools/call", {"name": "query_events", "arguments": {"event": marker}}),
                        key=project.rk)
    assert failed.error["data"]["request_id"] == failed.headers["X-Request-Id"]

    async def gateway_logged_it() -> bool:
        return any(line.get("request_id") == failed.headers["X-Request-Id"] for line in pair.log_lines(pair.gateway))

    await poll(gateway_logged_it, deadline_s=10)
    for service in (pair.gateway, pair.query):
        log = service.log_path.read_text(errors="replace")
        assert log.strip(), service.name
        assert "_live_" not in log, service.name
        assert marker not in log, service.name


async def test_readiness_turns_false_first_on_shutdown(stack: Stack, http: aiohttp.ClientSession) -> None:
    gateway_app = create_gateway(GatewaySettings.from_env(stack.env))
    query_app = create_query(QuerySettings.from_env(stack.env))
    for app in (gateway_app, query_app):
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            async def ready() -> bool:
                async with client.get("/readyz") as resp:
                    return resp.status == 200

            await poll(ready, deadline_s=30)
            await app.on_shutdown.send(app)  # what aiohttp runs first on SIGTERM, before any cleanup closes a dependency
            async with client.get("/readyz") as resp:
                assert resp.status == 503
                assert (await resp.json())["shutting_down"] is True
            async with client.get("/healthz") as resp:
                assert resp.status == 200  # still alive while it drains

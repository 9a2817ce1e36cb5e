"""The ingest worker's /healthz, /readyz and /metrics, on a second worker of the real stack."""

from __future__ import annotations

import json
import urllib.request

from millimetric.embedded import free_port
from millimetric_runtime.metrics import INGEST_METRICS

from tests.integration.test_pipeline import poll
from tests.support.accounts import create_account
from tests.support.mcp_client import mcp_client, tool_data
from tests.support.stack import Stack, wait_ready


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not exposed")


async def test_worker_reports_health_readiness_and_counts_what_it_writes(stack: Stack) -> None:
    port = free_port()
    worker = stack.start("ingest-observed", {"INGEST_HTTP_PORT": str(port), "INGEST_HTTP_HOST": "127.0.0.1"})
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base + "/readyz", timeout_s=60, process=worker)
        assert _get(base + "/healthz")[0] == 200
        status, body = _get(base + "/readyz")
        assert status == 200 and json.loads(body) == {"ready": True, "paused": False, "shutting_down": False}
        status, text = _get(base + "/metrics")
        assert status == 200
        for name in INGEST_METRICS:
            assert f"# TYPE {name} " in text, name

        project = (await create_account(stack.dsn, "pro")).projects[0]
        async with mcp_client(stack.mcp_url, project.sk) as client:
            for i in range(40):  # spread over visitors, so partitions of both workers get some
                tool_data(await client.call_tool("track_event", {"event": "observed", "anonymous_id": f"v{i}"}))

        async def this_worker_wrote_some() -> bool:
            _, text = _get(base + "/metrics")
            return _metric(text, "millimetric_ingest_events_written_total") > 0
        await poll(this_worker_wrote_some, deadline_s=60)
    finally:
        assert stack.stop(worker) == 0

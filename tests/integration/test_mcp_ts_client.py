"""The official MCP TypeScript SDK client (pinned in tests/ts/package.json) against the stack: the
handshake path Claude Code, Claude Desktop and the MCP Inspector take. `npm install` fills
tests/ts/node_modules (git-ignored) once; the test is skipped only when node/npm are absent."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.accounts import create_account
from tests.support.stack import Stack

TS_DIR = Path(__file__).resolve().parent.parent / "ts"
PROJECT_CALLS: dict[str, dict[str, Any]] = {
    "track_event": {"event": "ts_probe", "anonymous_id": "ts-1", "properties": {"via": "typescript-sdk"}},
    "query_events": {"limit": 5},
    "get_stats": {"metric": "uniques", "interval": "day"},
    "top_sources": {"breakdown": "source_medium"},
    "funnel": {"steps": ["ts_probe", "checkout"]},
}
ACCOUNT_CALLS: dict[str, dict[str, Any]] = {
    "list_projects": {},
    "query_events": {"limit": 5},
    "get_stats": {"group_by": "project_id"},
    "top_sources": {},
    "funnel": {"steps": ["ts_probe", "checkout"]},
    "compare_projects": {"metric": "count"},
}
PROMPTS = {"weekly-traffic-summary", "traffic-drop-investigation", "campaign-audit"}


@pytest.fixture(scope="module")
def node_client() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("node/npm not installed: the TypeScript SDK client test needs Node.js 18+ and npm")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error"], cwd=TS_DIR, check=True, timeout=300,
                   capture_output=True)
    return TS_DIR / "check_client.mjs"


def run_client(script: Path, url: str, key: str, calls: dict[str, dict[str, Any]]) -> dict[str, Any]:
    done = subprocess.run(["node", str(script), url, key, json.dumps({"calls": calls})], cwd=TS_DIR, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def check_session(summary: dict[str, Any], tools: list[str], resources: list[str]) -> None:
    assert summary["connect"] == {"ok": True}
    assert summary["errors"] == []  # includes the GET the client opens after initialize (we answer 405)
    assert summary["protocolVersion"] == "2025-11-25"
    assert summary["server"]["name"] == "millimetric"
    assert set(summary["capabilities"]) == {"tools", "resources", "prompts"}
    assert [t["name"] for t in summary["tools"]] == tools
    assert all(t["inputSchema"]["type"] == "object" and t["outputSchema"]["type"] == "object" for t in summary["tools"])
    assert summary["unknownTool"]["ok"] is False and summary["unknownTool"]["error"]["code"] == -32602
    assert summary["resources"] == resources
    for uri in resources:
        (content,) = summary["reads"][uri]
        assert content["uri"] == uri and content["mimeType"] == "application/json"
        assert isinstance(json.loads(content["text"]), list)
    assert summary["unknownResource"]["ok"] is False and summary["unknownResource"]["error"]["code"] == -32602
    assert set(summary["prompts"]) == PROMPTS and all(p["ok"] for p in summary["prompts"].values())
    assert summary["ping"] == {"ok": True, "value": {}}


def check_calls(summary: dict[str, Any], calls: dict[str, dict[str, Any]]) -> None:
    for name in calls:
        called = summary["calls"][name]
        assert called["ok"] is True, called  # every tool answers; a JSON-RPC error would be raised by the TS client
        # the TS client has already checked structuredContent against the tool's outputSchema (AJV)
        assert called["isError"] is False, called
        data = json.loads(called["content"][0]["text"])
        structured = called["structuredContent"]
        assert data == (structured if name == "track_event" else structured["rows"])


async def test_typescript_client_on_the_project_endpoint_with_an_sk_key(stack: Stack, node_client: Path) -> None:
    account = await create_account(stack.dsn, "pro")
    summary = await asyncio.to_thread(run_client, node_client, stack.mcp_url, account.projects[0].sk, PROJECT_CALLS)
    check_session(summary, list(PROJECT_CALLS), ["events://recent", "schema://events"])
    check_calls(summary, PROJECT_CALLS)
    assert summary["calls"]["track_event"]["structuredContent"]["status"] == "accepted"


async def test_typescript_client_with_a_read_key_cannot_track(stack: Stack, node_client: Path) -> None:
    account = await create_account(stack.dsn, "pro")
    calls = {"track_event": PROJECT_CALLS["track_event"], "query_events": {"limit": 1}}
    summary = await asyncio.to_thread(run_client, node_client, stack.mcp_url, account.projects[0].rk, calls)
    check_session(summary, ["query_events", "get_stats", "top_sources", "funnel"], ["events://recent", "schema://events"])
    refused = summary["calls"]["track_event"]
    assert refused["ok"] is False
    assert refused["error"]["code"] == -32000
    assert refused["error"]["data"]["required"] == "ingest" and refused["error"]["data"]["got"] == "read"
    assert summary["calls"]["query_events"]["ok"] is True


async def test_typescript_client_on_the_account_endpoint(stack: Stack, node_client: Path) -> None:
    account = await create_account(stack.dsn, "business", projects=2)
    summary = await asyncio.to_thread(run_client, node_client, stack.mcp_account_url, account.ak, ACCOUNT_CALLS)
    check_session(summary, list(ACCOUNT_CALLS), ["projects://all", "events://recent", "schema://events"])
    check_calls(summary, ACCOUNT_CALLS)
    assert {row["slug"] for row in summary["calls"]["list_projects"]["structuredContent"]["rows"]} == {p.slug for p in account.projects}


async def test_typescript_client_sees_why_a_free_plan_is_refused(stack: Stack, node_client: Path) -> None:
    account = await create_account(stack.dsn, "free")
    summary = await asyncio.to_thread(run_client, node_client, stack.mcp_url, account.projects[0].rk, {})
    assert summary["connect"]["ok"] is False
    # the TS client does not parse a non-2xx body as JSON-RPC, but shows it: the refusal names itself
    assert '"plan_limit"' in summary["connect"]["error"]["message"]

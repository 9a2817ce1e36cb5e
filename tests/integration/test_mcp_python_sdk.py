"""The official MCP Python SDK client at its default (mode "auto": probes server/discover and stays
on 2026-07-28) and on the handshake path (mode "legacy": initialize at 2025-11-25), on both
endpoints: list tools, call every tool, read every resource, list and render every prompt."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from mcp.shared.exceptions import MCPError

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_client import mcp_client, tool_data
from tests.support.stack import Stack

MODES = {"auto": "2026-07-28", "legacy": "2025-11-25"}
PROJECT_CALLS: dict[str, dict[str, Any]] = {
    "track_event": {"event": "sdk_probe", "anonymous_id": "sdk-1", "properties": {"via": "python-sdk"}},
    "query_events": {"event": "sdk_probe", "limit": 5},
    "get_stats": {"metric": "uniques", "group_by": "source,medium", "interval": "day"},
    "top_sources": {"breakdown": "source_medium", "limit": 20},
    "funnel": {"steps": ["sdk_probe", "checkout"]},
}
ACCOUNT_CALLS: dict[str, dict[str, Any]] = {
    "list_projects": {},
    "query_events": {"limit": 5},
    "get_stats": {"metric": "count", "group_by": "project_id,source"},
    "top_sources": {"breakdown": "source"},
    "funnel": {"steps": ["sdk_probe", "checkout"]},
    "compare_projects": {"metric": "uniques"},
}
RESOURCES = {"project": ["events://recent", "schema://events"], "account": ["projects://all", "events://recent", "schema://events"]}


def endpoint_of(stack: Stack, account: AccountFixture, endpoint: str) -> tuple[str, str, dict[str, dict[str, Any]]]:
    if endpoint == "project":
        return stack.mcp_url, account.projects[0].sk, PROJECT_CALLS
    return stack.mcp_account_url, account.ak, ACCOUNT_CALLS


@pytest.mark.parametrize("endpoint", ["project", "account"])
@pytest.mark.parametrize("mode", list(MODES))
async def test_sdk_client_uses_every_tool_resource_and_prompt(stack: Stack, mode: str, endpoint: str) -> None:
    account = await create_account(stack.dsn, "business", projects=2)
    url, key, calls = endpoint_of(stack, account, endpoint)
    async with mcp_client(url, key, mode=mode) as client:
        assert client.protocol_version == MODES[mode]
        assert client.server_info is not None and client.server_info.name == "millimetric"
        capabilities = client.server_capabilities
        assert capabilities.tools is not None and capabilities.resources is not None and capabilities.prompts is not None
        assert capabilities.logging is None and capabilities.completions is None

        tools = {t.name: t for t in (await client.list_tools()).tools}
        assert list(tools) == list(calls)
        for name, arguments in calls.items():
            result = await client.call_tool(name, arguments)  # the SDK validates structuredContent against outputSchema
            assert result.is_error is False, (name, result.content)
            data = tool_data(result)
            assert result.structured_content is not None
            jsonschema.validate(result.structured_content, tools[name].output_schema)
            if name == "track_event":
                assert data == result.structured_content and data["status"] == "accepted"
            else:
                assert data == result.structured_content["rows"]

        invalid = await client.call_tool("query_events", {"limit": "many"})
        assert invalid.is_error is True
        assert "arguments.limit" in invalid.content[0].text  # type: ignore[union-attr]
        with pytest.raises(MCPError) as unknown:
            await client.call_tool("no_such_tool", {})
        assert (unknown.value.error.code, unknown.value.error.message) == (-32602, "unknown_tool")

        resources = [str(r.uri) for r in (await client.list_resources()).resources]
        assert resources == RESOURCES[endpoint]
        for uri in resources:
            (content,) = (await client.read_resource(uri)).contents
            assert str(content.uri) == uri and content.mime_type == "application/json"
            assert isinstance(json.loads(content.text), list)  # type: ignore[union-attr]
        with pytest.raises(MCPError) as missing:
            await client.read_resource("events://nope")
        assert (missing.value.error.code, missing.value.error.message) == (-32602, "unknown_resource")

        prompts = (await client.list_prompts()).prompts
        assert {p.name for p in prompts} == {"weekly-traffic-summary", "traffic-drop-investigation", "campaign-audit"}
        for prompt in prompts:
            arguments = {a.name: "2026-05-10" for a in prompt.arguments or [] if a.required}
            rendered = await client.get_prompt(prompt.name, arguments)
            assert rendered.messages and rendered.messages[0].role == "user"


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize(("plan", "kind", "code", "name"), [
    ("pro", "ak", -32002, "plan_limit"), ("business", "rk", -32001, "account_key_required"),
    ("business", "revoked", -32001, "invalid_key"),
])
async def test_sdk_client_reports_refusals_with_their_json_rpc_error(stack: Stack, mode: str, plan: str, kind: str,
                                                                      code: int, name: str) -> None:
    account = await create_account(stack.dsn, plan)
    key = {"ak": account.ak, "rk": account.projects[0].rk, "revoked": "ak_live_" + "x" * 32}[kind]
    with pytest.raises(BaseException) as refused:  # the SDK raises the refusal inside an exception group
        async with mcp_client(stack.mcp_account_url, key, mode=mode):
            pass
    error = _find_mcp_error(refused.value)
    assert error is not None, repr(refused.value)
    assert (error.error.code, error.error.message) == (code, name)


def _find_mcp_error(exc: BaseException) -> MCPError | None:
    if isinstance(exc, MCPError):
        return exc
    for inner in (*getattr(exc, "exceptions", ()), exc.__cause__, exc.__context__):
        if inner is not None and (found := _find_mcp_error(inner)) is not None:
            return found
    return None

"""Tools, resources and prompts over real HTTP: what tools/list describes (schemas, annotations,
descriptions), that every result conforms to its outputSchema, that invalid arguments come back as
`isError` results naming the field and what it expects, and every track_event limit on both sides
of its bound (names from `millimetric_protocol.limits`)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import aiohttp
import jsonschema
import pytest
import pytest_asyncio
from millimetric_protocol import limits

from tests.support.accounts import AccountFixture, create_account
from tests.support.mcp_http import check_response, modern, poll, post, rpc
from tests.support.stack import Stack

DIALECT = "https://json-schema.org/draft/2020-12/schema"
READS = ("query_events", "get_stats", "top_sources", "funnel", "list_projects", "compare_projects")
WINDOW = {"from": "2026-05-01T00:00:00Z", "to": "2026-05-17T00:00:00Z"}

# Every tool with arguments that are valid on its endpoint (the public doc's examples where it has one).
PROJECT_CALLS: dict[str, dict[str, Any]] = {
    "track_event": {"event": "agent_task_completed", "anonymous_id": "agent_001", "user_id": "user_42",
                    "properties": {"task": "refactor_billing", "duration_ms": 12400}},
    "query_events": {**WINDOW, "event": "signup", "source": "facebook", "limit": 50},
    "get_stats": {"metric": "uniques", **WINDOW, "group_by": "source,medium", "interval": "day"},
    "top_sources": {"from": "2026-05-01T00:00:00Z", "to": "2026-06-01T00:00:00Z", "breakdown": "source_medium", "limit": 20},
    "funnel": {"steps": ["signup", "checkout"], "window": "24h"},
}
ACCOUNT_CALLS: dict[str, dict[str, Any]] = {
    "list_projects": {},
    "query_events": {**WINDOW, "limit": 50},
    "get_stats": {"metric": "count", "from": "2026-05-10T00:00:00Z", "to": "2026-05-17T00:00:00Z", "group_by": "project_id,source"},
    "top_sources": {"breakdown": "source"},
    "funnel": {"steps": ["signup", {"event": "checkout"}]},
    "compare_projects": {"from": "2026-05-10T00:00:00Z", "to": "2026-05-17T00:00:00Z", "metric": "uniques"},
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def account(stack: Stack) -> AccountFixture:
    return await create_account(stack.dsn, "business", projects=2)


def target(stack: Stack, account: AccountFixture, endpoint: str) -> tuple[str, str]:
    return (stack.mcp_url, account.projects[0].sk) if endpoint == "project" else (stack.mcp_account_url, account.ak)


async def list_tools(http: aiohttp.ClientSession, url: str, key: str) -> dict[str, dict[str, Any]]:
    reply = await post(http, url, rpc("tools/list"), key=key)
    return {tool["name"]: tool for tool in reply.result["tools"]}


async def call(http: aiohttp.ClientSession, url: str, key: str, name: str, arguments: Any) -> dict[str, Any]:
    reply = await post(http, url, rpc("tools/call", {"name": name, "arguments": arguments}, id="c"), key=key)
    assert reply.status == 200, reply.body
    check_response(reply.json, "c")
    return reply.json  # type: ignore[no-any-return]


def invalid_text(message: dict[str, Any]) -> str:
    """The text of an invalid-arguments tool result (asserting that is what it is)."""
    result = message["result"]
    assert result["isError"] is True, result
    assert "structuredContent" not in result
    (block,) = result["content"]
    assert block["type"] == "text" and block["text"].startswith("invalid arguments: ")
    return block["text"]  # type: ignore[no-any-return]


# --- tools/list ---------------------------------------------------------------------------------

@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_tool_listing_is_complete_and_self_describing(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                            endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    tools = await list_tools(http, url, key)
    assert set(tools) == set(PROJECT_CALLS if endpoint == "project" else ACCOUNT_CALLS)
    for name, tool in tools.items():
        assert tool["title"] and tool["annotations"]["title"] == tool["title"]
        assert len(tool["description"]) >= 60, name
        for schema in (tool["inputSchema"], tool["outputSchema"]):
            assert schema["$schema"] == DIALECT
            assert schema["type"] == "object"
            jsonschema.Draft202012Validator.check_schema(schema)
        assert tool["inputSchema"]["additionalProperties"] is False  # unknown arguments are refused, so say so
        annotations = tool["annotations"]
        if name == "track_event":
            assert annotations["readOnlyHint"] is False
            assert annotations["idempotentHint"] is True  # with an event_id
            assert annotations["destructiveHint"] is False
            assert "event_id" in tool["description"]
        else:
            assert annotations["readOnlyHint"] is True
        assert annotations["openWorldHint"] is False


@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_input_schemas_accept_the_doc_examples_and_refuse_bad_enum_values(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    tools = await list_tools(http, url, key)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    for name, arguments in (PROJECT_CALLS if endpoint == "project" else ACCOUNT_CALLS).items():
        jsonschema.validate(arguments, tools[name]["inputSchema"], format_checker=checker)
    bad = {"get_stats": {"metric": "sessions"}, "top_sources": {"breakdown": "medium"}, "query_events": {"limit": 0}}
    for name, arguments in bad.items():
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(arguments, tools[name]["inputSchema"])
    if endpoint == "account":
        jsonschema.validate({"project_slug": account.projects[0].slug}, tools["query_events"]["inputSchema"])
    else:
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({"project_slug": "x"}, tools["query_events"]["inputSchema"])


# --- tools/call ---------------------------------------------------------------------------------

def strict(schema: Any) -> Any:
    """A copy of `schema` in which every object that does not say otherwise forbids unknown keys, so a
    key the schema does not name fails validation instead of hiding. Objects that declare
    `additionalProperties` (event properties: free-form) keep their declaration."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: strict(value) if key != "required" else value for key, value in schema.items()}
    if (schema.get("type") == "object" or "properties" in schema) and "additionalProperties" not in schema:
        copy["additionalProperties"] = False
    return copy


# Every variant of every tool: each metric, group_by (every column, property:<key>, project_id),
# interval, compare; funnel per order and group_by; both top_sources breakdowns; the account
# endpoint across projects (rows with project_id and slug) and for one project.
STRICT_CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "project": [
        ("track_event", {"event": "probe", "anonymous_id": "strict-probe"}),
        ("query_events", {}),
        ("query_events", {"limit": 1}),  # meta.next_cursor is a string
        ("query_events", {"source": "facebook", "properties": {"plan": "pro"}}),
        *[("get_stats", {"metric": metric}) for metric in ("count", "uniques", "users")],
        ("get_stats", {"metric": "uniques", "group_by": "source,medium", "interval": "day"}),
        ("get_stats", {"group_by": "event,campaign,channel"}),
        ("get_stats", {"metric": "users", "group_by": "property:plan"}),
        ("get_stats", {"interval": "hour", "compare": "previous_period"}),
        ("get_stats", {"metric": "uniques", "group_by": "source", "compare": "previous_period"}),
        ("top_sources", {"breakdown": "source"}),
        ("top_sources", {"breakdown": "source_medium", "limit": 1}),
        ("funnel", {"steps": ["signup", "checkout"]}),
        ("funnel", {"steps": ["signup", {"event": "checkout", "properties": {"plan": "pro"}}], "order": "strict"}),
        ("funnel", {"steps": ["checkout", "signup"], "order": "any", "group_by": "source"}),
        ("funnel", {"steps": ["signup", "checkout"], "group_by": "medium"}),
        ("funnel", {"steps": ["signup", "checkout"], "group_by": "channel", "window": "1h"}),
    ],
    "account": [
        ("list_projects", {}),
        ("query_events", {}),
        ("query_events", {"project_slug": "<slug>"}),
        ("get_stats", {"metric": "count", "group_by": "project_id,source"}),
        ("get_stats", {"metric": "users", "group_by": "project_id", "interval": "day", "compare": "previous_period"}),
        ("get_stats", {"metric": "uniques", "project_id": "<project_id>"}),
        ("get_stats", {"group_by": "event,medium,campaign"}),
        ("get_stats", {"metric": "uniques", "group_by": "channel,property:plan"}),
        ("top_sources", {"breakdown": "source_medium"}),
        ("top_sources", {"breakdown": "source", "project_ids": ["<project_id>"]}),
        *[("funnel", {"steps": ["signup", "checkout"], "group_by": column}) for column in ("source", "medium", "channel")],
        ("funnel", {"steps": ["signup", "checkout"], "project_slug": "<slug>"}),
        *[("compare_projects", {"metric": metric}) for metric in ("count", "uniques", "users")],
        ("compare_projects", {"metric": "uniques", "compare": "previous_period", "event": "signup"}),
    ],
}


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def seeded(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> AccountFixture:
    """Signups and checkouts with attribution and a property in both projects, queryable before tests use them."""
    for project in account.projects:
        for visitor, source in (("v1", "facebook"), ("v2", "google")):
            for event in ("signup", "checkout"):
                arguments = {"event": event, "anonymous_id": f"{visitor}-{project.slug}", "user_id": f"u-{visitor}",
                             "properties": {"plan": "pro", "utm_source": source, "utm_medium": "cpc"}}
                message = await call(http, stack.mcp_url, project.sk, "track_event", arguments)
                assert message["result"]["structuredContent"]["status"] == "accepted", message

    async def stored() -> bool:
        message = await call(http, stack.mcp_account_url, account.ak, "get_stats", {"event": "checkout"})
        return bool(message["result"]["structuredContent"]["rows"][0]["count"] >= 2 * len(account.projects))

    await poll(stored)
    return account


def _resolved(arguments: dict[str, Any], account: AccountFixture) -> dict[str, Any]:
    placeholders = {"<slug>": account.projects[0].slug, "<project_id>": str(account.projects[0].project_id)}
    text = json.dumps(arguments)
    for placeholder, value in placeholders.items():
        text = text.replace(placeholder, value)
    return json.loads(text)  # type: ignore[no-any-return]


@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_every_tool_result_conforms_to_its_output_schema(stack: Stack, seeded: AccountFixture, http: aiohttp.ClientSession,
                                                               endpoint: str) -> None:
    """Every tool answers every variant with a result (never an error), and its structuredContent
    holds exactly the keys its outputSchema names: no key the schema lacks, and every key the
    schema names turns up in some variant."""
    url, key = target(stack, seeded, endpoint)
    tools = await list_tools(http, url, key)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    seen: dict[str, tuple[set[str], set[str]]] = {name: (set(), set()) for name in tools}
    for name, arguments in STRICT_CALLS[endpoint]:
        message = await call(http, url, key, name, _resolved(arguments, seeded))
        assert "result" in message, (name, arguments, message)
        result = message["result"]
        assert result.get("isError", False) is False, (name, arguments, result)
        structured = result["structuredContent"]
        schema = tools[name]["outputSchema"]
        jsonschema.Draft202012Validator(strict(schema), format_checker=checker).validate(structured)
        data = json.loads(result["content"][0]["text"])  # the doc's shape: the JSON-stringified data first
        if name == "track_event":
            assert data == structured and len(result["content"]) == 1
            continue
        assert data == structured["rows"]
        assert json.loads(result["content"][1]["text"]) == {"meta": structured["meta"]}
        assert structured["rows"], (name, arguments)  # the seeded data answers every variant
        row_keys, meta_keys = seen[name]
        row_keys.update(k for row in structured["rows"] for k in row)
        meta_keys.update(structured["meta"])
    for name, (row_keys, meta_keys) in seen.items():
        if name == "track_event":
            continue
        declared = tools[name]["outputSchema"]["properties"]
        assert row_keys - {k for k in row_keys if k.startswith("property:")} == set(declared["rows"]["items"]["properties"]), name
        assert meta_keys == set(declared["meta"]["properties"]), name
    assert {name for name, _ in STRICT_CALLS[endpoint]} == set(tools)


async def test_structured_content_appears_from_2025_06_18_on(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    for version, structured in (("2025-03-26", False), ("2025-06-18", True), ("2025-11-25", True)):
        reply = await post(http, stack.mcp_url, rpc("tools/call", {"name": "query_events", "arguments": {"limit": 1}}),
                           key=account.projects[0].rk, version=version)
        assert ("structuredContent" in reply.result) is structured, version


INVALID_ARGUMENTS: list[tuple[str, str, dict[str, Any], str, list[str]]] = [
    # endpoint, tool, arguments, field path, texts the message must contain
    ("project", "get_stats", {"metric": "sessions"}, "arguments.metric", ["'count', 'uniques', 'users'"]),
    ("project", "get_stats", {"interval": "year"}, "arguments.interval", ["'day'", "'hour'", "'month'", "'week'"]),
    ("project", "get_stats", {"compare": "last_year"}, "arguments.compare", ["'previous_period'"]),
    ("project", "get_stats", {"group_by": "colour"}, "arguments", ["colour", "event, source, medium, campaign, channel"]),
    ("project", "get_stats", {"timezone": "Mars/Olympus"}, "arguments", ["IANA"]),
    ("project", "top_sources", {"breakdown": "medium"}, "arguments.breakdown", ["'source', 'source_medium'"]),
    ("project", "top_sources", {"breakdown": 3}, "arguments.breakdown", ["got `int`", "'source', 'source_medium'"]),
    ("project", "funnel", {"steps": ["a", "b"], "order": "random"}, "arguments.order", ["'any', 'ordered', 'strict'"]),
    ("project", "funnel", {"steps": ["a"]}, "arguments.steps", [f"length >= {limits.MIN_FUNNEL_STEPS}"]),
    ("project", "funnel", {"steps": ["a", {"event": "b", "colour": 1}]}, "arguments.steps[1]", ["colour", "valid fields: event, properties"]),
    ("project", "query_events", {"limit": limits.MAX_QUERY_LIMIT + 1}, "arguments.limit", [f"<= {limits.MAX_QUERY_LIMIT}"]),
    ("project", "query_events", {"limit": "10"}, "arguments.limit", ["Expected `int`, got `str`"]),
    ("project", "query_events", {"bogus": 1}, "arguments", ["unknown field `bogus`", "valid fields: from, to"]),
    ("project", "query_events", {"from": "yesterday"}, "arguments.from", ["ISO 8601", "2026-05-01T00:00:00Z"]),
    ("project", "query_events", {"to": "2026-05-01T00:00:00"}, "arguments.to", ["timezone", "UTC offset"]),
    ("project", "query_events", {"project_slug": "acme"}, "arguments", ["unknown field `project_slug`"]),
    ("project", "query_events", [1, 2], "arguments", ["Expected `object`, got `array`"]),
    ("project", "track_event", {"anonymous_id": "a"}, "arguments", ["missing required field `event`"]),
    ("project", "track_event", {"event": "x"}, "arguments", ["anonymous_id or user_id"]),
    ("project", "track_event", {"event": "x", "anonymous_id": "a", "event_id": "42"}, "arguments.event_id", ["UUID"]),
    ("project", "track_event", {"event": "x", "anonymous_id": "a", "timestamp": "2026-05-01"}, "arguments.timestamp", ["ISO 8601"]),
    ("account", "query_events", {"project_id": "nope"}, "arguments.project_id", ["UUID"]),
    ("account", "query_events", {"project_slug": "Not A Slug"}, "arguments.project_slug", ["matching regex"]),
    ("account", "get_stats", {"project_id": "0f8fad5b-d9cb-469f-a165-70867728950e", "project_slug": "x"}, "arguments", ["at most one of"]),
    ("account", "compare_projects", {"metric": "revenue"}, "arguments.metric", ["'count', 'uniques', 'users'"]),
    ("account", "list_projects", {"limit": 3}, "arguments", ["unknown field `limit`"]),
]


@pytest.mark.parametrize(("endpoint", "tool", "arguments", "path", "texts"), INVALID_ARGUMENTS,
                         ids=[f"{row[1]}-{row[3]}-{i}" for i, row in enumerate(INVALID_ARGUMENTS)])
async def test_invalid_arguments_are_tool_errors_naming_the_field_and_what_it_expects(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, tool: str, arguments: Any,
        path: str, texts: list[str]) -> None:
    url, key = target(stack, account, endpoint)
    text = invalid_text(await call(http, url, key, tool, arguments))
    assert f"(at {path})" in text, text
    for expected in texts:
        assert expected in text, text


@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_unknown_tool_is_32602_listing_the_tools_of_the_key(stack: Stack, account: AccountFixture,
                                                                  http: aiohttp.ClientSession, endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    message = await call(http, url, key, "delete_everything", {})
    assert (message["error"]["code"], message["error"]["message"]) == (-32602, "unknown_tool")
    assert message["error"]["data"]["name"] == "delete_everything"
    assert set(message["error"]["data"]["available"]) == set(PROJECT_CALLS if endpoint == "project" else ACCOUNT_CALLS)


ELSEWHERE = [("project", "list_projects", "/mcp/account"), ("project", "compare_projects", "/mcp/account"),
             ("account", "track_event", "/mcp")]


@pytest.mark.parametrize("era", ["handshake", "modern"])
@pytest.mark.parametrize(("endpoint", "tool", "served_on"), ELSEWHERE)
async def test_a_tool_of_the_other_endpoint_is_unhandled_tool_naming_where_it_is_served(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str, tool: str, served_on: str,
        era: str) -> None:
    url, key = target(stack, account, endpoint)
    if era == "modern":
        body, headers = modern("tools/call", {"name": tool, "arguments": {}})
        reply = await post(http, url, body, key=key, headers=headers, version=None)
        assert reply.status == 400  # -32602 on 2026-07-28 (docs/mcp.md §6.3)
    else:
        reply = await post(http, url, rpc("tools/call", {"name": tool, "arguments": {}}), key=key)
        assert reply.status == 200
    check_response(reply.json, 1)
    assert (reply.error["code"], reply.error["message"]) == (-32602, "unhandled_tool")
    assert {k: reply.error["data"][k] for k in ("name", "endpoint")} == {"name": tool, "endpoint": served_on}
    assert served_on in reply.error["data"]["detail"]


@pytest.mark.parametrize("era", ["handshake", "modern"])
@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_a_name_no_endpoint_has_stays_unknown_tool_in_both_eras(stack: Stack, account: AccountFixture,
                                                                     http: aiohttp.ClientSession, endpoint: str, era: str) -> None:
    url, key = target(stack, account, endpoint)
    if era == "modern":
        body, headers = modern("tools/call", {"name": "delete_everything", "arguments": {}})
        reply = await post(http, url, body, key=key, headers=headers, version=None)
    else:
        reply = await post(http, url, rpc("tools/call", {"name": "delete_everything", "arguments": {}}), key=key)
    assert (reply.status, reply.error["code"], reply.error["message"]) == (400 if era == "modern" else 200, -32602, "unknown_tool")


async def test_account_read_of_a_foreign_project_is_32004(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    other = await create_account(stack.dsn, "business")
    message = await call(http, stack.mcp_account_url, account.ak, "query_events", {"project_id": str(other.projects[0].project_id)})
    assert (message["error"]["code"], message["error"]["message"]) == (-32004, "unknown_project_id")
    message = await call(http, stack.mcp_account_url, account.ak, "query_events", {"project_slug": other.projects[0].slug})
    assert (message["error"]["code"], message["error"]["message"]) == (-32004, "unknown_project_slug")


async def test_account_without_projects_is_32005(stack: Stack, http: aiohttp.ClientSession) -> None:
    empty = await create_account(stack.dsn, "business", projects=0)
    message = await call(http, stack.mcp_account_url, empty.ak, "query_events", {})
    assert (message["error"]["code"], message["error"]["message"]) == (-32005, "no_projects_visible")


# --- resources and prompts ----------------------------------------------------------------------

RESOURCES = {"project": ["events://recent", "schema://events"], "account": ["projects://all", "events://recent", "schema://events"]}


@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_resources_are_listed_and_readable(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                 endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    listed = (await post(http, url, rpc("resources/list"), key=key)).result["resources"]
    assert [r["uri"] for r in listed] == RESOURCES[endpoint]
    for resource in listed:
        assert resource["name"] and resource["description"] and resource["mimeType"] == "application/json"
        contents = (await post(http, url, rpc("resources/read", {"uri": resource["uri"]}), key=key)).result["contents"]
        (content,) = contents
        assert content["uri"] == resource["uri"] and content["mimeType"] == "application/json"
        assert isinstance(json.loads(content["text"]), list)
    templates = (await post(http, url, rpc("resources/templates/list"), key=key)).result
    assert templates == {"resourceTemplates": []}


async def test_projects_resource_is_only_on_the_account_endpoint(stack: Stack, account: AccountFixture,
                                                                 http: aiohttp.ClientSession) -> None:
    reply = await post(http, stack.mcp_url, rpc("resources/read", {"uri": "projects://all"}), key=account.projects[0].rk)
    assert (reply.error["code"], reply.error["message"]) == (-32602, "unknown_resource")
    assert reply.error["data"]["available"] == RESOURCES["project"]
    projects = json.loads((await post(http, stack.mcp_account_url, rpc("resources/read", {"uri": "projects://all"}),
                                      key=account.ak)).result["contents"][0]["text"])
    assert {p["slug"] for p in projects} == {p.slug for p in account.projects}


@pytest.mark.parametrize("endpoint", ["project", "account"])
async def test_prompts_are_listed_and_rendered(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession, endpoint: str) -> None:
    url, key = target(stack, account, endpoint)
    prompts = (await post(http, url, rpc("prompts/list"), key=key)).result["prompts"]
    assert {p["name"] for p in prompts} == {"weekly-traffic-summary", "traffic-drop-investigation", "campaign-audit"}
    for prompt in prompts:
        arguments = {a["name"]: "2026-05-10" for a in prompt["arguments"] if a["required"]}
        result = (await post(http, url, rpc("prompts/get", {"name": prompt["name"], "arguments": arguments}), key=key)).result
        (message,) = result["messages"]
        assert message["role"] == "user" and message["content"]["type"] == "text" and message["content"]["text"]
    missing = await post(http, url, rpc("prompts/get", {"name": "traffic-drop-investigation"}), key=key)
    assert (missing.error["code"], missing.error["message"]) == (-32602, "invalid_params")


# --- track_event limits, both sides of each bound --------------------------------------------------

def _nested(depth: int) -> dict[str, Any]:
    """A properties object nested `depth` levels deep (properties itself is level 1)."""
    value: Any = 1
    for _ in range(depth - 1):
        value = {"k": value}
    return {"k": value}


def _future(seconds: int) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def _event(**overrides: Any) -> dict[str, Any]:
    return {"event": "limit_probe", "anonymous_id": "probe", **overrides}


# name, arguments just inside the bound, arguments just outside it, what the refusal must mention
LIMITS: list[tuple[str, dict[str, Any], dict[str, Any], str]] = [
    ("MAX_EVENT_NAME_CHARS", _event(event="e" * limits.MAX_EVENT_NAME_CHARS),
     _event(event="e" * (limits.MAX_EVENT_NAME_CHARS + 1)), "arguments.event"),
    ("MAX_ID_CHARS anonymous_id", _event(anonymous_id="a" * limits.MAX_ID_CHARS),
     _event(anonymous_id="a" * (limits.MAX_ID_CHARS + 1)), "arguments.anonymous_id"),
    ("MAX_ID_CHARS user_id", _event(user_id="u" * limits.MAX_ID_CHARS),
     _event(user_id="u" * (limits.MAX_ID_CHARS + 1)), "arguments.user_id"),
    ("MAX_PROPERTIES flat", _event(properties={f"k{i}": i for i in range(limits.MAX_PROPERTIES)}),
     _event(properties={f"k{i}": i for i in range(limits.MAX_PROPERTIES + 1)}), f"more than {limits.MAX_PROPERTIES}"),
    ("MAX_PROPERTIES nested", _event(properties={**{f"k{i}": i for i in range(limits.MAX_PROPERTIES // 2 - 1)},
                                                 "inner": {f"j{i}": i for i in range(limits.MAX_PROPERTIES // 2)}}),
     _event(properties={**{f"k{i}": i for i in range(limits.MAX_PROPERTIES // 2)},
                        "inner": {f"j{i}": i for i in range(limits.MAX_PROPERTIES // 2)}}), f"more than {limits.MAX_PROPERTIES}"),
    ("MAX_PROPERTY_DEPTH", _event(properties=_nested(limits.MAX_PROPERTY_DEPTH)),
     _event(properties=_nested(limits.MAX_PROPERTY_DEPTH + 1)), f"deeper than {limits.MAX_PROPERTY_DEPTH}"),
    ("MAX_PROPERTY_KEY_CHARS", _event(properties={"k" * limits.MAX_PROPERTY_KEY_CHARS: 1}),
     _event(properties={"k" * (limits.MAX_PROPERTY_KEY_CHARS + 1): 1}), f"longer than {limits.MAX_PROPERTY_KEY_CHARS}"),
    ("MAX_PROPERTY_STRING_CHARS", _event(properties={"s": "é" * limits.MAX_PROPERTY_STRING_CHARS}),
     _event(properties={"s": "é" * (limits.MAX_PROPERTY_STRING_CHARS + 1)}), f"longer than {limits.MAX_PROPERTY_STRING_CHARS}"),
    ("MAX_INT", _event(properties={"n": limits.MAX_INT}), _event(properties={"n": limits.MAX_INT + 1}), "64-bit"),
    ("MIN_INT", _event(properties={"n": limits.MIN_INT}), _event(properties={"n": limits.MIN_INT - 1}), "64-bit"),
    ("MAX_EVENT_BYTES", _event(properties={k: "x" * ((limits.MAX_EVENT_BYTES - 1024) // 4) for k in "abcd"}),
     _event(properties={k: "x" * (limits.MAX_EVENT_BYTES // 5 + 1) for k in "abcde"}), f"larger than {limits.MAX_EVENT_BYTES}"),
    ("MAX_FUTURE_SKEW_S", _event(timestamp=_future(limits.MAX_FUTURE_SKEW_S - 120)),  # refreshed at call time
     _event(timestamp=_future(limits.MAX_FUTURE_SKEW_S + 120)), "in the future"),
    ("MIN_TIMESTAMP_YEAR", _event(timestamp=f"{limits.MIN_TIMESTAMP_YEAR}-01-01T00:00:00Z"),
     _event(timestamp=f"{limits.MIN_TIMESTAMP_YEAR - 1}-12-31T23:59:59Z"), str(limits.MIN_TIMESTAMP_YEAR)),
    ("NUL in event name", _event(event="sign-up"), _event(event="sign\u0000up"), "NUL"),
    ("NUL in property key", _event(properties={"a-b": 1}), _event(properties={"a\u0000b": 1}), "NUL"),
    ("NUL in property value", _event(properties={"a": "x-y"}), _event(properties={"a": "x\u0000y"}), "NUL"),
    ("empty event name", _event(event="e"), _event(event=""), "length >= 1"),
]


@pytest.mark.parametrize(("name", "inside", "outside", "mentions"), LIMITS, ids=[row[0] for row in LIMITS])
async def test_track_event_limit_holds_on_both_sides(stack: Stack, account: AccountFixture, http: aiohttp.ClientSession,
                                                     name: str, inside: dict[str, Any], outside: dict[str, Any], mentions: str) -> None:
    sk = account.projects[0].sk
    if name == "MAX_FUTURE_SKEW_S":  # the table is built at collection time; "now" is now
        inside = {**inside, "timestamp": _future(limits.MAX_FUTURE_SKEW_S - 120)}
        outside = {**outside, "timestamp": _future(limits.MAX_FUTURE_SKEW_S + 120)}
    accepted = await call(http, stack.mcp_url, sk, "track_event", inside)
    assert accepted["result"].get("isError", False) is False, accepted
    assert accepted["result"]["structuredContent"]["status"] == "accepted"
    text = invalid_text(await call(http, stack.mcp_url, sk, "track_event", outside))
    assert mentions in text, text


async def test_a_body_at_the_json_depth_limit_is_served_and_one_deeper_is_refused(
        stack: Stack, account: AccountFixture, http: aiohttp.ClientSession) -> None:
    def body(depth: int) -> bytes:
        # the body object is level 1, params level 2, so the array nests depth - 2 levels
        return b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + b"[" * (depth - 2) + b"]" * (depth - 2) + b"}}"

    inside = await post(http, stack.mcp_url, body(limits.MAX_JSON_DEPTH), key=account.projects[0].rk)
    assert (inside.status, inside.json) == (200, {"jsonrpc": "2.0", "id": 1, "result": {}})
    outside = await post(http, stack.mcp_url, body(limits.MAX_JSON_DEPTH + 1), key=account.projects[0].rk)
    assert outside.status == 400
    assert (outside.error["code"], outside.error["data"]["max_depth"]) == (-32600, limits.MAX_JSON_DEPTH)

"""No answer ever shows another project's (or, on the account endpoint, another account's) data.

The shared dataset (tests/support/datagen.py) plants a unique marker per project in every visitor
id and in every event's `site` property. For many random (key, tool, arguments) combinations, the
whole answer (every content block and the structured content) is searched for the markers, project
ids and slugs of every project the key must not see. Account keys naming a project of another
account get -32004 (`unknown_project_id` / `unknown_project_slug`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp.shared.exceptions import MCPError

from tests.integration.conftest import World
from tests.support.datagen import EVENT_NAMES, Dataset, McpRunner, ModelProject
from tests.support.stack import Stack

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
WIDE = {"from": "2026-09-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"}




class Key:
    def __init__(self, url: str, key: str, own: list[ModelProject], label: str, account: bool) -> None:
        self.url, self.key, self.own, self.label, self.account = url, key, own, label, account

    def __repr__(self) -> str:
        return f"<{self.label}>"


def keys(stack: Stack, data: Dataset) -> list[Key]:
    out = []
    for p in data.projects:
        out.append(Key(stack.mcp_url, p.sk, [p], f"sk of {p.key}", False))
        out.append(Key(stack.mcp_url, p.rk, [p], f"rk of {p.key}", False))
    for acc in ("A", "B"):
        out.append(Key(stack.mcp_account_url, data.account_keys[acc], data.account_projects(acc), f"ak of {acc}", True))
    return out


def foreign_strings(data: Dataset, key: Key) -> dict[str, str]:
    """marker / id / slug → whose it is, for every project the key must not see."""
    own = {p.key for p in key.own}
    out = {}
    for p in data.projects:
        if p.key not in own:
            out[p.marker] = f"marker of {p.key}"
            out[p.project_id] = f"project_id of {p.key}"
            out[f'"{p.slug}"'] = f"slug of {p.key}"
    return out


def answer_text(result: Any) -> str:
    parts = [getattr(c, "text", "") or "" for c in getattr(result, "content", None) or getattr(result, "contents", [])]
    structured = getattr(result, "structured_content", None)
    if structured is not None:
        parts.append(json.dumps(structured, ensure_ascii=False))
    return "\n".join(parts)


def assert_nothing_foreign(data: Dataset, key: Key, what: str, text: str) -> None:
    leaks = sorted({who for needle, who in foreign_strings(data, key).items() if needle in text})
    assert not leaks, f"{what} with {key} shows {', '.join(leaks)}"


@st.composite
def calls(draw: st.DrawFn, key: Key) -> tuple[str, str, dict[str, Any]]:
    """(kind 'tool'/'resource', name or uri, arguments)."""
    tools = ["query_events", "get_stats", "top_sources", "funnel"] + (["compare_projects", "list_projects"] if key.account else [])
    resources = ["events://recent", "schema://events"] + (["projects://all"] if key.account else [])
    if draw(st.integers(0, 4)) == 0:
        return "resource", draw(st.sampled_from(resources)), {}
    tool = draw(st.sampled_from(tools))
    args: dict[str, Any] = dict(WIDE) if draw(st.integers(0, 3)) else {}
    if key.account and tool != "list_projects" and draw(st.booleans()):
        own = draw(st.sampled_from(key.own))
        args.update(draw(st.sampled_from([{"project_id": own.project_id}, {"project_slug": own.slug},
                                          {"project_ids": [p.project_id for p in key.own]}])))
    if tool == "query_events":
        args["limit"] = draw(st.sampled_from([1000, 50, 5]))
        if draw(st.booleans()):
            args["event"] = draw(st.sampled_from(EVENT_NAMES))
    elif tool == "get_stats":
        group = ["event", "source", "property:site", "property:plan"] + (["project_id"] if key.account else [])
        args["group_by"] = ",".join(draw(st.lists(st.sampled_from(group), min_size=1, max_size=2, unique=True)))
        args["metric"] = draw(st.sampled_from(["count", "uniques", "users"]))
        if draw(st.booleans()):
            args["interval"] = "week"
        if draw(st.booleans()):
            args["compare"] = "previous_period"
    elif tool == "top_sources":
        args["breakdown"] = draw(st.sampled_from(["source", "source_medium"]))
        args["limit"] = 100
    elif tool == "funnel":
        args["steps"] = draw(st.sampled_from([["page_view", "signup"], ["page_view", "add_to_cart", "purchase"]]))
        args["order"] = draw(st.sampled_from(["ordered", "strict", "any"]))
        args["group_by"] = draw(st.sampled_from(["source", "medium", "channel"]))
    elif tool == "compare_projects":
        args.pop("project_slug", None)
        args["metric"] = draw(st.sampled_from(["count", "uniques", "users"]))
        if draw(st.booleans()):
            args["compare"] = "previous_period"
    elif tool == "list_projects":
        args = {}
    return "tool", tool, args


@given(st.data())
@SETTINGS
def test_no_answer_shows_another_projects_or_accounts_data(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    key = d.draw(st.sampled_from(keys(stack, data)), label="key")
    kind, name, args = d.draw(calls(key), label="call")
    if kind == "resource":
        result = mcp.read_resource(key.url, key.key, name)
    else:
        result = mcp.call_tool(key.url, key.key, name, args)
        assert not result.is_error, f"{name}({json.dumps(args)}) with {key} → {result.content[0].text}"
    assert_nothing_foreign(data, key, f"{name}({json.dumps(args)})", answer_text(result))


def test_own_markers_are_found_so_the_search_is_meaningful(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    for key in keys(stack, data):
        text = answer_text(mcp.call_tool(key.url, key.key, "query_events", {**WIDE, "limit": 1000}))
        for p in key.own:
            assert p.marker in text, f"{p.key}'s own events are missing from query_events with {key}"
            if key.account:
                assert p.project_id in text
        assert_nothing_foreign(data, key, "query_events", text)
        schema = answer_text(mcp.read_resource(key.url, key.key, "schema://events"))
        assert_nothing_foreign(data, key, "schema://events", schema)


def _selection_error(mcp: McpRunner, key: Key, tool: str, args: dict[str, Any]) -> Any:
    with pytest.raises(MCPError) as info:
        result = mcp.call_tool(key.url, key.key, tool, args)
        raise AssertionError(f"{tool}({json.dumps(args)}) with {key} answered: {answer_text(result)[:300]}")
    return info.value.error


@given(st.data())
@settings(SETTINGS, max_examples=40)
def test_account_keys_cannot_select_another_accounts_projects(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    key = d.draw(st.sampled_from([k for k in keys(stack, data) if k.account]), label="key")
    others = [p for p in data.projects if p not in key.own]
    foreign = d.draw(st.sampled_from(others), label="foreign project")
    tool = d.draw(st.sampled_from(["query_events", "get_stats", "top_sources", "funnel", "compare_projects"]))
    base: dict[str, Any] = {"steps": ["page_view", "signup"]} if tool == "funnel" else {}
    how = d.draw(st.sampled_from(["id", "slug", "ids", "random id"]))
    if how == "slug" and tool == "compare_projects":
        how = "id"
    if how == "id":
        args, name = {**base, "project_id": foreign.project_id}, "unknown_project_id"
    elif how == "slug":
        args, name = {**base, "project_slug": foreign.slug}, "unknown_project_slug"
    elif how == "ids":
        mixed = [p.project_id for p in key.own[:d.draw(st.integers(0, len(key.own)))]] + [foreign.project_id]
        args, name = {**base, "project_ids": d.draw(st.permutations(mixed))}, "unknown_project_id"
    else:
        args, name = {**base, "project_id": str(uuid.uuid4())}, "unknown_project_id"
    error = _selection_error(mcp, key, tool, args)
    assert (error.code, error.message) == (-32004, name), f"{tool}({json.dumps(args)}) with {key}: {error}"
    assert foreign.marker not in json.dumps(error.data or {})


def test_project_keys_cannot_name_a_project_at_all(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    a0, b0 = data.project("A0"), data.project("B0")
    for args in ({"project_id": b0.project_id}, {"project_slug": b0.slug}, {"project_ids": [b0.project_id]}):
        result = mcp.call_tool(stack.mcp_url, a0.rk, "query_events", args)
        assert result.is_error, f"query_events({args}) with a project key answered"
        assert b0.marker not in answer_text(result)


def test_the_same_visitor_id_in_two_projects_is_two_visitors(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    """`shared-N` ids exist in several projects; each project's uniques count them once."""
    key = keys(stack, data)[-2]  # ak of A
    ids = [p.project_id for p in key.own]
    shared = {(e["project_id"], e["anonymous_id"]) for e in data.events
              if e["project_id"] in ids and (e["anonymous_id"] or "").startswith("shared-")}
    assert len(shared) > len({v for _, v in shared}), "the dataset should reuse a shared id across projects"
    result = mcp.call_tool(key.url, key.key, "get_stats", {**WIDE, "metric": "uniques", "group_by": "project_id"})
    rows = json.loads(result.content[0].text)
    per_project = {r["project_id"]: r["uniques"] for r in rows}
    total = json.loads(mcp.call_tool(key.url, key.key, "get_stats", {**WIDE, "metric": "uniques"}).content[0].text)
    assert total[0]["uniques"] == sum(per_project.values())

"""Every read tool against the reference model (tests/support/model.py), on the same random data.

The data (tests/support/datagen.py: ~4 000 events, 6 projects in 3 accounts, weeks spanning three
DST changes) goes through the real pipeline once per session: track_event → gateway → Kafka →
ingest → PostgreSQL. Hypothesis then draws many argument combinations per tool; each answer (rows
in order with exact values, and `meta`'s window, time zone and truncation) must equal the model's.
Floats are compared exactly: every ratio in docs/analytics.md is a ratio of integers, and the model
divides the same two integers.
"""

from __future__ import annotations

import json
import math
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import event as hypothesis_event
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from tests.integration.conftest import World
from tests.support import model
from tests.support.accounts import create_account
from tests.support.datagen import (
    DATA_END,
    DATA_START,
    DOMAINS,
    EDGE_INSTANTS,
    EVENT_NAMES,
    Dataset,
    McpRunner,
    attributed,
)
from tests.support.stack import Stack

ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata", "America/Los_Angeles")
OFFSETS = (timedelta(0), timedelta(hours=2), timedelta(hours=-5), timedelta(hours=5, minutes=30), timedelta(hours=-8))
PROPERTY_KEYS = ("plan", "price", "flag", "site", "path", "items", "nonexistent")
"""Grouping keys; `meta` (an object) is left out: the text form of an object is not fixed by the document."""
PROPERTY_FILTERS: tuple[dict[str, Any], ...] = (
    {"plan": "pro"}, {"plan": "Team"}, {"plan": "team"}, {"plan": "équipe"}, {"price": 20}, {"price": 20.0},
    {"price": 19.5}, {"price": "20"}, {"flag": True}, {"flag": False}, {"price": 9.99, "flag": True}, {"path": "/pricing"},
)
SOURCE_FILTERS = ("facebook", "Facebook", "  GOOGLE ", "direct", "(direct)", "newsletter", "hackernews", "not set", "nope")
MEDIUM_FILTERS = ("paid", "social", "none", "(None)", "organic", "email", "Referral", "unassigned")
CAMPAIGN_FILTERS = ("black friday", "Black   Friday", "spring_sale", "not set", "WEEKLY digest", "orphan")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


# --- fixtures ---------------------------------------------------------------------------------



# --- calling the tools and comparing ----------------------------------------------------------

class Scope:
    """Who asks: an endpoint, a key, and the projects that key can see."""

    def __init__(self, url: str, key: str, visible: list[dict[str, Any]], account: bool, label: str) -> None:
        self.url, self.key, self.visible, self.account, self.label = url, key, visible, account, label

    def __repr__(self) -> str:
        return f"<{self.label}>"


def read(mcp: McpRunner, scope: Scope, tool: str, args: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    result = mcp.call_tool(scope.url, scope.key, tool, args)
    assert not result.is_error, f"{tool}({json.dumps(args)}) on {scope} → error {result.content[0].text}"
    rows = json.loads(result.content[0].text)
    meta = json.loads(result.content[1].text)["meta"]
    # list_projects has no window: only the reads over events must carry one
    expected_keys = {"order", "truncated"} if tool == "list_projects" else {"from", "to", "timezone", "order", "truncated"}
    missing = expected_keys - meta.keys()
    assert not missing, f"{tool}({json.dumps(args)}) on {scope}: meta lacks {sorted(missing)}"
    if result.structured_content is not None:
        assert result.structured_content == {"rows": rows, "meta": meta}
    return rows, meta


def same(actual: Any, expected: Any) -> bool:
    """Deep equality that tells booleans and strings from numbers (True is not 1, "1" is not 1)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(actual, int | float) and isinstance(expected, int | float):
        return actual == expected
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in actual)
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(same(a, e) for a, e in zip(actual, expected, strict=True))
    return type(actual) is type(expected) and actual == expected


def event(text: str) -> None:
    """Record a coverage statistic (`--hypothesis-show-statistics`) when inside a hypothesis test."""
    if currently_in_test_context():
        hypothesis_event(text)


def size_class(rows: list[Any]) -> str:
    return "no rows" if not rows else "1-9 rows" if len(rows) < 10 else "10-99 rows" if len(rows) < 100 else "100+ rows"


def nonzero_class(rows: list[dict[str, Any]], column: str) -> str:
    values = [r[column] for r in rows]
    return f"{column}: " + ("all zero" if not any(values) else "some non-zero")


def assert_rows(actual: list[dict[str, Any]], expected: list[dict[str, Any]], what: str) -> None:
    if same(actual, expected):
        return
    lines = [f"{what}: {len(actual)} rows, model has {len(expected)}"]
    for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
        if not same(a, e):
            lines += [f"first difference at row {i}:", f"  tool:  {json.dumps(a, ensure_ascii=False)}",
                      f"  model: {json.dumps(e, ensure_ascii=False)}"]
            if isinstance(a, dict) and isinstance(e, dict) and a.keys() == e.keys() and \
                    all(str(a[k]) == str(e[k]) for k in a if not same(a[k], e[k])):
                lines.append("  (the same values with other JSON types: e.g. a number sent as a string)")
            break
    else:
        extra = actual[len(expected):] or expected[len(actual):]
        lines.append(f"extra rows in {'tool' if len(actual) > len(expected) else 'model'}: {json.dumps(extra[:3], ensure_ascii=False)}")
    raise AssertionError("\n".join(lines))


def assert_meta(meta: dict[str, Any], expected: dict[str, Any], what: str, keys: tuple[str, ...] = ("from", "to", "timezone", "truncated")) -> None:
    for key in keys:
        if key in expected:
            assert key in meta and same(meta[key], expected[key]), f"{what}: meta.{key} is {meta.get(key)!r}, model {expected[key]!r}"


def model_now(args: dict[str, Any], meta: dict[str, Any], before: datetime) -> datetime:
    """The `now` the tool used: only `from` given → meta.to (checked against the wall clock)."""
    if args.get("from") and not args.get("to"):
        to = model.parse_instant(meta["to"])
        assert abs(to - before) < timedelta(seconds=30), f"meta.to {meta['to']} should be now ({before})"
        return to
    return before


def call_and_model(mcp: McpRunner, scope: Scope, tool: str, args: dict[str, Any], compute: Any) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    before = datetime.now(UTC)
    rows, meta = read(mcp, scope, tool, args)
    expected = compute(model_now(args, meta, before))
    return rows, meta, expected


# --- strategies -----------------------------------------------------------------------------

def render(instant: datetime, offset: timedelta) -> str:
    text = instant.astimezone(timezone(offset)).isoformat()
    return text.replace("+00:00", "Z")


MIDDLE = datetime(2026, 10, 20, 12, tzinfo=UTC)
"""Hypothesis favours small draws: offsets are drawn around the middle of the data, and the
simplest choice of every list comes first and is a data-rich one."""


@st.composite
def instants(draw: st.DrawFn, data: Dataset) -> datetime:
    kind = draw(st.sampled_from(["random", "random", "edge", "midnight", "event"]))
    if kind == "random":
        return MIDDLE + timedelta(seconds=draw(st.integers(-int((MIDDLE - DATA_START).total_seconds()) - 3 * 86400,
                                                           int((DATA_END - MIDDLE).total_seconds()) + 2 * 86400)))
    if kind == "edge":
        return draw(st.sampled_from(EDGE_INSTANTS)).astimezone(UTC) + timedelta(seconds=draw(st.sampled_from([0, 0, -1, 1, -3600])))
    if kind == "midnight":
        day = MIDDLE.date() + timedelta(days=draw(st.integers(-32, 35)))
        return model.local_midnight(day, ZoneInfo(draw(st.sampled_from(ZONES))))
    return draw(st.sampled_from(data.events))["timestamp"]


@st.composite
def windows(draw: st.DrawFn, data: Dataset, max_span: timedelta = timedelta(days=70)) -> dict[str, Any]:
    """from/to arguments: both (most often), only from, only to, or neither (the default window)."""
    kinds = ["both"] * 5 + (["from", "to", "default"] if max_span >= timedelta(days=8) else ["from"])
    kind = draw(st.sampled_from(kinds))
    offset = draw(st.sampled_from(OFFSETS))
    longest = int(max_span.total_seconds())
    if kind == "both":
        start = draw(instants(data))
        span_s = draw(st.one_of(
            st.sampled_from([7 * 86400, 31 * 86400, 86400, 2 * 86400, 10 * 86400, 60 * 86400, 90 * 86400, 3600]),
            st.integers(0, longest - 1).map(lambda x: longest - x)))
        span = min(timedelta(seconds=span_s), max_span)
        return {"from": render(start, offset), "to": render(start + span, offset)}
    if kind == "from":
        back = int((min(max_span, timedelta(days=9)) - timedelta(hours=1)).total_seconds())
        start = datetime.now(UTC) - timedelta(seconds=back - draw(st.integers(0, back - 60)))
        return {"from": render(start.replace(microsecond=0), offset)}
    if kind == "to":
        return {"to": render(draw(instants(data)), offset)}
    return {}


@st.composite
def filters(draw: st.DrawFn, *, with_event: bool = True) -> dict[str, Any]:
    """Each filter now and then (about half the cases have none, so most answers are not empty)."""
    out: dict[str, Any] = {}
    if with_event and draw(st.integers(0, 4)) == 0:
        out["event"] = draw(st.sampled_from((*EVENT_NAMES, "nope")))
    if draw(st.integers(0, 7)) == 0:
        out["source"] = draw(st.sampled_from(SOURCE_FILTERS))
    if draw(st.integers(0, 9)) == 0:
        out["medium"] = draw(st.sampled_from(MEDIUM_FILTERS))
    if draw(st.integers(0, 9)) == 0:
        out["campaign"] = draw(st.sampled_from(CAMPAIGN_FILTERS))
    if draw(st.integers(0, 7)) == 0:
        out["properties"] = draw(st.sampled_from(PROPERTY_FILTERS))
    return out


def project_scopes(stack: Stack, data: Dataset) -> list[Scope]:
    out = []
    for p in data.projects:
        for kind, key in (("rk", p.rk), ("sk", p.sk)):
            out.append(Scope(stack.mcp_url, key, [p.as_model()], False, f"{kind} of {p.key} ({p.time_zone})"))
    return out


def account_scopes(stack: Stack, data: Dataset) -> list[Scope]:
    return [Scope(stack.mcp_account_url, data.account_keys[acc], data.model_projects(account=acc), True, f"ak of {acc}")
            for acc in ("A", "B")]


@st.composite
def selections(draw: st.DrawFn, scope: Scope) -> dict[str, Any]:
    """The account endpoint's project selection (nothing on the project endpoint)."""
    if not scope.account:
        return {}
    projects = scope.visible
    kind = draw(st.sampled_from(["all", "all", "id", "slug", "ids"]))
    if kind == "id":
        return {"project_id": draw(st.sampled_from(projects))["project_id"]}
    if kind == "slug":
        return {"project_slug": draw(st.sampled_from(projects))["slug"]}
    if kind == "ids":
        chosen = draw(st.lists(st.sampled_from(projects), min_size=1, max_size=len(projects), unique_by=lambda p: p["project_id"]))
        return {"project_ids": [p["project_id"] for p in chosen]}
    return {}


@st.composite
def group_bys(draw: st.DrawFn, scope: Scope, *, interval: str | None) -> str | None:
    names = list(model.ATTRIBUTE_FIELDS) + [f"property:{k}" for k in PROPERTY_KEYS]
    if scope.account:
        names.append("project_id")
    if interval is None:
        names.append("property:sku")  # ~1 000 distinct values: truncation at 1 000 groups
    most = {None: 3, "month": 2, "week": 2, "day": 1, "hour": 1}[interval]
    if draw(st.integers(0, 3)) == 0:
        return None
    parts = draw(st.lists(st.sampled_from(names), min_size=1, max_size=most, unique=True))
    return ",".join(parts)


def stats_case(draw: st.DrawFn, data: Dataset, scope: Scope) -> dict[str, Any]:
    interval = draw(st.sampled_from([None, None, "hour", "day", "week", "month"]))
    group_by = draw(group_bys(scope, interval=interval))
    max_span = {None: timedelta(days=120), "hour": timedelta(days=3 if group_by else 12), "day": timedelta(days=70),
                "week": timedelta(days=200), "month": timedelta(days=400)}[interval]
    args: dict[str, Any] = {**draw(windows(data, max_span)), **draw(filters()), **draw(selections(scope))}
    if draw(st.booleans()):
        args["metric"] = draw(st.sampled_from(["count", "uniques", "users"]))
    if group_by:
        args["group_by"] = group_by
    if interval:
        args["interval"] = interval
    if draw(st.booleans()):
        args["compare"] = "previous_period"
    if draw(st.integers(0, 2)) == 0:
        args["timezone"] = draw(st.sampled_from(ZONES))
    return args


def check_get_stats(mcp: McpRunner, data: Dataset, scope: Scope, args: dict[str, Any]) -> None:
    rows, meta, expected = call_and_model(
        mcp, scope, "get_stats", args,
        lambda now: model.get_stats(data.events, scope.visible, args, now=now, account=scope.account))
    what = f"get_stats({json.dumps(args, ensure_ascii=False)}) on {scope}"
    metric = args.get("metric", "count")
    event(size_class(expected["rows"]))
    event(nonzero_class(expected["rows"], metric))
    if "compare" in args:
        event(nonzero_class(expected["rows"], "previous"))
    event(f"truncated={expected['meta']['truncated']}")
    assert_meta(meta, expected["meta"], what)
    assert_rows(rows, expected["rows"], what)


# --- the tests --------------------------------------------------------------------------------

def test_ingest_stores_the_attribution_that_derive_computes(data: Dataset) -> None:
    assert len(data.stored) == len(data.events)
    wrong = [(e["event_id"], e["properties"], {k: data.stored[e["event_id"]][k] for k in ("source", "medium", "campaign", "channel")})
             for e in data.events
             if any(data.stored[e["event_id"]][k] != e[k] for k in ("source", "medium", "campaign", "channel"))]
    assert wrong == [], f"{len(wrong)} events stored with other attribution than derive(), e.g. {wrong[:3]}"


def test_the_dataset_spans_dst_changes_and_several_accounts(data: Dataset) -> None:
    stamps = [e["timestamp"] for e in data.events]
    assert min(stamps) < datetime(2026, 10, 4, tzinfo=UTC) and max(stamps) > datetime(2026, 11, 2, tzinfo=UTC)
    assert len({p.account for p in data.projects}) >= 2 and len(data.events) > 2000
    assert any(e["anonymous_id"] is None for e in data.events)


@given(st.data())
@settings(SETTINGS, max_examples=80)
def test_query_events_pages_through_exactly_the_model_rows(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(project_scopes(stack, data) + account_scopes(stack, data)), label="scope")
    args: dict[str, Any] = {**d.draw(windows(data, timedelta(days=70))), **d.draw(filters()), **d.draw(selections(scope))}
    if d.draw(st.integers(0, 4)) == 0:
        visitor = d.draw(st.sampled_from([e for e in data.events if e["project_id"] in {p["project_id"] for p in scope.visible}]))
        name = d.draw(st.sampled_from(["anonymous_id", "user_id"]))
        if visitor[name] is not None:
            args[name] = visitor[name]
    if d.draw(st.integers(0, 2)):
        args["timezone"] = d.draw(st.sampled_from(ZONES))
    before = datetime.now(UTC)
    first_rows, first_meta = read(mcp, scope, "query_events", {**args, "limit": 1})
    expected = model.query_events(data.events, scope.visible, args, now=model_now(args, first_meta, before))
    what = f"query_events({json.dumps(args, ensure_ascii=False)}) on {scope}"
    assert_meta(first_meta, expected["meta"], what, ("from", "to", "timezone"))
    total = len(expected["rows"])
    smallest = max(1, math.ceil(total / 12))  # at most ~12 pages per example keeps the test fast
    limit = d.draw(st.one_of(st.integers(smallest, max(smallest, 1000)), st.sampled_from([None, smallest, total or 1, total + 1])), label="limit")
    if limit is not None and limit > 1000:
        limit = 1000
    if limit is None and smallest > 50:
        limit = smallest
    page_args = dict(args) if limit is None else {**args, "limit": limit}
    page_size = limit or 50
    collected: list[dict[str, Any]] = []
    cursor = None
    for page in range(total // page_size + 2):
        rows, meta = read(mcp, scope, "query_events", page_args if cursor is None else {**page_args, "cursor": cursor})
        assert len(rows) <= page_size, f"{what}: page {page} has {len(rows)} rows, limit {page_size}"
        collected += rows
        if not meta["truncated"]:
            assert meta.get("next_cursor") is None, f"{what}: last page still has a next_cursor"
            break
        assert len(rows) == page_size, f"{what}: a truncated page {page} has only {len(rows)} rows"
        cursor = meta["next_cursor"]
        assert isinstance(cursor, str) and cursor
    else:
        raise AssertionError(f"{what}: more pages than rows")
    event(size_class(expected["rows"]))
    event(f"pages: {'1' if len(collected) <= page_size else 'several'}")
    ids = [r["event_id"] for r in collected]
    assert len(ids) == len(set(ids)), f"{what}: an event appears on two pages"
    assert_rows(collected, expected["rows"], what + f" limit={limit}, all pages")
    if collected and len({p["project_id"] for p in model.select_projects(scope.visible, args)}) > 1:
        assert list(collected[0])[:2] == ["project_id", "slug"], f"{what}: project_id and slug must come first"
    assert first_rows == expected["rows"][:1]


@given(st.data())
@settings(SETTINGS, max_examples=120)
def test_get_stats_matches_the_model_on_project_keys(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(project_scopes(stack, data)), label="scope")
    args = stats_case(d.draw, data, scope)
    assume(_expected_size(data, scope, args) <= 1000)
    check_get_stats(mcp, data, scope, args)


@given(st.data())
@settings(SETTINGS, max_examples=120)
def test_get_stats_matches_the_model_on_account_keys(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(account_scopes(stack, data)), label="scope")
    args = stats_case(d.draw, data, scope)
    assume(_expected_size(data, scope, args) <= 1000)
    check_get_stats(mcp, data, scope, args)


def _expected_size(data: Dataset, scope: Scope, args: dict[str, Any]) -> int:
    """Rows the model gives (with an interval every bucket × group is a row: keep answers small)."""
    if not args.get("interval"):
        return 0
    return len(model.get_stats(data.events, scope.visible, args, now=datetime.now(UTC), account=scope.account)["rows"])


def test_get_stats_returns_the_first_1000_groups_and_says_it_truncated(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    scope = account_scopes(stack, data)[0]
    args = {"from": "2026-10-01T00:00:00Z", "to": "2026-11-20T00:00:00Z", "group_by": "property:sku", "metric": "uniques"}
    assert model.get_stats(data.events, scope.visible, args, now=datetime.now(UTC), account=True)["meta"]["truncated"]
    check_get_stats(mcp, data, scope, args)


DST_WINDOWS = (
    # (zone, from, to): each straddles a change of that zone (or of another, for the override case)
    ("Europe/Berlin", "2026-10-24T00:00:00+02:00", "2026-10-27T00:00:00+01:00"),
    ("Europe/Berlin", "2026-10-25T01:30:00+02:00", "2026-10-25T04:10:00+01:00"),
    ("America/New_York", "2026-10-31T00:00:00-04:00", "2026-11-03T00:00:00-05:00"),
    ("America/New_York", "2026-11-01T00:59:59-04:00", "2026-11-01T03:00:01-05:00"),
    ("Australia/Sydney", "2026-10-03T00:00:00+10:00", "2026-10-06T00:00:00+11:00"),
    ("America/Los_Angeles", "2026-10-30T00:00:00-07:00", "2026-11-03T00:00:00-08:00"),
    ("Asia/Kolkata", "2026-10-24T00:00:00+05:30", "2026-10-26T12:00:00+05:30"),
)


@given(st.data())
@settings(SETTINGS, max_examples=60)
def test_get_stats_buckets_match_the_model_across_dst_changes(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(project_scopes(stack, data) + account_scopes(stack, data)), label="scope")
    zone, start, end = d.draw(st.sampled_from(DST_WINDOWS))
    args: dict[str, Any] = {"from": start, "to": end, "interval": d.draw(st.sampled_from(["hour", "day"])), **d.draw(selections(scope))}
    if d.draw(st.booleans()):
        args["timezone"] = zone
    if d.draw(st.booleans()):
        args["compare"] = "previous_period"
    if d.draw(st.booleans()):
        args["metric"] = d.draw(st.sampled_from(["uniques", "users"]))
    if d.draw(st.booleans()):
        args["group_by"] = d.draw(st.sampled_from(["event", "medium", "channel"]))
    check_get_stats(mcp, data, scope, args)


@given(st.data())
@settings(SETTINGS, max_examples=100)
def test_top_sources_matches_the_model(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(project_scopes(stack, data) + account_scopes(stack, data)), label="scope")
    args: dict[str, Any] = {**d.draw(windows(data, timedelta(days=120))), **d.draw(filters()), **d.draw(selections(scope))}
    if d.draw(st.booleans()):
        args["breakdown"] = d.draw(st.sampled_from(["source", "source_medium"]))
    if d.draw(st.booleans()):
        args["limit"] = d.draw(st.integers(1, 100))
    if d.draw(st.integers(0, 2)) == 0:
        args["timezone"] = d.draw(st.sampled_from(ZONES))
    rows, meta, expected = call_and_model(mcp, scope, "top_sources", args,
                                          lambda now: model.top_sources(data.events, scope.visible, args, now=now))
    what = f"top_sources({json.dumps(args, ensure_ascii=False)}) on {scope}"
    event(size_class(expected["rows"]))
    event(f"truncated={expected['meta']['truncated']}")
    assert_meta(meta, expected["meta"], what, ("from", "to", "timezone", "truncated", "total_events"))
    assert_rows(rows, expected["rows"], what)


JOURNEYS = (
    ["page_view", "signup"], ["page_view", "add_to_cart", "purchase"], ["page_view", "signup", "add_to_cart", "Checkout", "purchase"],
    ["signup", "page_view"], ["page_view", "page_view"], ["page_view", "page_view", "signup"], ["add_to_cart", "purchase"],
    ["signup", "add_to_cart", "Checkout"], ["purchase", "refund"], ["page_view", "purchase", "page_view"],
)


@st.composite
def funnel_steps(draw: st.DrawFn) -> list[Any]:
    """Mostly journeys the data contains (so visitors convert), mutated with property steps and
    random names; sometimes a fully random list of 2–10 steps."""
    names = ("page_view", "signup", "add_to_cart", "Checkout", "purchase", "refund")
    any_step = st.one_of(
        st.sampled_from(names),
        st.builds(lambda e, p: {"event": e, "properties": p}, st.sampled_from(names), st.sampled_from(PROPERTY_FILTERS)),
        st.builds(lambda e: {"event": e}, st.sampled_from(names)),
    )
    if draw(st.integers(0, 4)) == 0:
        return draw(st.lists(any_step, min_size=2, max_size=10))
    steps: list[Any] = list(draw(st.sampled_from(JOURNEYS)))
    for i, name in enumerate(steps):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            steps[i] = draw(any_step)
        elif kind == 1:
            steps[i] = {"event": name, "properties": draw(st.sampled_from(PROPERTY_FILTERS))}
    return steps


@given(st.data())
@settings(SETTINGS, max_examples=150)
def test_funnel_matches_the_model(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(project_scopes(stack, data) + account_scopes(stack, data)), label="scope")
    args: dict[str, Any] = {"steps": d.draw(funnel_steps()), **d.draw(windows(data, timedelta(days=70))),
                            **d.draw(filters(with_event=False)), **d.draw(selections(scope))}
    if d.draw(st.integers(0, 3)):
        args["order"] = d.draw(st.sampled_from(["ordered", "strict", "any"]))
    if d.draw(st.integers(0, 3)):
        args["window"] = d.draw(st.sampled_from(["1s", "30s", "10m", "1h", "24h", "3d", "7d", "2w", "90d", "1800s"]))
    if d.draw(st.booleans()):
        args["group_by"] = d.draw(st.sampled_from(["source", "medium", "channel"]))
    if d.draw(st.integers(0, 3)) == 0:
        args["timezone"] = d.draw(st.sampled_from(ZONES))
    rows, meta, expected = call_and_model(mcp, scope, "funnel", args,
                                          lambda now: model.funnel(data.events, scope.visible, args, now=now))
    what = f"funnel({json.dumps(args, ensure_ascii=False)}) on {scope}"
    reached = [r["visitors"] for r in expected["rows"] if r["step"] > 1]
    event(f"{args.get('order', 'ordered')}: " + ("nobody past step 1" if not any(reached) else "some reach step 2+"))
    event(f"medians: {'some' if any(r['median_seconds_from_previous'] is not None for r in expected['rows']) else 'none'}")
    assert_meta(meta, expected["meta"], what, ("from", "to", "timezone"))
    assert_rows(rows, expected["rows"], what)


def test_get_stats_refuses_more_than_2000_buckets_and_windows_over_400_days(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    scope = project_scopes(stack, data)[0]
    for args in ({"from": "2026-08-01T00:00:00Z", "to": "2026-10-25T00:00:00Z", "interval": "hour"},   # 2 040 hours
                 {"from": "2025-09-01T00:00:00Z", "to": "2026-10-07T00:00:00Z"}):                   # 401 days
        result = mcp.call_tool(scope.url, scope.key, "get_stats", args)
        assert result.is_error, f"get_stats({args}) answered {result.content[0].text[:200]}"
    rows, _ = read(mcp, scope, "get_stats", {"from": "2026-08-01T00:00:00Z", "to": "2026-10-23T08:00:00Z", "interval": "hour"})
    assert len(rows) == 2000


def test_funnel_refuses_an_event_filter(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    scope = project_scopes(stack, data)[0]
    result = mcp.call_tool(scope.url, scope.key, "funnel", {"steps": ["page_view", "signup"], "event": "page_view"})
    assert result.is_error


@given(st.data())
@settings(SETTINGS, max_examples=60)
def test_compare_projects_matches_the_model(world: World, d: st.DataObject) -> None:
    stack, data, mcp = world.stack, world.data, world.mcp
    scope = d.draw(st.sampled_from(account_scopes(stack, data)), label="scope")
    args: dict[str, Any] = {**d.draw(windows(data, timedelta(days=120))), **d.draw(selections(scope))}
    if d.draw(st.booleans()):
        args["metric"] = d.draw(st.sampled_from(["count", "uniques", "users"]))
    if d.draw(st.booleans()):
        args["compare"] = "previous_period"
    if d.draw(st.integers(0, 2)) == 0:
        args["event"] = d.draw(st.sampled_from((*EVENT_NAMES, "nope")))
    rows, meta, expected = call_and_model(mcp, scope, "compare_projects", args,
                                          lambda now: model.compare_projects(data.events, scope.visible, args, now=now))
    what = f"compare_projects({json.dumps(args)}) on {scope}"
    event(nonzero_class(expected["rows"], "value"))
    assert_meta(meta, expected["meta"], what, ("from", "to", "timezone"))
    assert_rows(rows, expected["rows"], what)


def test_list_projects_and_the_projects_resource_list_the_account_by_slug(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    for scope in account_scopes(stack, data):
        expected = model.list_projects(scope.visible)
        rows, _ = read(mcp, scope, "list_projects", {})
        assert_rows(rows, expected, f"list_projects on {scope}")
        resource = mcp.read_resource(scope.url, scope.key, "projects://all")
        assert_rows(json.loads(resource.contents[0].text), expected, f"projects://all on {scope}")


def test_recent_events_resource_is_the_model_newest_hundred(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    for scope in project_scopes(stack, data)[::2] + account_scopes(stack, data):
        resource = mcp.read_resource(scope.url, scope.key, "events://recent")
        assert_rows(json.loads(resource.contents[0].text), model.events_recent(data.events, scope.visible), f"events://recent on {scope}")


def test_schema_resource_matches_the_model(stack: Stack, data: Dataset, mcp: McpRunner) -> None:
    for scope in project_scopes(stack, data)[::2] + account_scopes(stack, data):
        resource = mcp.read_resource(scope.url, scope.key, "schema://events")
        rows = json.loads(resource.contents[0].text)
        expected = model.events_schema(data.events, scope.visible, now=datetime.now(UTC))
        what = f"schema://events on {scope}"
        assert [(r["event"], r["events"], r["last_seen"]) for r in rows] == \
            [(r["event"], r["events"], r["last_seen"]) for r in expected], what
        for got, want in zip(rows, expected, strict=True):
            assert [(p["key"], p["seen"]) for p in got["properties"]] == [(p["key"], p["seen"]) for p in want["properties"]], \
                f"{what}: keys of {got['event']}"
            for p, w in zip(got["properties"], want["properties"], strict=True):
                examples = p.get("examples", [])
                allowed = {json.dumps(v, sort_keys=True) for v in w["examples"]}
                allowed |= {v if isinstance(v, str) else json.dumps(v) for v in w["examples"]}
                # "up to 3 example values": none is allowed (the implementation gives none for arrays/objects)
                assert len(examples) <= 3 and len(set(map(json.dumps, examples))) == len(examples), \
                    f"{what}: {got['event']}.{p['key']} examples {examples}"
                assert all((json.dumps(v, sort_keys=True) in allowed) or (isinstance(v, str) and v in allowed) for v in examples), \
                    f"{what}: {got['event']}.{p['key']} examples {examples} are not values it had"


async def test_cursor_pages_have_no_gaps_or_repeats_while_new_events_arrive(stack: Stack) -> None:
    """A dedicated project (the shared dataset stays unchanged): page through, send events newer
    than, older than and between the pages already read, and page on."""
    from tests.support.mcp_client import mcp_client, tool_data

    account = await create_account(stack.dsn, "pro", domains=DOMAINS)
    project = account.projects[0]
    base = datetime(2026, 11, 10, 12, tzinfo=UTC)

    def event(i: int, at: datetime) -> dict[str, Any]:
        return {"event": "page_view", "anonymous_id": f"v{i % 7}", "event_id": str(uuid.uuid4()),
                "timestamp": at.isoformat(), "properties": {"i": i}}

    first = [event(i, base + timedelta(seconds=(i // 3) * 60)) for i in range(60)]  # three events per timestamp
    window = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    conn = await asyncpg.connect(stack.dsn)
    try:
        async with mcp_client(stack.mcp_url, project.sk) as client:
            for e in first:
                tool_data(await client.call_tool("track_event", e))
            await _wait_count(conn, project.project_id, len(first))
            seen: list[str] = []
            result = await client.call_tool("query_events", {**window, "limit": 8})
            seen += [r["event_id"] for r in tool_data(result)]
            cursor = result.structured_content["meta"]["next_cursor"]
            late = [event(100 + i, base + timedelta(seconds=s)) for i, s in enumerate((-600, 30, 61, 5000, 3540))]
            for e in late:
                tool_data(await client.call_tool("track_event", e))
            await _wait_count(conn, project.project_id, len(first) + len(late))
            while cursor:
                result = await client.call_tool("query_events", {**window, "limit": 8, "cursor": cursor})
                seen += [r["event_id"] for r in tool_data(result)]
                cursor = result.structured_content["meta"].get("next_cursor")
    finally:
        await conn.close()
    assert len(seen) == len(set(seen)), "an event was returned twice"
    assert {e["event_id"] for e in first} <= set(seen), "an event that existed before paging started was skipped"
    # Events inserted behind the cursor position are found by later pages; those ahead of it are not.
    rows = [attributed({**e, "timestamp": datetime.fromisoformat(e["timestamp"]), "user_id": None}, str(project.project_id))
            for e in first + late]
    order = [r["event_id"] for r in model.newest_first(rows)]
    assert seen == [i for i in order if i in set(seen)], "pages are not in timestamp desc, event_id desc order"


async def _wait_count(conn: asyncpg.Connection, project_id: uuid.UUID, expected: int) -> None:
    import asyncio
    import time
    end = time.monotonic() + 30
    while await conn.fetchval("SELECT count(*) FROM events WHERE project_id = $1", project_id) < expected:
        assert time.monotonic() < end, "events not stored in time"
        await asyncio.sleep(0.05)


# --- crafted events: the subtle cases, each small enough to read ------------------------------

FACEBOOK = {"utm_source": "facebook", "utm_medium": "social"}
CRAFTED: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    # (visitor, timestamp, event, event_id suffix, properties)
    # two events at the same instant: B's id sorts first, so B comes before A
    ("tie", "2026-11-01T10:00:00Z", "TB", "00a", {}),
    ("tie", "2026-11-01T10:00:00Z", "TA", "00b", FACEBOOK),
    # A, X, B, C / B, A, C / A, B, C
    ("v1", "2026-11-01T10:00:00Z", "A", "101", {}), ("v1", "2026-11-01T10:01:00Z", "X", "102", {}),
    ("v1", "2026-11-01T10:02:00Z", "B", "103", {}), ("v1", "2026-11-01T10:03:00Z", "C", "104", {}),
    ("v2", "2026-11-01T11:00:00Z", "B", "201", {}), ("v2", "2026-11-01T11:01:00Z", "A", "202", FACEBOOK),
    ("v2", "2026-11-01T11:02:00Z", "C", "203", {}),
    ("v3", "2026-11-01T12:00:00Z", "A", "301", {}), ("v3", "2026-11-01T12:00:10Z", "B", "302", {}),
    ("v3", "2026-11-01T12:00:40Z", "C", "303", {}),
    # the window's end is inclusive; C is after `to` (only the first step must be in [from, to))
    ("edge", "2026-11-01T23:00:00Z", "A", "401", {}), ("edge", "2026-11-01T23:30:00Z", "B", "402", {}),
    ("edge", "2026-11-02T00:00:01Z", "C", "403", {}),
    # Berlin's repeated 02:xx hour and an event just before it
    ("dst", "2026-10-25T02:30:00+02:00", "page_view", "501", {}), ("dst", "2026-10-25T02:30:00+01:00", "page_view", "502", {}),
    ("dst", "2026-10-25T02:45:00+01:00", "page_view", "503", {}), ("dst", "2026-10-25T01:59:59+02:00", "page_view", "504", {}),
    # New York's repeated 01:xx hour
    ("ny", "2026-11-01T01:30:00-04:00", "page_view", "601", {}), ("ny", "2026-11-01T01:30:00-05:00", "page_view", "602", {}),
)
NOV_1 = {"from": "2026-11-01T00:00:00Z", "to": "2026-11-02T00:00:00Z"}
CRAFTED_CALLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("any order: the earliest matched event must pass the filters", "funnel",
     {**NOV_1, "steps": ["A", "B"], "order": "any", "source": "facebook"}),
    ("any order: at equal timestamps the earliest is the smaller event_id, and it must pass the filters", "funnel",
     {**NOV_1, "steps": ["TA", "TB"], "order": "any", "source": "facebook"}),
    ("any order: the path's first event is the earliest, ties by event_id", "funnel",
     {**NOV_1, "steps": ["TA", "TB"], "order": "any", "group_by": "source"}),
    ("ordered: same-timestamp events follow event_id", "funnel", {**NOV_1, "steps": ["TA", "TB"]}),
    ("strict: same-timestamp events follow event_id", "funnel", {**NOV_1, "steps": ["TB", "TA"], "order": "strict"}),
    ("ordered", "funnel", {**NOV_1, "steps": ["A", "B", "C"]}),
    ("strict", "funnel", {**NOV_1, "steps": ["A", "B", "C"], "order": "strict"}),
    ("any", "funnel", {**NOV_1, "steps": ["A", "B", "C"], "order": "any"}),
    ("window end inclusive", "funnel", {**NOV_1, "steps": ["A", "B", "C"], "window": "30m"}),
    ("window end inclusive, next step after `to`", "funnel", {**NOV_1, "steps": ["A", "B", "C"], "window": "2h"}),
    ("hour buckets of the repeated Berlin hour, from/to inside buckets", "get_stats",
     {"from": "2026-10-25T02:00:01+02:00", "to": "2026-10-25T02:40:00+01:00", "interval": "hour", "timezone": "Europe/Berlin"}),
    ("hour buckets across the Berlin change", "get_stats",
     {"from": "2026-10-24T23:00:00+02:00", "to": "2026-10-25T05:00:00+01:00", "interval": "hour", "timezone": "Europe/Berlin"}),
    ("hour buckets across the New York change", "get_stats",
     {"from": "2026-11-01T00:00:00-04:00", "to": "2026-11-01T03:00:00-05:00", "interval": "hour", "timezone": "America/New_York"}),
    ("a 25-hour day and its previous period", "get_stats",
     {"from": "2026-10-24T00:00:00+02:00", "to": "2026-10-27T00:00:00+01:00", "interval": "day", "timezone": "Europe/Berlin",
      "compare": "previous_period"}),
    ("weeks start on Monday", "get_stats",
     {"from": "2026-10-01T00:00:00Z", "to": "2026-11-10T00:00:00Z", "interval": "week", "timezone": "America/New_York",
      "group_by": "event"}),
    ("month buckets", "get_stats",
     {"from": "2026-09-15T00:00:00Z", "to": "2026-11-10T00:00:00Z", "interval": "month", "compare": "previous_period"}),
    ("raw events", "query_events", {"from": "2026-10-01T00:00:00Z", "to": "2026-11-10T00:00:00Z", "limit": 1000}),
)


@pytest.fixture(scope="module")
def crafted(stack: Stack, mcp: McpRunner) -> tuple[Scope, list[dict[str, Any]]]:
    """A project holding only CRAFTED, sent through the real pipeline."""
    async def build() -> tuple[Any, list[dict[str, Any]]]:
        from tests.support.mcp_client import mcp_client, tool_data
        account = await create_account(stack.dsn, "pro", domains=DOMAINS)
        project = account.projects[0]
        events = []
        async with mcp_client(stack.mcp_url, project.sk) as client:
            for visitor, at, name, suffix, props in CRAFTED:
                event_id = f"00000000-0000-4000-8000-000000000{suffix}"
                tool_data(await client.call_tool("track_event", {
                    "event": name, "anonymous_id": visitor, "timestamp": at, "event_id": event_id, "properties": props}))
                events.append(attributed({"event_id": event_id, "timestamp": model.parse_instant(at), "event": name,
                                          "anonymous_id": visitor, "user_id": None, "properties": props}, str(project.project_id)))
        conn = await asyncpg.connect(stack.dsn)
        try:
            await _wait_count(conn, project.project_id, len(events))
        finally:
            await conn.close()
        return project, events

    project, events = mcp.run(build())
    visible = [{"project_id": str(project.project_id), "slug": project.slug, "name": "Project 0", "time_zone": "UTC",
                "created_at": datetime.now(UTC)}]
    return Scope(stack.mcp_url, project.rk, visible, False, "rk of the crafted project"), events


@pytest.mark.parametrize(("case", "tool", "args"), CRAFTED_CALLS, ids=[c[0] for c in CRAFTED_CALLS])
def test_crafted_case_matches_the_model(crafted: tuple[Scope, list[dict[str, Any]]], mcp: McpRunner, case: str, tool: str,
                                        args: dict[str, Any]) -> None:
    scope, events = crafted
    compute = {"funnel": model.funnel, "get_stats": model.get_stats, "query_events": model.query_events}[tool]
    rows, meta, expected = call_and_model(mcp, scope, tool, args, lambda now: compute(events, scope.visible, args, now=now))
    what = f"{case}: {tool}({json.dumps(args)})"
    assert_meta(meta, expected["meta"], what, ("from", "to", "timezone"))
    assert_rows(rows, expected["rows"], what)

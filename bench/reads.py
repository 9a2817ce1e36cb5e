"""Benchmark 5, reads: read latency at scale through the gateway, each next to a plain SQL reference.

Dataset: `reads_events` realistic events (bench.dataset, written through the ingest worker's own
sink) over 30 days across `reads_projects` projects of one Business account, the first project
holding `reads_big_share` of them (the issue: 10 M / 100 / 3 M). Every project is in UTC.

Each case is one call made the way an agent makes it — raw handshake-era JSON-RPC POSTed to the
gateway with a project rk_ key (or the account's ak_ key), one at a time on a kept-alive connection
— and its reference: the same answer computed by one plain SQL query (or two, for the schema) over
the raw events table, sent with asyncpg straight to PostgreSQL (no HTTP, no JSON). After one
warm-up call of each, gateway and reference calls alternate until `reads_case_budget_s` is used and
each side has `reads_min_samples` samples (3 for a case slower than that), or `reads_max_samples`.
The answers are compared, so a layout that is fast but wrong shows up as a mismatch.

Windows: reads cover the last 15 days (to = the start of tomorrow, UTC); `compare` adds the 15 days
before, so together they span the whole 30 days. "speed-up" = reference p50 / gateway p50: above 1
the gateway (with its layout) beats a plain scan of the raw events.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import asyncpg

from . import rpc
from .config import Scale
from .dataset import ProjectSpec, load
from .infra import Infra
from .results import Outcome, Target
from .stats import fmt_ms, fmt_ratio, percentile, ratio
from .tenants import Account, create_account

logger = logging.getLogger(__name__)

WINDOW_DAYS: Final = 15
SLOW_CASE_SAMPLES: Final = 3
FUNNEL_STEPS: Final = ("page_view", "signup", "purchase")
FUNNEL_WINDOW: Final = timedelta(days=7)
SERVICE_TIMEOUTS: Final = {
    # Measure slow reads instead of failing them: the defaults (10 s statement, 12 s fan-out) would
    # turn a full scan of a large project into an error.
    "QUERY_STATEMENT_TIMEOUT_MS": "120000", "QUERY_FANOUT_DEADLINE_S": "120", "GATEWAY_QUERY_TIMEOUT_S": "125",
}


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @property
    def previous(self) -> Window:
        return Window(self.start - (self.end - self.start), self.start)

    def args(self) -> dict[str, str]:
        return {"from": self.start.isoformat().replace("+00:00", "Z"), "to": self.end.isoformat().replace("+00:00", "Z")}


@dataclass
class Case:
    name: str
    short: str
    """For the summary line."""
    target_s: float | None
    call: Callable[[], Awaitable[Any]]
    """Gateway call; returns the comparable answer."""
    reference: Callable[[], Awaitable[Any]]
    """Plain SQL; returns the comparable answer."""
    gateway_s: list[float] = field(default_factory=list)
    reference_s: list[float] = field(default_factory=list)
    match: bool | None = None
    mismatch: str = ""
    error: str = ""

    def p(self, side: str, q: float) -> float:
        return percentile(self.gateway_s if side == "gateway" else self.reference_s, q)


# --- answers in a comparable form -------------------------------------------------------------

def _stats_total(rows: list[dict[str, Any]], metric: str) -> Any:
    """(sum of the metric, sum of `previous`) — or the first value that is not an integer."""
    for r in rows:
        for name in (metric, "previous"):
            if name in r and (not isinstance(r[name], int) or isinstance(r[name], bool)):
                return f"{name} is not an integer: {r[name]!r} ({type(r[name]).__name__})"
    return (sum(r[metric] for r in rows), sum(r.get("previous", 0) for r in rows))


def _canonical(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=lambda r: tuple("" if v is None else str(v) for v in r))


class Reads:
    """The calls and reference queries of one dataset."""

    def __init__(self, http: aiohttp.ClientSession, conn: asyncpg.Connection, mcp_url: str, account_url: str,
                 account: Account, window: Window) -> None:
        self.http, self.conn = http, conn
        self.mcp_url, self.account_url = mcp_url, account_url
        self.account = account
        self.big = account.projects[0]
        self.window = window
        self.cursor: str | None = None
        self.page_one_last: tuple[datetime, uuid.UUID] | None = None

    async def tool(self, name: str, arguments: dict[str, Any], *, account: bool = False) -> Any:
        url, key = (self.account_url, self.account.ak) if account else (self.mcp_url, self.big.rk)
        message, _ = await rpc.post(self.http, url, rpc.tool_call(name, arguments), key)
        return rpc.result_of(message)

    # get_stats ---------------------------------------------------------------------------------
    def stats_call(self, metric: str, compare: bool) -> Callable[[], Awaitable[Any]]:
        async def call() -> Any:
            args = {**self.window.args(), "metric": metric, "interval": "day", "group_by": "source,medium"}
            if compare:
                args["compare"] = "previous_period"
            data = await self.tool("get_stats", args)
            return _stats_total(data["rows"], metric)
        return call

    def stats_reference(self, metric: str, compare: bool) -> Callable[[], Awaitable[Any]]:
        value = "count(*)" if metric == "count" else "count(DISTINCT visitor_id)"
        start = self.window.previous.start if compare else self.window.start
        sql = (f"SELECT timestamp >= $3 AS current, date_trunc('day', timestamp AT TIME ZONE 'UTC')::date AS day, "
               f"source, medium, {value} AS v FROM events WHERE project_id = $1 AND timestamp >= $2 AND timestamp < $4 "
               "GROUP BY 1, 2, 3, 4")

        async def reference() -> Any:
            rows = await self.conn.fetch(sql, self.big.project_id, start, self.window.start, self.window.end)
            return (sum(r["v"] for r in rows if r["current"]), sum(r["v"] for r in rows if not r["current"]))
        return reference

    # top_sources -------------------------------------------------------------------------------
    async def top_sources(self) -> Any:
        data = await self.tool("top_sources", {**self.window.args(), "breakdown": "source_medium", "limit": 20})
        return [(r["source"], r["medium"], r["events"], r["uniques"]) for r in data["rows"]]

    async def top_sources_reference(self) -> Any:
        rows = await self.conn.fetch(
            "SELECT source, medium, count(*) AS events, count(DISTINCT visitor_id) AS uniques, sum(count(*)) OVER () AS total "
            "FROM events WHERE project_id = $1 AND timestamp >= $2 AND timestamp < $3 "
            "GROUP BY source, medium ORDER BY events DESC, source, medium LIMIT 20",
            self.big.project_id, self.window.start, self.window.end)
        return [(r["source"], r["medium"], r["events"], r["uniques"]) for r in rows]

    # funnel ------------------------------------------------------------------------------------
    async def funnel(self) -> Any:
        data = await self.tool("funnel", {**self.window.args(), "steps": list(FUNNEL_STEPS), "window": "7d"})
        return [r["visitors"] for r in data["rows"]]

    async def funnel_reference(self) -> Any:
        # Ordered funnel in one statement: per step event, the time of the earliest later purchase
        # (np) and, for each page view, the earliest np among later signups — which is the np of the
        # first later signup, because np never decreases along a visitor's events. A visitor reaches
        # step 2 (3) when some page view in the window has a signup (that signup's purchase) within
        # the window of it. Later events come first in the DESC frame, so the frames only grow.
        row = await self.conn.fetchrow(
            """
            WITH ev AS (
                SELECT visitor_id, timestamp, event_id, event FROM events
                WHERE project_id = $1 AND timestamp >= $2 AND timestamp < $3::timestamptz + $4::interval
                  AND event IN ('page_view', 'signup', 'purchase')
            ), np AS (
                SELECT *, min(timestamp) FILTER (WHERE event = 'purchase') OVER later AS next_purchase
                FROM ev WINDOW later AS (PARTITION BY visitor_id ORDER BY timestamp DESC, event_id DESC
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            ), ns AS (
                SELECT *, min(timestamp) FILTER (WHERE event = 'signup') OVER later AS next_signup,
                          min(next_purchase) FILTER (WHERE event = 'signup') OVER later AS next_purchase_via_signup
                FROM np WINDOW later AS (PARTITION BY visitor_id ORDER BY timestamp DESC, event_id DESC
                                         ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
            )
            SELECT count(DISTINCT visitor_id) AS s1,
                   count(DISTINCT visitor_id) FILTER (WHERE next_signup <= timestamp + $4::interval) AS s2,
                   count(DISTINCT visitor_id) FILTER (WHERE next_purchase_via_signup <= timestamp + $4::interval) AS s3
            FROM ns WHERE event = 'page_view' AND timestamp >= $2 AND timestamp < $3
            """,
            self.big.project_id, self.window.start, self.window.end, FUNNEL_WINDOW)
        assert row is not None
        return [row["s1"], row["s2"], row["s3"]]

    # query_events ------------------------------------------------------------------------------
    async def events_page(self, page: int) -> Any:
        args: dict[str, Any] = {**self.window.args(), "limit": 50}
        if page == 2:
            if self.cursor is None:
                await self.events_page(1)
            args["cursor"] = self.cursor
        data = await self.tool("query_events", args)
        if page == 1:
            self.cursor = data["meta"]["next_cursor"]
        return [r["event_id"] for r in data["rows"]]

    async def events_page_reference(self, page: int) -> Any:
        cols = "project_id, event_id, timestamp, event, anonymous_id, user_id, source, medium, campaign, properties::text"
        base = f"SELECT {cols} FROM events WHERE project_id = $1 AND timestamp >= $2 AND timestamp < $3"
        order = " ORDER BY timestamp DESC, event_id DESC LIMIT 51"
        params: list[Any] = [self.big.project_id, self.window.start, self.window.end]
        if page == 2:
            if self.page_one_last is None:
                await self.events_page_reference(1)
            assert self.page_one_last is not None
            rows = await self.conn.fetch(base + " AND (timestamp, event_id) < ($4, $5)" + order, *params, *self.page_one_last)
        else:
            rows = await self.conn.fetch(base + order, *params)
            self.page_one_last = (rows[49]["timestamp"], rows[49]["event_id"])
        return [str(r["event_id"]) for r in rows[:50]]

    # schema://events ---------------------------------------------------------------------------
    async def schema(self) -> Any:
        message, _ = await rpc.post(self.http, self.mcp_url, rpc.resource_read("schema://events"), self.big.rk)
        return {r["event"]: r["events"] for r in rpc.result_of(message)["rows"]}

    async def schema_reference(self) -> Any:
        since = datetime.now(UTC) - timedelta(days=30)
        names = await self.conn.fetch(
            "SELECT event, count(*) AS events, max(timestamp) AS last_seen FROM events "
            "WHERE project_id = $1 AND timestamp >= $2 GROUP BY event ORDER BY events DESC, event LIMIT 200",
            self.big.project_id, since)
        await self.conn.fetch(
            "WITH sample AS (SELECT event, properties FROM events WHERE project_id = $1 AND timestamp >= $2 "
            "ORDER BY timestamp DESC LIMIT 20000) "
            "SELECT event, kv.key, count(*) AS n, (array_agg(DISTINCT left(kv.value::text, 80)))[1:3] AS examples "
            "FROM sample, jsonb_each(sample.properties) kv GROUP BY event, kv.key ORDER BY event, n DESC, kv.key",
            self.big.project_id, since)
        return {r["event"]: r["events"] for r in names}

    # compare_projects (account endpoint) -------------------------------------------------------
    async def compare_projects(self) -> Any:
        data = await self.tool("compare_projects", {**self.window.args(), "metric": "count"}, account=True)
        return _canonical([(r["project_id"], r["value"]) for r in data["rows"]])

    async def compare_projects_reference(self) -> Any:
        ids = [p.project_id for p in self.account.projects]
        rows = await self.conn.fetch(
            "SELECT p.id AS project_id, coalesce(e.n, 0) AS value FROM unnest($1::uuid[]) AS p(id) LEFT JOIN ("
            " SELECT project_id, count(*) AS n FROM events WHERE project_id = ANY($1::uuid[])"
            " AND timestamp >= $2 AND timestamp < $3 GROUP BY project_id) e ON e.project_id = p.id",
            ids, self.window.start, self.window.end)
        return _canonical([(str(r["project_id"]), r["value"]) for r in rows])

    def cases(self) -> list[Case]:
        return [
            Case("get_stats count/day by source,medium", "stats count", 0.1, self.stats_call("count", False),
                 self.stats_reference("count", False)),
            Case("get_stats uniques/day by source,medium", "stats uniques", 0.1, self.stats_call("uniques", False),
                 self.stats_reference("uniques", False)),
            Case("get_stats count/day by source,medium +compare", "stats count+cmp", 0.1, self.stats_call("count", True),
                 self.stats_reference("count", True)),
            Case("get_stats uniques/day by source,medium +compare", "stats uniques+cmp", 0.1, self.stats_call("uniques", True),
                 self.stats_reference("uniques", True)),
            Case("top_sources source_medium", "top_sources", 0.1, self.top_sources, self.top_sources_reference),
            Case("funnel 3 steps, 7d window", "funnel", 1.0, self.funnel, self.funnel_reference),
            Case("query_events page 1", "events p1", 0.1, lambda: self.events_page(1), lambda: self.events_page_reference(1)),
            Case("query_events page 2 (cursor)", "events p2", 0.1, lambda: self.events_page(2),
                 lambda: self.events_page_reference(2)),
            Case("schema://events", "schema", None, self.schema, self.schema_reference),
            Case("compare_projects (account)", "compare_projects", 0.3, self.compare_projects, self.compare_projects_reference),
        ]


def _same(name: str, got: Any, want: Any) -> tuple[bool, str]:
    if name == "schema://events":
        # Its 30-day edge moves between the two calls; counts may differ by the events crossing it.
        ok = got.keys() == want.keys() and all(abs(got[k] - want[k]) <= 2 + want[k] // 10_000 for k in want)
    else:
        ok = got == want
    return ok, "" if ok else f"gateway {json.dumps(got, default=str)[:300]} vs SQL {json.dumps(want, default=str)[:300]}"


async def _timed(fn: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    started = time.perf_counter()
    answer = await fn()
    return answer, time.perf_counter() - started


async def measure(case: Case, scale: Scale) -> None:
    """Warm up both sides, then alternate them until the sample rules are met."""
    try:
        got, _ = await _timed(case.call)
        want, _ = await _timed(case.reference)
        case.match, case.mismatch = _same(case.name, got, want)
        began = time.monotonic()
        while True:
            spent = time.monotonic() - began
            n = min(len(case.gateway_s), len(case.reference_s))
            if n >= scale.reads_max_samples:
                break
            if n >= scale.reads_min_samples and spent >= scale.reads_case_budget_s:
                break
            if n >= SLOW_CASE_SAMPLES and spent >= scale.reads_case_budget_s:  # a slow case: three samples will do
                break
            case.gateway_s.append((await _timed(case.call))[1])
            case.reference_s.append((await _timed(case.reference))[1])
    except Exception as exc:  # report the case as failed and go on with the others
        case.error = f"{type(exc).__name__}: {str(exc)[:300]}"
        logger.warning("read case %s failed: %s", case.name, case.error)


def dataset_specs(account: Account, scale: Scale) -> list[ProjectSpec]:
    total = scale.reads_events
    big = int(total * scale.reads_big_share) if len(account.projects) > 1 else total
    rest = total - big
    others = len(account.projects) - 1
    specs = [ProjectSpec(account.projects[0].project_id, account.projects[0].domain, big, seed=1)]
    for i, p in enumerate(account.projects[1:]):
        specs.append(ProjectSpec(p.project_id, p.domain, rest // others + (1 if i < rest % others else 0), seed=2 + i))
    return [s for s in specs if s.events > 0]


async def run(infra: Infra, scale: Scale) -> Outcome:
    dsn = await infra.database("bench_reads")
    topic = await infra.topic("reads", partitions=1)
    account = await create_account(dsn, projects=scale.reads_projects)
    specs = dataset_specs(account, scale)
    loaded = await load(dsn, specs, days=30)
    stack = infra.stack(dsn, topic, SERVICE_TIMEOUTS)
    stack.start_serving(ingest_workers=0)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    window = Window(today + timedelta(days=1) - timedelta(days=WINDOW_DAYS), today + timedelta(days=1))
    conn = await asyncpg.connect(dsn, command_timeout=600)
    try:
        await conn.execute("SET statement_timeout = 0")
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            reads = Reads(http, conn, stack.mcp_url, stack.mcp_account_url, account, window)
            cases = reads.cases()
            for case in cases:
                await measure(case, scale)
                logger.info("%s: gateway p50 %s, SQL p50 %s", case.name, fmt_ms(case.p("gateway", 50)), fmt_ms(case.p("reference", 50)))
    finally:
        await conn.close()
        stack.stop_all()
    return _outcome(cases, specs, loaded, scale)


def _outcome(cases: list[Case], specs: list[ProjectSpec], loaded: dict[str, float], scale: Scale) -> Outcome:
    size = f"{scale.reads_events:,} events / {len(specs)} projects, big {specs[0].events:,}"
    full = scale.reads_events >= 10_000_000
    header = ["case", "gateway p50", "gateway p95", "SQL p50", "SQL p95", "speed-up", "target", "n", "answer"]
    rows = []
    targets = []
    columns: dict[str, str] = {"dataset": size + ("" if full else " (scaled down; --full for 10 M)")}
    for c in cases:
        g50, ref50 = c.p("gateway", 50), c.p("reference", 50)
        speedup = ratio(ref50, g50)
        answer = "ERROR" if c.error else ("same" if c.match else "MISMATCH")
        target = f"≤ {fmt_ms(c.target_s)}" if c.target_s else "-"
        rows.append([c.name, fmt_ms(g50), fmt_ms(c.p("gateway", 95)), fmt_ms(ref50), fmt_ms(c.p("reference", 95)),
                     fmt_ratio(speedup), target, str(len(c.gateway_s)), answer])
        columns[c.name] = f"{fmt_ms(g50)} / {fmt_ms(c.p('gateway', 95))} (SQL {fmt_ms(ref50)}, {fmt_ratio(speedup)})" + (
            "" if answer == "same" else f" {answer}")
        if c.target_s:
            # A fast wrong answer meets nothing.
            met = None if c.error or not c.gateway_s else (g50 <= c.target_s and c.match is not False)
            targets.append(Target(f"reads: {c.name} p50 ≤ {fmt_ms(c.target_s)}", met,
                                  f"{fmt_ms(g50)} (plain SQL {fmt_ms(ref50)}) on {size}"
                                  + (" — but the answer differs from plain SQL" if c.match is False else "")))
    met_count = sum(1 for t in targets if t.met)
    bad = [c.short for c in cases if c.error or c.match is False]
    summary = (f"reads: {met_count}/{len(targets)} targets met on {size}; p50 gateway (plain SQL): "
               + ", ".join(f"{c.short} {fmt_ms(c.p('gateway', 50))} ({fmt_ms(c.p('reference', 50))})" for c in cases)
               + (f"; WRONG ANSWER OR ERROR: {', '.join(bad)}" if bad else "; every answer equals plain SQL's"))
    notes = [f"loaded {int(loaded['events']):,} events in {loaded['load_s']:.0f}s ({loaded['rate']:,.0f}/s) through "
             f"millimetric_ingest.sink.write_rows, VACUUM ANALYZE {loaded['vacuum_s']:.0f}s"]
    if not full:
        notes.append(f"dataset scaled down to fit the 15-minute budget: {size}; `python -m bench reads --full` loads 10 M")
    for c in cases:
        if c.error:
            notes.append(f"{c.name}: {c.error}")
        elif c.match is False:
            notes.append(f"{c.name}: answers differ: {c.mismatch}")
    columns["load ev/s"] = f"{loaded['rate']:,.0f}"
    return Outcome(
        name="reads", summary=summary, columns=columns, targets=targets, notes=notes,
        description=("p50 / p95 latency of each read through the gateway (raw JSON-RPC, sequential, after warm-up) and, "
                     "in parentheses, the p50 of the same answer computed by plain SQL over the raw events table and the "
                     "speed-up (SQL p50 / gateway p50). Window: the last 15 days of a 30-day dataset (compare adds the 15 "
                     "before). Targets: ≤ 100 ms p50 for get_stats, top_sources, query_events; ≤ 1 s funnel; ≤ 300 ms "
                     "compare_projects over all projects."),
        extra_tables=[("per case", header, rows)],
    )

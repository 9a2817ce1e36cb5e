"""funnel: visitors converting through ordered steps within a window (docs/analytics.md).

PostgreSQL selects the candidate visitors and marks, per event, which steps it matches (a bit mask)
and whether it passes the filters; the path search runs here, per visitor, because "earliest
start reaching the most steps" and the `strict`/`any` rules are sequence logic, not aggregates.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from millimetric_protocol.errors import InvalidArguments
from millimetric_protocol.methods import AccountFunnelArgs, FunnelArgs, FunnelStep, selection_of
from millimetric_protocol.reads import ReadResult

from ..context import ReadContext
from ..fanout import fan_out
from ..filters import Sql, filter_clauses, properties_clause
from ..scope import Project, resolve
from ..window import Window, resolve_window


@dataclass(frozen=True)
class Ev:
    ts: datetime
    mask: int
    passes: bool
    group: Any


@dataclass
class Tally:
    """One group's per-step visitor counts and step-to-step durations (seconds)."""

    visitors: list[int]
    seconds: list[list[float]] = field(default_factory=list)


def _step_sql(sql: Sql, step: FunnelStep) -> str:
    clause = f"event = {sql.param(step.event)}"
    if step.properties:
        clause += " AND " + properties_clause(sql, step.properties)
    return f"({clause})"


async def _fetch(ctx: ReadContext, project: Project, args: Any, steps: list[FunnelStep], window: Window,
                 window_s: int) -> dict[str, list[Ev]]:
    sql = Sql()
    pid = sql.param(project.project_id)
    start, end = sql.param(window.start), sql.param(window.end)
    horizon = sql.param(window.end + timedelta(seconds=window_s))
    step_conds = [_step_sql(sql, s) for s in steps]
    mask = " + ".join(f"(CASE WHEN {c} THEN {1 << i} ELSE 0 END)" for i, c in enumerate(step_conds))
    filters = filter_clauses(sql, args, include_event=False)
    passes = " AND ".join(filters) if filters else "TRUE"
    first = step_conds[0] if args.order != "any" else "(" + " OR ".join(step_conds) + ")"
    group = args.group_by or "NULL"
    only_steps = "" if args.order == "strict" else f"AND ({' OR '.join(step_conds)})"
    query = f"""
        SELECT visitor_id, timestamp, {mask} AS mask, ({passes}) AS passes, {group} AS grp
        FROM events
        WHERE project_id = {pid} AND timestamp >= {start} AND timestamp < {horizon} {only_steps}
          AND visitor_id IN (
              SELECT visitor_id FROM events
              WHERE project_id = {pid} AND timestamp >= {start} AND timestamp < {end} AND {first} AND {passes})
        ORDER BY visitor_id, timestamp, event_id
    """
    by_visitor: dict[str, list[Ev]] = defaultdict(list)
    async with ctx.pool.acquire() as conn:
        for r in await conn.fetch(query, *sql.params):
            by_visitor[r["visitor_id"]].append(Ev(r["timestamp"], r["mask"], r["passes"], r["grp"]))
    return by_visitor


def _is_start(ev: Ev, window: Window) -> bool:
    return ev.passes and window.start <= ev.ts < window.end


def ordered_path(events: list[Ev], n: int, window: Window, span: timedelta, strict: bool) -> list[int]:
    """Indices of the best path: the earliest start reaching the most steps, each next step the
    earliest later event matching it (strict: the very next event) within start + span."""
    best: list[int] = []
    for s, ev in enumerate(events):
        if not (ev.mask & 1 and _is_start(ev, window)):
            continue
        path, limit, j = [s], ev.ts + span, s
        for k in range(1, n):
            bit = 1 << k
            candidates = range(j + 1, j + 2) if strict else range(j + 1, len(events))
            nxt = next((i for i in candidates if i < len(events) and events[i].mask & bit and events[i].ts <= limit), None)
            if nxt is None:
                break
            path.append(nxt)
            j = nxt
        if len(path) > len(best):
            best = path
            if len(best) == n:
                break
    return best


def _match(steps: list[int], pool: list[int], events: list[Ev]) -> bool:
    """Can every step in `steps` get its own event from `pool`? (bipartite matching, augmenting paths)"""
    owner: dict[int, int] = {}

    def assign(step: int, seen: set[int]) -> bool:
        for i in pool:
            if events[i].mask & (1 << step) and i not in seen:
                seen.add(i)
                if i not in owner or assign(owner[i], seen):
                    owner[i] = step
                    return True
        return False

    return all(assign(step, set()) for step in steps)


def any_order_level(events: list[Ev], n: int, window: Window, span: timedelta) -> tuple[int, int | None]:
    """(furthest step, index of the path's earliest event) when steps may happen in any order."""
    best, anchor_of_best = 0, None
    for a, ev in enumerate(events):
        if not (ev.mask and _is_start(ev, window)):
            continue
        # The anchor is the path's earliest event in (timestamp, event_id) order: only later events join it.
        pool = [i for i in range(a + 1, len(events)) if events[i].ts <= ev.ts + span]
        for k in range(n, best, -1):
            if any(ev.mask & (1 << j) and _match([s for s in range(k) if s != j], pool, events) for j in range(k)):
                best, anchor_of_best = k, a
                break
        if best == n:
            break
    return best, anchor_of_best


def _tally(by_visitor: dict[str, list[Ev]], n: int, window: Window, span: timedelta, order: str) -> dict[Any, Tally]:
    tallies: dict[Any, Tally] = {}
    for events in by_visitor.values():
        if order == "any":
            level, anchor = any_order_level(events, n, window, span)
            if not level or anchor is None:
                continue
            group, durations = events[anchor].group, []
        else:
            path = ordered_path(events, n, window, span, strict=order == "strict")
            if not path:
                continue
            level, group = len(path), events[path[0]].group
            durations = [(events[path[k]].ts - events[path[k - 1]].ts).total_seconds() for k in range(1, level)]
        tally = tallies.setdefault(group, Tally([0] * n, [[] for _ in range(n)]))
        for k in range(level):
            tally.visitors[k] += 1
            if k and durations:
                tally.seconds[k].append(durations[k - 1])
    return tallies


def _rows(steps: list[FunnelStep], tally: Tally, median: bool) -> list[dict[str, Any]]:
    rows = []
    first = tally.visitors[0]
    for k, step in enumerate(steps):
        v = tally.visitors[k]
        prev = tally.visitors[k - 1] if k else None
        rows.append({
            "step": k + 1,
            "event": step.event,
            "visitors": v,
            "conversion_from_previous": None if not prev else v / prev,
            "conversion_from_start": None if not first else v / first,
            "dropoff": 0 if prev is None else prev - v,
            "median_seconds_from_previous": statistics.median(tally.seconds[k]) if median and k and tally.seconds[k] else None,
        })
    return rows


async def funnel(ctx: ReadContext) -> ReadResult:
    args: FunnelArgs = ctx.args(FunnelArgs, AccountFunnelArgs)
    if args.event is not None:
        raise InvalidArguments("funnel does not take an `event` filter; name the events in `steps`", "arguments.event")
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, selection_of(args))
    window = resolve_window(args.from_, args.to, projects.time_zone(args.timezone))
    steps = args.normalized_steps()
    window_s = args.window_s()
    span = timedelta(seconds=window_s)

    async def part(project: Project) -> dict[Any, Tally]:
        return _tally(await _fetch(ctx, project, args, steps, window, window_s), len(steps), window, span, args.order)

    parts = await fan_out(projects.items, part, concurrency=ctx.settings.fanout_concurrency,
                          deadline_s=ctx.settings.fanout_deadline_s)
    merged: dict[Any, Tally] = {}
    for tallies in parts:
        for group, t in tallies.items():
            m = merged.setdefault(group, Tally([0] * len(steps), [[] for _ in steps]))
            m.visitors = [a + b for a, b in zip(m.visitors, t.visitors)]
            for k in range(len(steps)):
                m.seconds[k].extend(t.seconds[k])
    median = args.order != "any"
    rows: list[dict[str, Any]] = []
    if args.group_by is None:
        rows = _rows(steps, merged.get(None, Tally([0] * len(steps), [[] for _ in steps])), median)
        order = "step"
    else:
        for group, tally in sorted(merged.items(), key=lambda gt: (-gt[1].visitors[0], gt[0] is None, gt[0] or "")):
            rows.extend({args.group_by: group, **row} for row in _rows(steps, tally, median))
        order = f"{args.group_by} by step-1 visitors desc, then {args.group_by} asc (null last), then step"
    meta = {**window.meta(), "window": args.window, "window_seconds": window_s, "order_mode": args.order, "order": order,
            "truncated": False,
            "definition": "visitors at step k = visitors whose furthest step reached within the window is at least k"}
    return ReadResult(rows=rows, meta=meta)

"""top_sources: traffic by source (or source and medium), events descending."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from millimetric_protocol.methods import AccountTopSourcesArgs, TopSourcesArgs, selection_of
from millimetric_protocol.reads import ReadResult

from ..context import ReadContext
from ..fanout import fan_out
from ..filters import Sql, event_filters
from ..rollups import TABLES, rollup_for
from ..scope import Project, resolve
from ..window import Window, resolve_window

Part = dict[tuple[str, ...], tuple[int, int]]


async def _part(ctx: ReadContext, project: Project, args: Any, window: Window, columns: tuple[str, ...]) -> Part:
    counts = rollup_for("count", args, columns, window) if ctx.settings.use_rollups else None
    if counts is None:  # raw events: both figures in one scan
        sql = Sql()
        event_filters(sql, args, [project.project_id], window)
        cols = ", ".join(columns)
        async with ctx.pool.acquire() as conn:
            rows = await conn.fetch(
                f"SELECT {cols}, count(*) AS events, count(DISTINCT visitor_id) AS uniques FROM events WHERE {sql.sql} GROUP BY {cols}",
                *sql.params,
            )
        return {tuple(r[c] for c in columns): (r["events"], r["uniques"]) for r in rows}
    events = await _rollup(ctx, project, args, window, columns, "count")
    uniques = await _rollup(ctx, project, args, window, columns, "uniques")
    return {key: (n, uniques.get(key, 0)) for key, n in events.items()}


async def _rollup(ctx: ReadContext, project: Project, args: Any, window: Window, columns: tuple[str, ...], metric: str) -> dict[tuple[Any, ...], int]:
    table, aggregate = TABLES[metric]
    sql = Sql()
    event_filters(sql, args, [project.project_id], window, time_column="hour")
    cols = ", ".join(columns)
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(f"SELECT {cols}, {aggregate} AS v FROM {table} WHERE {sql.sql} GROUP BY {cols}", *sql.params)
    return {tuple(r[c] for c in columns): r["v"] for r in rows}


async def top_sources(ctx: ReadContext) -> ReadResult:
    args: TopSourcesArgs = ctx.args(TopSourcesArgs, AccountTopSourcesArgs)
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, selection_of(args))
    window = resolve_window(args.from_, args.to, projects.time_zone(args.timezone))
    columns = ("source", "medium") if args.breakdown == "source_medium" else ("source",)
    parts = await fan_out(projects.items, lambda p: _part(ctx, p, args, window, columns),
                          concurrency=ctx.settings.fanout_concurrency, deadline_s=ctx.settings.fanout_deadline_s)
    totals: dict[tuple[str, ...], list[int]] = defaultdict(lambda: [0, 0])
    for part in parts:
        for key, (events, uniques) in part.items():
            totals[key][0] += events
            totals[key][1] += uniques  # visitors are per project, so uniques add up
    total_events = sum(t[0] for t in totals.values())
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1][0], *((v is None, v or "") for v in kv[0])))
    rows = []
    for key, (events, uniques) in ordered[: args.limit]:
        row: dict[str, Any] = dict(zip(columns, key))
        row.update(events=events, uniques=uniques, share=events / total_events)
        rows.append(row)
    meta = {**window.meta(), "breakdown": args.breakdown, "total_events": total_events,
            "order": "events desc, then source, medium asc", "truncated": len(ordered) > args.limit,
            "definition": "share = events / all events in the window that pass the filters; uniques = distinct visitors per project"}
    return ReadResult(rows=rows, meta=meta)

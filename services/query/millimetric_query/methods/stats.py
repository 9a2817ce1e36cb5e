"""get_stats and compare_projects (definitions: docs/analytics.md).

Each project is computed on its own (visitor identity is per project, so uniques add up across
projects) and the parts are merged; on the account endpoint the parts run through `fan_out`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Final

from millimetric_protocol import limits
from millimetric_protocol.methods import (
    PROPERTY_PREFIX,
    AccountGetStatsArgs,
    CompareProjectsArgs,
    GetStatsArgs,
    selection_of,
)
from millimetric_protocol.reads import ReadResult

from ..buckets import Bucket, buckets, sql_key
from ..context import ReadContext
from ..fanout import fan_out
from ..filters import Sql, event_filters
from ..rollups import rollup_for
from ..scope import Project, resolve
from ..window import Window, resolve_window

METRIC_SQL: Final = {
    "count": "count(*)",
    "uniques": "count(DISTINCT visitor_id)",
    "users": "count(DISTINCT user_id)",
}
DEFINITIONS: Final = {
    "count": "count = number of events",
    "uniques": "uniques = distinct visitors (anonymous_id, else user_id), per project",
    "users": "users = distinct non-empty user_id, per project",
}
DISTINCT_OF: Final = {"uniques": "visitor_id", "users": "user_id"}
"""The column a distinct-count metric counts (in events and in visitor_hours alike)."""
Counts = dict[tuple[Any, ...], int]
"""(bucket key or None, *group values) → metric value."""


def group_sql(part: str, sql: Sql) -> str:
    if part.startswith(PROPERTY_PREFIX):
        return f"properties ->> {sql.param(part[len(PROPERTY_PREFIX):])}"
    return part


async def count_groups(ctx: ReadContext, project: Project, args: Any, window: Window, metric: str,
                       groups: tuple[str, ...], interval: str | None, bucket_list: list[Bucket] | None = None) -> Counts:
    """One project's metric per (bucket, group values) over the window, from the hourly rollups
    when they answer exactly (rollups.rollup_for), else from raw events."""
    rollup = rollup_for(metric, args, groups, window, bucket_list or []) if ctx.settings.use_rollups else None
    table, aggregate, time_column = (*rollup, "hour") if rollup else ("events", METRIC_SQL[metric], "timestamp")
    sql = Sql()
    event_filters(sql, args, [project.project_id], window, time_column=time_column)
    keys = [sql_key(interval, sql.param(window.time_zone), time_column) if interval else "NULL"]
    keys += [group_sql(g, sql) for g in groups if g != "project_id"]
    select = ", ".join(f"{k} AS k{i}" for i, k in enumerate(keys))
    grouping = ", ".join(str(i + 1) for i in range(len(keys)))
    distinct = DISTINCT_OF.get(metric)
    if distinct is None:
        query = f"SELECT {select}, {aggregate} AS v FROM {table} WHERE {sql.sql} GROUP BY {grouping}"
    else:
        # Distinct (keys, visitor) pairs first, then count them per key: a hash aggregate, where
        # count(DISTINCT …) would sort every group's values.
        outer = ", ".join(f"k{i}" for i in range(len(keys)))
        # count(who) skips NULL (events without a user_id) but keeps their group, with 0.
        query = (f"SELECT {outer}, count(who) AS v FROM (SELECT DISTINCT {select}, {distinct} AS who FROM {table} "
                 f"WHERE {sql.sql}) d GROUP BY {outer}")
    async with ctx.pool.acquire() as conn:
        rows = await conn.fetch(query, *sql.params)
    return {tuple(r[f"k{i}"] for i in range(len(keys))): r["v"] for r in rows}


def _sort_key(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """Ascending by code point with null last."""
    return tuple((v is None, "" if v is None else str(v)) for v in values)


def change(value: int, previous: int) -> float | None:
    return None if previous == 0 else (value - previous) / previous


async def get_stats(ctx: ReadContext) -> ReadResult:
    args: GetStatsArgs = ctx.args(GetStatsArgs, AccountGetStatsArgs)
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, selection_of(args))
    window = resolve_window(args.from_, args.to, projects.time_zone(args.timezone))
    groups = args.group_by_parts()
    periods = [window] + ([window.previous()] if args.compare else [])
    bucket_lists = [buckets(w, args.interval) if args.interval else [Bucket(None, "", w.start)] for w in periods]

    async def part(project: Project) -> list[Counts]:
        return [await count_groups(ctx, project, args, w, args.metric, groups, args.interval, b)
                for w, b in zip(periods, bucket_lists)]

    parts = await fan_out(projects.items, part, concurrency=ctx.settings.fanout_concurrency,
                          deadline_s=ctx.settings.fanout_deadline_s)
    # Merge: per period, (bucket position, group values) → value. Group values include the project
    # when grouping by project_id; otherwise projects add up.
    merged: list[dict[tuple[int, tuple[Any, ...]], int]] = [defaultdict(int) for _ in periods]
    for project, counts_per_period in zip(projects.items, parts):
        for p, counts in enumerate(counts_per_period):
            position = {b.key: i for i, b in enumerate(bucket_lists[p])}
            for (bucket_key, *values), v in counts.items():
                group = tuple(_with_project(groups, values, project))
                merged[p][(position[bucket_key], group)] += v  # every key is a listed bucket
    seen_groups = {g for period in merged for (_, g) in period} if groups else {()}
    current = bucket_lists[0]
    columns = _columns(groups)
    keyed: list[tuple[Any, dict[str, Any]]] = []
    for group in seen_groups:
        for i, bucket in enumerate(current):
            row: dict[str, Any] = {"bucket": bucket.label} if args.interval else {}
            row.update(_group_columns(groups, group, projects))
            value = merged[0].get((i, group), 0)
            row[args.metric] = value
            if args.compare:
                previous = merged[1].get((i, group), 0)
                row["previous"] = previous
                row["change"] = change(value, previous)
            group_order = _sort_key(tuple(row[c] for c in columns))
            keyed.append(((i, group_order) if args.interval else (-value, group_order), row))
    keyed.sort(key=lambda item: item[0])
    rows = [row for _, row in keyed]
    order = ("bucket asc, then group columns asc (null last)" if args.interval
             else f"{args.metric} desc, then group columns asc (null last)")
    truncated = len(rows) > limits.MAX_GROUP_ROWS and not args.interval
    if truncated:
        rows = rows[: limits.MAX_GROUP_ROWS]
    meta: dict[str, Any] = {**window.meta(), "metric": args.metric, "definition": DEFINITIONS[args.metric],
                            "order": order, "truncated": truncated}
    if args.compare:
        meta["previous"] = {"from": periods[1].start, "to": periods[1].end}
    return ReadResult(rows=rows, meta=meta)


def _columns(groups: tuple[str, ...]) -> list[str]:
    cols: list[str] = []
    for g in groups:
        cols.append(g)
        if g == "project_id":
            cols.append("slug")
    return cols


def _with_project(groups: tuple[str, ...], values: list[Any], project: Project) -> list[Any]:
    """Group values in `groups` order; the SQL yields every group but project_id."""
    out, it = [], iter(values)
    for g in groups:
        out.append(str(project.project_id) if g == "project_id" else next(it))
    return out


def _group_columns(groups: tuple[str, ...], values: tuple[Any, ...], projects: Any) -> dict[str, Any]:
    row: dict[str, Any] = {}
    for g, v in zip(groups, values):
        row[g] = v
        if g == "project_id":
            row["slug"] = next(p.slug for p in projects.items if str(p.project_id) == v)
    return row


async def compare_projects(ctx: ReadContext) -> ReadResult:
    args: CompareProjectsArgs = ctx.args(CompareProjectsArgs, CompareProjectsArgs)
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, selection_of(args))
    window = resolve_window(args.from_, args.to, projects.time_zone(None))
    periods = [window] + ([window.previous()] if args.compare else [])

    async def part(project: Project) -> list[int]:
        return [sum((await count_groups(ctx, project, args, w, args.metric, (), None)).values()) for w in periods]

    values = await fan_out(projects.items, part, concurrency=ctx.settings.fanout_concurrency,
                           deadline_s=ctx.settings.fanout_deadline_s)
    rows = []
    for project, vals in zip(projects.items, values):
        row: dict[str, Any] = {"project_id": str(project.project_id), "slug": project.slug, "name": project.name, "value": vals[0]}
        if args.compare:
            row["previous"] = vals[1]
            row["change"] = change(vals[0], vals[1])
        rows.append(row)
    rows.sort(key=lambda r: (-r["value"], r["slug"]))
    for rank, row in enumerate(rows, 1):
        row["rank"] = rank
    meta = {**window.meta(), "metric": args.metric, "definition": DEFINITIONS[args.metric],
            "order": "value desc, then slug", "truncated": False}
    return ReadResult(rows=rows, meta=meta)

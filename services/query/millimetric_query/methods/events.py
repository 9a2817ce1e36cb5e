"""query_events (keyset-paginated raw events) and the events://recent resource."""

from __future__ import annotations

from typing import Any, Final

import asyncpg
import msgspec
from millimetric_protocol import limits
from millimetric_protocol.methods import AccountQueryEventsArgs, QueryEventsArgs, selection_of
from millimetric_protocol.reads import ReadResult

from ..context import ReadContext
from ..cursor import decode_cursor, encode_cursor
from ..fanout import fan_out
from ..filters import Sql, event_filters
from ..scope import Project, Projects, resolve
from ..window import Window, resolve_window

_ROW_COLUMNS: Final = "project_id, event_id, timestamp, event, anonymous_id, user_id, source, medium, campaign, properties::text AS properties"


def event_row(r: asyncpg.Record, projects: Projects) -> dict[str, Any]:
    row: dict[str, Any] = {}
    if projects.multi:
        row["project_id"] = str(r["project_id"])
        row["slug"] = projects.by_id(r["project_id"]).slug
    row.update(
        event_id=str(r["event_id"]), timestamp=r["timestamp"], event=r["event"], anonymous_id=r["anonymous_id"],
        user_id=r["user_id"], source=r["source"], medium=r["medium"], campaign=r["campaign"],
        properties=msgspec.Raw(r["properties"].encode()),  # jsonb text passed through, not re-parsed
    )
    return row


async def _newest(ctx: ReadContext, project: Project, args: Any, window: Window | None, limit: int) -> list[asyncpg.Record]:
    """One project's newest `limit` events matching the arguments (keyset-paged by the cursor).
    Per project, so PostgreSQL walks the (project_id, timestamp, event_id) index and stops early;
    `project_id = ANY(...)` would read and sort the whole window."""
    sql = Sql()
    if window is None:
        sql.where(f"project_id = {sql.param(project.project_id)}")
    else:
        event_filters(sql, args, [project.project_id], window)
    cursor = getattr(args, "cursor", None)
    if cursor is not None:
        ts, event_id = decode_cursor(cursor)
        sql.where(f"(timestamp, event_id) < ({sql.param(ts)}, {sql.param(event_id)})")
    async with ctx.pool.acquire() as conn:
        return list(await conn.fetch(
            f"SELECT {_ROW_COLUMNS} FROM events WHERE {sql.sql} ORDER BY timestamp DESC, event_id DESC LIMIT {sql.param(limit)}",
            *sql.params,
        ))


async def _merged_newest(ctx: ReadContext, projects: Projects, args: Any, window: Window | None, limit: int) -> list[asyncpg.Record]:
    """The newest `limit` across projects: each project's newest `limit`, merged."""
    parts = await fan_out(projects.items, lambda p: _newest(ctx, p, args, window, limit),
                          concurrency=ctx.settings.fanout_concurrency, deadline_s=ctx.settings.fanout_deadline_s)
    rows = [r for part in parts for r in part]
    rows.sort(key=lambda r: (r["timestamp"], r["event_id"]), reverse=True)
    return rows[:limit]


async def query_events(ctx: ReadContext) -> ReadResult:
    args: QueryEventsArgs = ctx.args(QueryEventsArgs, AccountQueryEventsArgs)
    if args.cursor is not None:
        decode_cursor(args.cursor)  # refuse a bad cursor before touching the database
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, selection_of(args))
    window = resolve_window(args.from_, args.to, projects.time_zone(args.timezone))
    rows = await _merged_newest(ctx, projects, args, window, args.limit + 1)
    more = len(rows) > args.limit
    rows = rows[: args.limit]
    meta: dict[str, Any] = {
        **window.meta(),
        "order": "timestamp desc, event_id desc",
        "truncated": more,
        "next_cursor": encode_cursor(rows[-1]["timestamp"], rows[-1]["event_id"]) if more else None,
    }
    return ReadResult(rows=[event_row(r, projects) for r in rows], meta=meta)


async def events_recent(ctx: ReadContext) -> ReadResult:
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, None)
    rows = await _merged_newest(ctx, projects, None, None, limits.RECENT_EVENTS)
    return ReadResult(rows=[event_row(r, projects) for r in rows], meta={"order": "timestamp desc, event_id desc", "truncated": False})

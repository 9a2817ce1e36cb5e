"""Session scope for `inherit` events (docs/attribution.md §10).

An event whose only referrer is the site itself (or an ignored payment host) and that carries no
campaign value or click id takes its session's attribution. A session is a visitor's run of events
with gaps under SESSION_GAP; the value an inherit event takes is that of the visitor's previous event
in the session (stored, or earlier in the same batch), which is itself already resolved, so a chain
of internal navigation carries the landing event's values. With no previous event in the session,
the event is the session's first and stays Direct.

NOTE: if a later event in a session carries its own campaign values, inherit events after it take
those (the previous event's), not the landing event's (which Plausible's rule keeps); see §10.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any, Final

import asyncpg
import msgspec
from millimetric_protocol.events import EventMessage

from .attribution import Attribution

SESSION_GAP: Final = timedelta(minutes=30)

_PREVIOUS_SQL: Final = """
SELECT q.idx, p.timestamp, p.source, p.medium, p.campaign, p.channel, p.is_paid
FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::int[]) AS q(project_id, visitor_id, ts, event_id, idx)
CROSS JOIN LATERAL (
    SELECT e.timestamp, e.source, e.medium, e.campaign, e.channel, e.is_paid FROM events e
    WHERE e.project_id = q.project_id AND e.visitor_id = q.visitor_id
      AND e.timestamp <= q.ts AND e.timestamp > q.ts - $6::interval AND e.event_id <> q.event_id
    ORDER BY e.timestamp DESC, e.event_id DESC LIMIT 1
) p
"""


def visitor_of(message: EventMessage) -> str:
    visitor = message.anonymous_id if message.anonymous_id is not None else message.user_id
    return visitor or ""


async def resolve_sessions(conn: asyncpg.Connection, rows: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """Replace the attribution of inherit rows by their session's values. `rows` holds
    (record, Row) pairs; returns the same pairs with resolved Rows, in the original order."""
    inherit_idx = [i for i, (_, row) in enumerate(rows) if row.attribution.inherit]
    if not inherit_idx:
        return rows
    stored = await _previous_stored(conn, rows, inherit_idx)
    order = sorted(range(len(rows)), key=lambda i: (
        rows[i][1].message.project_id.int, visitor_of(rows[i][1].message), rows[i][1].message.timestamp, rows[i][1].message.event_id.int))
    resolved: list[tuple[Any, Any]] = list(rows)
    prev: int | None = None
    for i in order:
        _, row = resolved[i]
        m = row.message
        if row.attribution.inherit:
            candidates = []
            if prev is not None:
                pm = resolved[prev][1].message
                if pm.project_id == m.project_id and visitor_of(pm) == visitor_of(m) and m.timestamp - pm.timestamp < SESSION_GAP:
                    candidates.append((pm.timestamp, _values(resolved[prev][1].attribution)))
            if i in stored:
                candidates.append(stored[i])
            if candidates:
                values = max(candidates, key=lambda c: c[0])[1]
                resolved[i] = (resolved[i][0], dataclasses.replace(row, attribution=_apply(row.attribution, values)))
        prev = i
    return resolved


def _values(a: Attribution) -> tuple[str | None, str | None, str | None, str | None, bool | None]:
    return (a.source, a.medium, a.campaign, a.channel, a.is_paid)


def _apply(a: Attribution, values: tuple[Any, ...]) -> Attribution:
    source, medium, campaign, channel, is_paid = values
    return msgspec.structs.replace(a, source=source, medium=medium, campaign=campaign, channel=channel, is_paid=bool(is_paid),
                                   explain=(*a.explain, "session value inherited"))


async def _previous_stored(conn: asyncpg.Connection, rows: list[tuple[Any, Any]], idx: list[int]) -> dict[int, tuple[Any, tuple[Any, ...]]]:
    msgs = [rows[i][1].message for i in idx]
    found = await conn.fetch(
        _PREVIOUS_SQL,
        [m.project_id for m in msgs], [visitor_of(m) for m in msgs], [m.timestamp for m in msgs],
        [m.event_id for m in msgs], idx, SESSION_GAP,
    )
    return {r["idx"]: (r["timestamp"], (r["source"], r["medium"], r["campaign"], r["channel"], r["is_paid"])) for r in found}

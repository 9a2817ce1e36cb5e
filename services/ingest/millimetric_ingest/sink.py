"""One PostgreSQL transaction per batch; duplicates of `(project_id, event_id)` are skipped.

The write is one statement, one round trip per batch: `INSERT … SELECT FROM unnest(…) ON CONFLICT
DO NOTHING RETURNING …`, and in the same statement the hourly rollups (migrations/0003_rollups.sql)
are updated from the rows that INSERT actually returned. A batch replayed after a crash or a
rebalance therefore stores nothing twice and counts nothing twice, and a replay into a fresh
database rebuilds the rollups along with the events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Final

import asyncpg
import msgspec
from millimetric_protocol.events import EventMessage

from .attribution import Attribution
from .failures import Poison

_json = msgspec.json.Encoder()

COLUMNS: Final = (
    ("project_id", "uuid"), ("event_id", "uuid"), ("timestamp", "timestamptz"), ("received_at", "timestamptz"),
    ("event", "text"), ("anonymous_id", "text"), ("user_id", "text"), ("properties", "jsonb"), ("context", "jsonb"),
    ("source", "text"), ("medium", "text"), ("campaign", "text"), ("channel", "text"), ("is_paid", "bool"),
    ("utm_source", "text"), ("utm_medium", "text"), ("utm_campaign", "text"), ("utm_content", "text"),
    ("utm_term", "text"), ("referrer_host", "text"), ("click_ids", "text"), ("attribution_version", "int"),
)
# jsonb and text[] travel as text and are cast in SQL: unnest() of a jsonb[] parameter would need a
# per-element codec; click_ids is a comma list turned into text[] by string_to_array.
_PARAM_TYPES: Final = ", ".join(f"${i}::{'text' if t == 'jsonb' else t}[]" for i, (_, t) in enumerate(COLUMNS, 1))
_SELECT: Final = ", ".join(
    f"{name}::jsonb" if t == "jsonb" else (f"string_to_array({name}, ',')" if name == "click_ids" else name)
    for name, t in COLUMNS
)
_GROUP: Final = "event, source, medium, campaign, channel"
INSERT_SQL: Final = (
    "WITH inserted AS ("
    f"INSERT INTO events ({', '.join(name for name, _ in COLUMNS)}) "
    f"SELECT {_SELECT} FROM unnest({_PARAM_TYPES}) AS t({', '.join(name for name, _ in COLUMNS)}) "
    "ON CONFLICT (project_id, event_id) DO NOTHING "
    f"RETURNING project_id, date_trunc('hour', timestamp, 'UTC') AS hour, visitor_id, {_GROUP}"
    "), counted AS ("
    f"INSERT INTO event_counts_hourly (project_id, hour, {_GROUP}, events) "
    f"SELECT project_id, hour, {_GROUP}, count(*) FROM inserted GROUP BY project_id, hour, {_GROUP} "
    # A fixed order takes the row locks in the same order in every worker: fewer deadlocks.
    f"ORDER BY project_id, hour, {_GROUP} "
    "ON CONFLICT ON CONSTRAINT event_counts_hourly_key DO UPDATE SET events = event_counts_hourly.events + EXCLUDED.events"
    "), seen AS ("
    f"INSERT INTO visitor_hours (project_id, hour, visitor_id, {_GROUP}) "
    f"SELECT DISTINCT project_id, hour, visitor_id, {_GROUP} FROM inserted ORDER BY project_id, hour, visitor_id, {_GROUP} "
    "ON CONFLICT ON CONSTRAINT visitor_hours_key DO NOTHING"
    ") SELECT count(*) FROM inserted"
)


@dataclass(frozen=True)
class Row:
    message: EventMessage
    attribution: Attribution


def encode_row(row: Row) -> tuple[Any, ...]:
    """The row's column values, in COLUMNS order, checked to be encodable by asyncpg.

    Raises `Poison` for a value PostgreSQL could never receive: a string that is not valid UTF-8
    (a lone surrogate), or a timestamp that overflows when converted to UTC. `decode_event` already
    rejects these; this is the last line of defence before the database, so one such row is
    dead-lettered instead of crashing the worker or failing its whole batch."""
    m, a = row.message, row.attribution
    try:
        values: tuple[Any, ...] = (
            m.project_id, m.event_id, m.timestamp.astimezone(UTC), m.received_at.astimezone(UTC),
            m.event, m.anonymous_id, m.user_id,
            _json.encode(m.properties).decode(), _json.encode(m.context).decode(),
            a.source, a.medium, a.campaign, a.channel, a.is_paid,
            a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content, a.utm_term, a.referrer_host,
            ",".join(a.click_ids), a.version,
        )
        for value in values:
            if isinstance(value, str):
                value.encode("utf-8")
    except (ValueError, OverflowError, msgspec.EncodeError) as exc:
        raise Poison(f"unstorable value: {type(exc).__name__}: {str(exc)[:200]}") from exc
    return values


def _columns(encoded: list[tuple[Any, ...]]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    for values in encoded:
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    return cols


async def write_encoded(conn: asyncpg.Connection, encoded: list[tuple[Any, ...]]) -> int:
    """Insert rows prepared by `encode_row`, and count the new ones into the rollups, in one
    transaction; returns how many were new (the rest were already stored). Raises asyncpg errors
    unchanged: the consumer classifies them."""
    if not encoded:
        return 0
    async with conn.transaction():
        inserted = await conn.fetchval(INSERT_SQL, *_columns(encoded))
    return int(inserted)


async def write_rows(conn: asyncpg.Connection, rows: list[Row]) -> int:
    """`write_encoded` for rows not yet encoded (raises `Poison` if one cannot be)."""
    return await write_encoded(conn, [encode_row(row) for row in rows])


async def project_domains(conn: asyncpg.Connection, project_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    rows = await conn.fetch("SELECT project_id, domains FROM projects WHERE project_id = ANY($1::uuid[])", list(project_ids))
    return {r["project_id"]: tuple(r["domains"] or ()) for r in rows}


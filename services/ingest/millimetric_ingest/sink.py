"""One PostgreSQL transaction per batch; duplicates of `(project_id, event_id)` are skipped.

The write is a single `INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING`: one round trip
per batch, idempotent, so a batch replayed after a crash or a rebalance stores nothing twice.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import msgspec

from millimetric_protocol.events import EventMessage

from .attribution import Attribution

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
INSERT_SQL: Final = (
    f"INSERT INTO events ({', '.join(name for name, _ in COLUMNS)}) "
    f"SELECT {_SELECT} FROM unnest({_PARAM_TYPES}) AS t({', '.join(name for name, _ in COLUMNS)}) "
    "ON CONFLICT (project_id, event_id) DO NOTHING"
)


@dataclass(frozen=True)
class Row:
    message: EventMessage
    attribution: Attribution


def _columns(rows: list[Row]) -> list[list[Any]]:
    cols: list[list[Any]] = [[] for _ in COLUMNS]
    for row in rows:
        m, a = row.message, row.attribution
        values: tuple[Any, ...] = (
            m.project_id, m.event_id, m.timestamp, m.received_at, m.event, m.anonymous_id, m.user_id,
            _json.encode(m.properties).decode(), _json.encode(m.context).decode(),
            a.source, a.medium, a.campaign, a.channel, a.is_paid,
            a.utm_source, a.utm_medium, a.utm_campaign, a.utm_content, a.utm_term, a.referrer_host,
            ",".join(a.click_ids), a.version,
        )
        for col, value in zip(cols, values):
            col.append(value)
    return cols


async def write_rows(conn: asyncpg.Connection, rows: list[Row]) -> int:
    """Insert rows in one transaction; returns how many were new. Raises asyncpg errors unchanged
    (the consumer classifies them)."""
    if not rows:
        return 0
    async with conn.transaction():
        status = await conn.execute(INSERT_SQL, *_columns(rows))
    return int(status.rsplit(" ", 1)[-1])


async def project_domains(conn: asyncpg.Connection, project_ids: set[uuid.UUID]) -> dict[uuid.UUID, tuple[str, ...]]:
    rows = await conn.fetch("SELECT project_id, domains FROM projects WHERE project_id = ANY($1::uuid[])", list(project_ids))
    return {r["project_id"]: tuple(r["domains"] or ()) for r in rows}


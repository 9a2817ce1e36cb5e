"""schema://events: what an agent can query — event names, counts, last seen, common property keys."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Final

from millimetric_protocol import limits
from millimetric_protocol.reads import ReadResult

from ..context import ReadContext
from ..scope import resolve

MAX_EVENTS: Final = 200
MAX_KEYS: Final = 10
MAX_EXAMPLES: Final = 3
SAMPLE_ROWS: Final = 20_000
"""Property keys and examples come from the newest events (a bounded sample), counts from all."""

_NAMES_SQL: Final = """
SELECT event, count(*) AS events, max(timestamp) AS last_seen
FROM events WHERE {projects} AND timestamp >= $2
GROUP BY event ORDER BY events DESC, event LIMIT $3
"""
_KEYS_SQL: Final = """
WITH sample AS (
  SELECT event, properties FROM events
  WHERE {projects} AND timestamp >= $2 AND event = ANY($3::text[])
  ORDER BY timestamp DESC LIMIT $4
), pairs AS (
  SELECT s.event, kv.key, kv.value FROM sample s, jsonb_each(s.properties) kv
), keyed AS (
  SELECT event, key, count(*) AS n,
         (array_agg(DISTINCT left(CASE jsonb_typeof(value) WHEN 'string' THEN value #>> '{{}}' ELSE value::text END, 80))
            FILTER (WHERE jsonb_typeof(value) IN ('string', 'number', 'boolean')))[1:$5] AS examples,
         row_number() OVER (PARTITION BY event ORDER BY count(*) DESC, key) AS rank
  FROM pairs GROUP BY event, key
)
SELECT event, key, n, examples FROM keyed WHERE rank <= $6 ORDER BY event, n DESC, key
"""


async def events_schema(ctx: ReadContext) -> ReadResult:
    since = datetime.now(timezone.utc) - timedelta(days=limits.SCHEMA_DAYS)
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, None)
        # One project: `=` lets the newest-events sample walk the (project_id, timestamp) index.
        where = "project_id = ANY($1::uuid[])" if projects.multi else "project_id = ($1::uuid[])[1]"
        names = await conn.fetch(_NAMES_SQL.format(projects=where), projects.ids, since, MAX_EVENTS)
        keys = await conn.fetch(_KEYS_SQL.format(projects=where), projects.ids, since, [r["event"] for r in names], SAMPLE_ROWS,
                                MAX_EXAMPLES, MAX_KEYS) if names else []
    by_event: dict[str, list[dict[str, Any]]] = {}
    for k in keys:
        by_event.setdefault(k["event"], []).append({"key": k["key"], "seen": k["n"], "examples": list(k["examples"] or [])})
    rows = [
        {"event": r["event"], "events": r["events"], "last_seen": r["last_seen"], "properties": by_event.get(r["event"], [])}
        for r in names
    ]
    return ReadResult(rows=rows, meta={"since": since, "days": limits.SCHEMA_DAYS, "order": "events desc, event",
                                       "property_sample_rows": SAMPLE_ROWS, "truncated": len(names) == MAX_EVENTS})

"""The peer: what a builder gets from the official MCP Python SDK (`mcp` 2.x) — `MCPServer` with
one `query_events` tool over the same PostgreSQL data, served by its Streamable HTTP app in
stateless JSON-response mode under uvicorn, as `MCPServer.run("streamable-http")` does (uvicorn
with its default settings; access log off, like the gateway).

Run as `python -m bench.servers.peer PORT DSN PROJECT_ID`. The tool answers what our
`query_events` with `limit` answers for that project: the newest events of the default window
(the 7 days up to now), newest first, from an asyncpg pool opened once in the server's lifespan.
"""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import uvicorn
from mcp.server import MCPServer
from mcp.server.mcpserver import Context

SQL = """
SELECT event_id, timestamp, event, anonymous_id, user_id, source, medium, campaign, properties::text AS properties
FROM events WHERE project_id = $1 AND timestamp >= $2 AND timestamp < $3
ORDER BY timestamp DESC, event_id DESC LIMIT $4
"""


def build(dsn: str, project_id: uuid.UUID) -> MCPServer[dict[str, Any]]:
    @asynccontextmanager
    async def lifespan(server: MCPServer[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        try:
            yield {"pool": pool}
        finally:
            await pool.close()

    server: MCPServer[dict[str, Any]] = MCPServer("bench-peer", lifespan=lifespan)

    @server.tool()
    async def query_events(ctx: Context, limit: int = 50) -> list[dict[str, Any]]:
        """Raw events, newest first."""
        pool: asyncpg.Pool = ctx.request_context.lifespan_context["pool"]
        now = datetime.now(UTC)
        rows = await pool.fetch(SQL, project_id, now - timedelta(days=7), now, limit)
        return [
            {"event_id": str(r["event_id"]), "timestamp": r["timestamp"].isoformat(), "event": r["event"],
             "anonymous_id": r["anonymous_id"], "user_id": r["user_id"], "source": r["source"], "medium": r["medium"],
             "campaign": r["campaign"], "properties": json.loads(r["properties"])}
            for r in rows
        ]

    return server


def main() -> None:
    port, dsn, project_id = int(sys.argv[1]), sys.argv[2], uuid.UUID(sys.argv[3])
    app = build(dsn, project_id).streamable_http_app(json_response=True, stateless_http=True, host="127.0.0.1")
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()

"""list_projects and the projects://all resource."""

from __future__ import annotations

from millimetric_protocol.reads import ReadResult

from ..context import ReadContext
from ..scope import resolve


async def list_projects(ctx: ReadContext) -> ReadResult:
    async with ctx.pool.acquire() as conn:
        projects = await resolve(conn, ctx.scope, None)
    return ReadResult(
        rows=[
            {"project_id": str(p.project_id), "slug": p.slug, "name": p.name, "time_zone": p.time_zone, "created_at": p.created_at}
            for p in projects.items
        ],
        meta={"order": "slug", "truncated": False},
    )

"""Which projects a read covers: the key's own project, or the account endpoint's selection.

Every read is confined to the caller's account here, before any event is touched: a project id
or slug of another account is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.methods import ProjectSelection
from millimetric_protocol.reads import ReadScope


@dataclass(frozen=True)
class Project:
    project_id: uuid.UUID
    slug: str
    name: str
    time_zone: str
    created_at: datetime


@dataclass(frozen=True)
class Projects:
    items: tuple[Project, ...]

    @property
    def ids(self) -> list[uuid.UUID]:
        return [p.project_id for p in self.items]

    @property
    def multi(self) -> bool:
        """More than one project in play: rows then carry project_id and slug."""
        return len(self.items) > 1

    def by_id(self, project_id: uuid.UUID) -> Project:
        return next(p for p in self.items if p.project_id == project_id)

    def time_zone(self, requested: str | None) -> str:
        """The requested zone; else the projects' common zone; else UTC (projects disagree)."""
        if requested:
            return requested
        zones = {p.time_zone for p in self.items}
        return zones.pop() if len(zones) == 1 else "UTC"


_COLUMNS = "project_id, slug, name, time_zone, created_at"


async def resolve(conn: asyncpg.Connection, scope: ReadScope, selection: ProjectSelection | None) -> Projects:
    if scope.project_id is not None:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM projects WHERE project_id = $1 AND account_id = $2",
                                scope.project_id, scope.account_id)
        if not rows:
            raise ProtocolError(ErrorName.UNKNOWN_PROJECT_ID, "the key's project no longer exists")
        return _projects(rows)
    sel = selection or ProjectSelection()
    if sel.project_id is not None:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM projects WHERE project_id = $1 AND account_id = $2",
                                sel.project_id, scope.account_id)
        if not rows:
            raise ProtocolError(ErrorName.UNKNOWN_PROJECT_ID, f"no project {sel.project_id} in this account",
                                {"project_id": str(sel.project_id)})
        return _projects(rows)
    if sel.project_slug is not None:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM projects WHERE slug = $1 AND account_id = $2",
                                sel.project_slug, scope.account_id)
        if not rows:
            raise ProtocolError(ErrorName.UNKNOWN_PROJECT_SLUG, f"no project with slug {sel.project_slug!r} in this account",
                                {"project_slug": sel.project_slug})
        return _projects(rows)
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM projects WHERE account_id = $1 ORDER BY slug", scope.account_id)
    if sel.project_ids is not None:
        wanted = set(sel.project_ids)
        rows = [r for r in rows if r["project_id"] in wanted]
        missing = wanted - {r["project_id"] for r in rows}
        if missing:
            raise ProtocolError(ErrorName.UNKNOWN_PROJECT_ID, "some project_ids are not in this account",
                                {"project_ids": sorted(str(m) for m in missing)})
    if not rows:
        raise ProtocolError(ErrorName.NO_PROJECTS_VISIBLE, "this account has no projects yet")
    return _projects(rows)


def _projects(rows: list[asyncpg.Record]) -> Projects:
    return Projects(tuple(Project(r["project_id"], r["slug"], r["name"], r["time_zone"], r["created_at"]) for r in rows))

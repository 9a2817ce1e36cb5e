"""Fresh accounts/projects/keys per test, through the same admin functions the CLI uses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from millimetric import admin


@dataclass(frozen=True)
class ProjectFixture:
    project_id: uuid.UUID
    slug: str
    pk: str
    sk: str
    rk: str
    sk_id: uuid.UUID
    rk_id: uuid.UUID


@dataclass(frozen=True)
class AccountFixture:
    account_id: uuid.UUID
    plan: str
    ak: str
    ak_id: uuid.UUID
    projects: tuple[ProjectFixture, ...]


async def create_account(dsn: str, plan: str, projects: int = 1, time_zone: str = "UTC",
                         domains: tuple[str, ...] = ("example.com",)) -> AccountFixture:
    conn = await asyncpg.connect(dsn)
    try:
        account = await admin.create_account(conn, f"test-{uuid.uuid4().hex[:8]}", plan)
        account_id = uuid.UUID(account["account_id"])
        made = []
        for i in range(projects):
            slug = f"p{i}-{uuid.uuid4().hex[:8]}"
            project = await admin.create_project(conn, account_id, slug, f"Project {i}", time_zone, list(domains))
            project_id = uuid.UUID(project["project_id"])
            keys = {kind: await admin.create_key(conn, kind, project_id=project_id) for kind in ("pk", "sk", "rk")}
            made.append(ProjectFixture(project_id, slug, keys["pk"]["key"], keys["sk"]["key"], keys["rk"]["key"],
                                    uuid.UUID(keys["sk"]["key_id"]), uuid.UUID(keys["rk"]["key_id"])))
        ak = await admin.create_key(conn, "ak", account_id=account_id)
        return AccountFixture(account_id, plan, ak["key"], uuid.UUID(ak["key_id"]), tuple(made))
    finally:
        await conn.close()

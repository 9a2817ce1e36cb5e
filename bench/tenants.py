"""Accounts, projects and keys for a benchmark, made with the same `millimetric.admin` functions as
`millimetric admin` (so keys are real, hashed, and looked up by the gateway like any other)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
from millimetric import admin


@dataclass(frozen=True)
class Project:
    project_id: uuid.UUID
    slug: str
    sk: str
    rk: str
    domain: str


@dataclass(frozen=True)
class Account:
    account_id: uuid.UUID
    ak: str
    projects: tuple[Project, ...]


async def create_account(dsn: str, *, projects: int, name: str = "bench", plan: str = "business",
                         time_zone: str = "UTC") -> Account:
    """A `plan` account with `projects` projects (slugs `p000`…), an sk_ and rk_ key for each, and an ak_ key."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            account = await admin.create_account(conn, name, plan)
            account_id = uuid.UUID(account["account_id"])
            made = []
            for i in range(projects):
                slug = f"p{i:03d}"
                domain = f"{slug}.bench.example"
                project = await admin.create_project(conn, account_id, slug, f"Bench {slug}", time_zone, [domain])
                project_id = uuid.UUID(project["project_id"])
                sk = (await admin.create_key(conn, "sk", project_id=project_id))["key"]
                rk = (await admin.create_key(conn, "rk", project_id=project_id))["key"]
                made.append(Project(project_id, slug, sk, rk, domain))
            ak = (await admin.create_key(conn, "ak", account_id=account_id))["key"]
        return Account(account_id, ak, tuple(made))
    finally:
        await conn.close()

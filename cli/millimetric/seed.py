"""Demo data for `millimetric dev`: accounts on every plan, projects, and keys of every kind.

Idempotent: accounts and projects are found by name/slug; keys are reused from the previous
`dev.json` while they are still valid (keys are only ever shown once, so dev.json is where the
demo keys live), otherwise new ones are made.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import asyncpg
from millimetric_protocol.apikeys import hash_key

from . import admin


@dataclass(frozen=True)
class DemoProject:
    slug: str
    name: str
    time_zone: str
    domains: list[str]


@dataclass(frozen=True)
class DemoAccount:
    name: str
    plan: str
    projects: tuple[DemoProject, ...]


DEMO: Final = (
    DemoAccount("Acme Agency", "business", (
        DemoProject("acme-storefront", "Acme Storefront", "America/New_York", ["acme-storefront.example"]),
        DemoProject("acme-blog", "Acme Blog", "Europe/Berlin", ["blog.acme.example"]),
    )),
    DemoAccount("Solo Pro", "pro", (DemoProject("solo-app", "Solo App", "Europe/London", ["solo.example"]),)),
    DemoAccount("Hobby Free", "free", (DemoProject("hobby-site", "Hobby Site", "UTC", ["hobby.example"]),)),
)


async def _valid(conn: asyncpg.Connection, key: str | None) -> bool:
    if not key:
        return False
    return bool(await conn.fetchval("SELECT true FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL", hash_key(key)))


async def seed(conn: asyncpg.Connection, previous: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Return the `accounts` list of dev.json."""
    old = {a["name"]: a for a in (previous or {}).get("accounts", [])}
    accounts = []
    for spec in DEMO:
        row = await conn.fetchrow("SELECT account_id FROM accounts WHERE name = $1", spec.name)
        account_id = row["account_id"] if row else uuid.UUID((await admin.create_account(conn, spec.name, spec.plan))["account_id"])
        await conn.execute("UPDATE accounts SET plan = $2 WHERE account_id = $1", account_id, spec.plan)
        before = old.get(spec.name, {})
        ak = before.get("ak") if before.get("account_id") == str(account_id) and await _valid(conn, before.get("ak")) else None
        if ak is None:
            ak = (await admin.create_key(conn, "ak", account_id=account_id))["key"]
        old_projects = {p["slug"]: p for p in before.get("projects", [])}
        projects = []
        for demo in spec.projects:
            slug, name, tz, domains = demo.slug, demo.name, demo.time_zone, demo.domains
            prow = await conn.fetchrow("SELECT project_id FROM projects WHERE account_id = $1 AND slug = $2", account_id, slug)
            project_id = prow["project_id"] if prow else uuid.UUID(
                (await admin.create_project(conn, account_id, slug, name, tz, domains))["project_id"])
            entry: dict[str, Any] = {"project_id": str(project_id), "slug": slug, "name": name, "domains": domains}
            prior = old_projects.get(slug, {})
            for kind in ("pk", "sk", "rk"):
                key = prior.get(kind) if prior.get("project_id") == str(project_id) and await _valid(conn, prior.get(kind)) else None
                entry[kind] = key or (await admin.create_key(conn, kind, project_id=project_id))["key"]
            projects.append(entry)
        accounts.append({"name": spec.name, "plan": spec.plan, "account_id": str(account_id), "ak": ak, "projects": projects})
    return accounts


def load_previous(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

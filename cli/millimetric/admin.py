"""Accounts, projects and keys: the operations behind `millimetric admin` (and dev seeding).

Keys are generated here, stored only as SHA-256 hashes, and returned once in full.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
from millimetric_protocol.apikeys import KeyKind, display_prefix, generate_key, hash_key
from millimetric_protocol.methods import is_time_zone

PLANS = ("free", "pro", "business")


class AdminError(ValueError):
    """A request the admin command refuses; the message says why."""


def _row(record: asyncpg.Record) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, uuid.UUID) else v.isoformat() if hasattr(v, "isoformat") else v)
            for k, v in record.items()}


async def create_account(conn: asyncpg.Connection, name: str, plan: str) -> dict[str, Any]:
    if plan not in PLANS:
        raise AdminError(f"plan must be one of {', '.join(PLANS)}")
    row = await conn.fetchrow(
        "INSERT INTO accounts (account_id, name, plan) VALUES ($1, $2, $3) RETURNING account_id, name, plan, created_at",
        uuid.uuid4(), name, plan,
    )
    return _row(row)


async def set_plan(conn: asyncpg.Connection, account_id: uuid.UUID, plan: str) -> dict[str, Any]:
    if plan not in PLANS:
        raise AdminError(f"plan must be one of {', '.join(PLANS)}")
    row = await conn.fetchrow("UPDATE accounts SET plan = $2 WHERE account_id = $1 RETURNING account_id, name, plan, created_at",
                              account_id, plan)
    if row is None:
        raise AdminError(f"no account {account_id}")
    return _row(row)


async def list_accounts(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [_row(r) for r in await conn.fetch("SELECT account_id, name, plan, created_at FROM accounts ORDER BY created_at")]


async def create_project(conn: asyncpg.Connection, account_id: uuid.UUID, slug: str, name: str,
                         time_zone: str = "UTC", domains: list[str] | None = None) -> dict[str, Any]:
    if not is_time_zone(time_zone):
        raise AdminError(f"unknown time zone {time_zone!r}")
    try:
        row = await conn.fetchrow(
            "INSERT INTO projects (project_id, account_id, slug, name, time_zone, domains) VALUES ($1, $2, $3, $4, $5, $6)"
            " RETURNING project_id, account_id, slug, name, time_zone, domains, created_at",
            uuid.uuid4(), account_id, slug, name, time_zone, domains or [],
        )
    except asyncpg.UniqueViolationError:
        raise AdminError(f"slug {slug!r} is taken in this account") from None
    except asyncpg.ForeignKeyViolationError:
        raise AdminError(f"no account {account_id}") from None
    except asyncpg.CheckViolationError:
        raise AdminError("slug must be lowercase letters, digits and dashes (max 64)") from None
    return _row(row)


async def list_projects(conn: asyncpg.Connection, account_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT project_id, account_id, slug, name, time_zone, domains, created_at FROM projects"
        " WHERE $1::uuid IS NULL OR account_id = $1 ORDER BY created_at", account_id)
    return [_row(r) for r in rows]


async def create_key(conn: asyncpg.Connection, kind: KeyKind, *, project_id: uuid.UUID | None = None,
                     account_id: uuid.UUID | None = None) -> dict[str, Any]:
    """A new key; the returned dict holds the full key, which is never retrievable again."""
    if kind == "ak":
        if account_id is None or project_id is not None:
            raise AdminError("ak keys take --account (and no --project)")
        owner = await conn.fetchval("SELECT account_id FROM accounts WHERE account_id = $1", account_id)
        if owner is None:
            raise AdminError(f"no account {account_id}")
    else:
        if project_id is None:
            raise AdminError(f"{kind} keys take --project")
        owner = await conn.fetchval("SELECT account_id FROM projects WHERE project_id = $1", project_id)
        if owner is None:
            raise AdminError(f"no project {project_id}")
        if account_id is not None and account_id != owner:
            raise AdminError("that project belongs to another account")
    key = generate_key(kind)
    row = await conn.fetchrow(
        "INSERT INTO api_keys (key_id, kind, key_hash, prefix, account_id, project_id) VALUES ($1, $2, $3, $4, $5, $6)"
        " RETURNING key_id, kind, prefix, account_id, project_id, created_at",
        uuid.uuid4(), kind, hash_key(key), display_prefix(key), owner, project_id,
    )
    return {**_row(row), "key": key}


async def list_keys(conn: asyncpg.Connection, *, account_id: uuid.UUID | None = None,
                    project_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT key_id, kind, prefix, account_id, project_id, created_at, revoked_at FROM api_keys"
        " WHERE ($1::uuid IS NULL OR account_id = $1) AND ($2::uuid IS NULL OR project_id = $2) ORDER BY created_at",
        account_id, project_id)
    return [_row(r) for r in rows]


async def revoke_key(conn: asyncpg.Connection, key_id: uuid.UUID) -> dict[str, Any]:
    """Revoke now. A key already revoked keeps its time; one scheduled for later (rotation overlap) ends now."""
    row = await conn.fetchrow(
        "UPDATE api_keys SET revoked_at = least(coalesce(revoked_at, now()), now()) WHERE key_id = $1"
        " RETURNING key_id, kind, prefix, account_id, project_id, created_at, revoked_at", key_id)
    if row is None:
        raise AdminError(f"no key {key_id}")
    return _row(row)


MAX_OVERLAP_S = 30 * 86400
"""Longest overlap `rotate_key` allows: a rotation should end; 30 days covers any redeploy cycle."""


async def rotate_key(conn: asyncpg.Connection, key_id: uuid.UUID, overlap_s: float = 0) -> dict[str, Any]:
    """Replace a key: a new key of the same kind and owner (returned in full, once), and the old one
    revoked now (`overlap_s` = 0) or `overlap_s` seconds from now, so deployments can switch keys
    without a gap. The gateway honours the scheduled time; a later `revoke_key` still ends it at once.
    A key that is already revoked cannot be rotated (create a new one instead)."""
    if not 0 <= overlap_s <= MAX_OVERLAP_S:
        raise AdminError(f"--overlap-s must be between 0 and {MAX_OVERLAP_S}")
    async with conn.transaction():
        old = await conn.fetchrow(
            "SELECT key_id, kind, account_id, project_id, revoked_at, revoked_at <= now() AS revoked"
            " FROM api_keys WHERE key_id = $1 FOR UPDATE", key_id)
        if old is None:
            raise AdminError(f"no key {key_id}")
        if old["revoked"]:
            raise AdminError(f"key {key_id} is already revoked; create a new key instead")
        new = await create_key(conn, old["kind"], project_id=old["project_id"],
                               account_id=old["account_id"] if old["kind"] == "ak" else None)
        # An earlier scheduled revocation is never pushed later by a second rotation.
        revoked = await conn.fetchrow(
            "UPDATE api_keys SET revoked_at = least(coalesce(revoked_at, 'infinity'), now() + make_interval(secs => $2))"
            " WHERE key_id = $1 RETURNING key_id, kind, prefix, account_id, project_id, created_at, revoked_at",
            key_id, float(overlap_s))
    return {"new": new, "old": _row(revoked), "overlap_s": overlap_s}

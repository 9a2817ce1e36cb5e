"""`millimetric admin key rotate`: a new key of the same kind and owner, the old one revoked now or after
an overlap, honoured by the gateway within its key cache TTL (the stack runs with 1 s) — on the MCP
endpoints and the tracking endpoints alike."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import uuid

import aiohttp
import asyncpg
import pytest
from millimetric import admin

from tests.support.accounts import create_account
from tests.support.mcp_http import poll, post, rpc
from tests.support.stack import Stack
from tests.support.tracking import call, send


async def status_of(http: aiohttp.ClientSession, url: str, key: str) -> int:
    return (await post(http, url, rpc("ping"), key=key)).status


async def rotate(dsn: str, key_id: uuid.UUID, overlap_s: float = 0) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    try:
        return await admin.rotate_key(conn, key_id, overlap_s)
    finally:
        await conn.close()


async def test_rotation_without_overlap_revokes_the_old_key_within_the_ttl(stack: Stack, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "business")
    project = account.projects[0]
    assert await status_of(http, stack.mcp_url, project.sk) == 200
    rotated = await rotate(stack.dsn, project.sk_id)
    new = rotated["new"]
    assert isinstance(new, dict)
    assert new["kind"] == "sk" and new["project_id"] == str(project.project_id) and new["key"].startswith("sk_live_")
    assert new["key"] != project.sk
    assert await status_of(http, stack.mcp_url, new["key"]) == 200  # the new key works at once
    await poll(lambda: _status_is(http, stack.mcp_url, project.sk, 401), deadline_s=5)
    tracked = await send(http, stack.gateway_url + "/v1/track", call(), key=new["key"])
    assert tracked.status == 200
    old_track = await send(http, stack.gateway_url + "/v1/track", call(), key=project.sk)
    assert (old_track.status, old_track.json["error"]) == (401, "invalid_key")


async def test_rotation_with_overlap_keeps_both_keys_until_the_overlap_ends(stack: Stack, http: aiohttp.ClientSession) -> None:
    account = await create_account(stack.dsn, "business")
    # A long overlap: both keys work now (no timing involved), and the old one's revocation is scheduled.
    rotated = await rotate(stack.dsn, account.ak_id, overlap_s=3600)
    new_ak = rotated["new"]["key"]  # type: ignore[index]
    old = rotated["old"]
    assert isinstance(old, dict) and old["revoked_at"] is not None
    assert await status_of(http, stack.mcp_account_url, account.ak) == 200
    assert await status_of(http, stack.mcp_account_url, new_ak) == 200
    # Revoking it now ends the overlap early (within the TTL).
    conn = await asyncpg.connect(stack.dsn)
    try:
        await admin.revoke_key(conn, account.ak_id)
    finally:
        await conn.close()
    await poll(lambda: _status_is(http, stack.mcp_account_url, account.ak, 401), deadline_s=5)
    assert await status_of(http, stack.mcp_account_url, new_ak) == 200

    # A short overlap: the old key stops working by itself once it is over.
    project = account.projects[0]
    rotated = await rotate(stack.dsn, project.rk_id, overlap_s=1)
    await poll(lambda: _status_is(http, stack.mcp_url, project.rk, 401), deadline_s=10)
    assert await status_of(http, stack.mcp_url, rotated["new"]["key"]) == 200  # type: ignore[index]


async def test_a_revoked_key_cannot_be_rotated_and_a_second_rotation_never_extends_the_first(stack: Stack) -> None:
    project = (await create_account(stack.dsn, "pro")).projects[0]
    first = await rotate(stack.dsn, project.sk_id, overlap_s=60)
    second = await rotate(stack.dsn, project.sk_id, overlap_s=3600)
    assert second["old"]["revoked_at"] == first["old"]["revoked_at"]  # type: ignore[index]
    await rotate(stack.dsn, project.rk_id)
    with pytest.raises(admin.AdminError, match="already revoked"):
        await rotate(stack.dsn, project.rk_id)
    with pytest.raises(admin.AdminError, match="no key"):
        await rotate(stack.dsn, uuid.uuid4())
    with pytest.raises(admin.AdminError, match="overlap"):
        await rotate(stack.dsn, project.sk_id, overlap_s=-1)


async def test_the_cli_prints_the_new_key_once_as_json(stack: Stack, http: aiohttp.ClientSession) -> None:
    project = (await create_account(stack.dsn, "pro")).projects[0]
    env = {**stack.env, "MILLIMETRIC_PG_DSN": stack.dsn}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "millimetric", "admin", "key", "rotate", str(project.sk_id), "--overlap-s", "600"],
        env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["overlap_s"] == 600
    assert result.stdout.count(out["new"]["key"]) == 1
    assert out["old"]["key_id"] == str(project.sk_id) and "key" not in out["old"]
    assert await status_of(http, stack.mcp_url, out["new"]["key"]) == 200
    assert await status_of(http, stack.mcp_url, project.sk) == 200  # inside the 10-minute overlap
    listed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "millimetric", "admin", "key", "list", "--project", str(project.project_id)],
        env=env, capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0 and out["new"]["key"] not in listed.stdout
    bad = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "millimetric", "admin", "key", "rotate", str(uuid.uuid4())],
        env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "no key" in bad.stderr


async def _status_is(http: aiohttp.ClientSession, url: str, key: str, want: int) -> bool:
    return await status_of(http, url, key) == want

"""What the gateway sends the query service decodes there, and the reply decodes back: the real
query app over real HTTP and a real PostgreSQL, called through the gateway's own client."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import msgspec
import pytest
from aiohttp.test_utils import TestServer
from millimetric_gateway.query_client import QueryClient
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.reads import ReadRequest, ReadScope
from millimetric_query.app import create_app
from millimetric_query.settings import Settings

from tests.support.accounts import AccountFixture, create_account


@pytest.fixture
async def client(pg_dsn: str) -> AsyncIterator[QueryClient]:
    server = TestServer(create_app(Settings(pg_dsn=pg_dsn)), host="127.0.0.1")
    await server.start_server()
    qc = QueryClient(str(server.make_url("")).rstrip("/"), timeout_s=10)
    await qc.start()
    yield qc
    await qc.close()
    await server.close()


@pytest.fixture
async def account(pg_dsn: str) -> AccountFixture:
    return await create_account(pg_dsn, "business", projects=2)


async def test_query_events_round_trip(client: QueryClient, account: AccountFixture) -> None:
    project = account.projects[0]
    result = await client.read(ReadRequest(read="query_events", scope=ReadScope(account.account_id, project.project_id),
                                           arguments=msgspec.Raw(b'{"limit": 5}'), request_id="r1"))
    assert result.rows == []
    assert result.meta["truncated"] is False and result.meta["timezone"] == "UTC"


async def test_account_reads_name_unknown_projects(client: QueryClient, account: AccountFixture) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.read(ReadRequest(read="query_events", scope=ReadScope(account.account_id),
                                      arguments=msgspec.Raw(b'{"project_slug": "no-such-project"}')))
    assert info.value.name is ErrorName.UNKNOWN_PROJECT_SLUG
    assert info.value.code == -32004


async def test_another_accounts_project_is_unknown(client: QueryClient, account: AccountFixture, pg_dsn: str) -> None:
    other = await create_account(pg_dsn, "business")
    body = msgspec.json.encode({"project_id": str(other.projects[0].project_id)})
    with pytest.raises(ProtocolError) as info:
        await client.read(ReadRequest(read="query_events", scope=ReadScope(account.account_id), arguments=msgspec.Raw(body)))
    assert info.value.name is ErrorName.UNKNOWN_PROJECT_ID


async def test_list_projects_round_trip(client: QueryClient, account: AccountFixture) -> None:
    result = await client.read(ReadRequest(read="list_projects", scope=ReadScope(account.account_id)))
    assert sorted(r["slug"] for r in result.rows) == sorted(p.slug for p in account.projects)
    assert {"project_id", "slug", "name", "time_zone", "created_at"} == set(result.rows[0])


async def test_invalid_arguments_come_back_as_invalid_params(client: QueryClient, account: AccountFixture) -> None:
    with pytest.raises(ProtocolError) as info:
        await client.read(ReadRequest(read="query_events", scope=ReadScope(account.account_id, account.projects[0].project_id),
                                      arguments=msgspec.Raw(b'{"cursor": "garbage!!"}')))
    assert info.value.name is ErrorName.INVALID_PARAMS
    assert "cursor" in (info.value.detail or "")


async def test_a_project_without_any_account_projects_is_no_projects_visible(client: QueryClient, pg_dsn: str) -> None:
    empty = await create_account(pg_dsn, "business", projects=0)
    with pytest.raises(ProtocolError) as info:
        await client.read(ReadRequest(read="list_projects", scope=ReadScope(empty.account_id)))
    assert info.value.name is ErrorName.NO_PROJECTS_VISIBLE
    assert uuid.UUID(str(empty.account_id))

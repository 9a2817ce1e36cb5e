"""create_app(settings) → the gateway's aiohttp application. Opens no connections itself: the
cleanup contexts do, in dependency order (database pool, producer, query client).

Routes: `POST /mcp` and `POST /mcp/account` (MCP), `POST /v1/track` and `POST /v1/batch` (tracking,
CORS-enabled), `GET /js/millimetric.js` (the browser snippet), `/healthz`, `/readyz`, `/metrics`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Final

import asyncpg
from aiohttp import web
from millimetric_protocol import limits
from millimetric_runtime.http import Health, add_health_routes, observe

from . import keys, tracking
from .auth import KeyStore
from .catalog import Endpoint
from .metrics import GatewayMetrics
from .producer import producer_context
from .query_client import QueryClient
from .ratelimit import RateLimiter
from .services import Services
from .settings import Settings
from .snippet import SCRIPT_PATH, Snippet, snippet_handler
from .transport import SERVICES, mcp_handler, method_not_allowed

ROUTES: Final[tuple[tuple[str, Endpoint], ...]] = (("/mcp", "project"), ("/mcp/account", "account"))
TRACKING_ROUTES: Final[tuple[tuple[str, tracking.TrackingRoute], ...]] = ((tracking.TRACK_PATH, "track"), (tracking.BATCH_PATH, "batch"))
READY_CHECK_TIMEOUT_S: Final = 2.0
"""Bound on the key database check of /readyz (the compose health check waits 5 s in all)."""


def create_app(settings: Settings) -> web.Application:
    metrics = GatewayMetrics()
    # Bodies are decompressed by transport.read_body (bounded, JSON-RPC errors), not by aiohttp.
    app = web.Application(client_max_size=limits.MAX_BODY_BYTES, handler_args={"auto_decompress": False},
                          middlewares=[observe(metrics.http, trust_caller_id=False)])  # the public edge
    app[keys.SETTINGS] = settings
    app[keys.RATE_LIMITER] = RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst)
    app[keys.METRICS] = metrics
    app[keys.SNIPPET] = Snippet.load()
    health = Health(lambda: _probe(app))
    add_health_routes(app, health, metrics.registry)
    metrics.watch(lambda: _key_cache(app), lambda: health.ready)
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_producer)
    app.cleanup_ctx.append(_query_client)
    app.cleanup_ctx.append(_services)
    for path, endpoint in ROUTES:
        app.router.add_post(path, mcp_handler(endpoint))
        app.router.add_route("*", path, method_not_allowed)  # GET, DELETE and the rest: 405, Allow: POST
    for path, kind in TRACKING_ROUTES:
        app.router.add_post(path, tracking.tracking_handler(kind))
        app.router.add_route("OPTIONS", path, tracking.preflight)
        app.router.add_route("*", path, tracking.method_not_allowed)
    app.router.add_get(SCRIPT_PATH, snippet_handler(app[keys.SNIPPET], settings.snippet_max_age_s))
    return app


async def _probe(app: web.Application) -> dict[str, Any]:
    """Ready = the producer connected to a broker that has the events topic, and the key database
    answering within READY_CHECK_TIMEOUT_S."""
    broker = keys.PRODUCER in app and app[keys.PRODUCER].ready
    database = keys.KEY_STORE in app and await app[keys.KEY_STORE].ping(READY_CHECK_TIMEOUT_S)
    return {"ready": broker and database, "broker": broker, "database": database}


def _key_cache(app: web.Application) -> tuple[int, int, int] | None:
    if keys.KEY_STORE not in app:
        return None
    store = app[keys.KEY_STORE]
    return store.hits, store.misses, store.entries


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # min_size=0: the gateway starts (and reports not-ready) while the database is still away.
    pool = await asyncpg.create_pool(settings.pg_dsn, min_size=0, max_size=4, command_timeout=5)
    app[keys.KEY_STORE] = KeyStore(pool, ttl_s=settings.key_cache_ttl_s, max_entries=settings.key_cache_size)
    yield
    await pool.close()


async def _producer(app: web.Application) -> AsyncIterator[None]:
    async with producer_context(app[keys.SETTINGS]) as producer:
        app[keys.PRODUCER] = producer
        yield


async def _query_client(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    client = QueryClient(settings.query_url, settings.query_timeout_s)
    await client.start()
    app[keys.QUERY] = client
    yield
    await client.close()


async def _services(app: web.Application) -> AsyncIterator[None]:
    app[SERVICES] = Services(app[keys.SETTINGS], app[keys.PRODUCER], app[keys.QUERY], app[keys.METRICS])
    yield

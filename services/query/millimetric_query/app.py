"""create_app(settings) → the query service: `POST /v1/read` (types in millimetric_protocol.reads),
plus `/healthz`, `/readyz` and `/metrics`.

Errors are converted to the wire in one place (`_read`): a ProtocolError keeps its name; a database
that cannot be used (millimetric_runtime.dependencies.is_unavailable) is a retryable `tool_failed`,
logged once when the outage starts and once when it ends; a statement timeout is a non-retryable
`tool_failed`; anything else is logged once with the request id and answered as `tool_failed`, with
no SQL or stack. Every read is counted and timed by read name and outcome; reads slower than
QUERY_SLOW_READ_MS are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Final

import asyncpg
import msgspec
from aiohttp import web
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.reads import READ_PATH, ReadError, ReadRequest, ReadResponse, ReadResult
from millimetric_runtime.dependencies import Outage, is_unavailable
from millimetric_runtime.http import Health, add_health_routes, observe
from millimetric_runtime.logs import REQUEST_ID, is_request_id

from . import keys
from .context import ReadContext
from .methods import events, funnel, projects, schema, sources, stats
from .metrics import QueryMetrics
from .settings import Settings

logger = logging.getLogger(__name__)

Read = Callable[[ReadContext], Awaitable[ReadResult]]
READS: Final[dict[str, Read]] = {
    "query_events": events.query_events,
    "events_recent": events.events_recent,
    "list_projects": projects.list_projects,
    "events_schema": schema.events_schema,
    "get_stats": stats.get_stats,
    "top_sources": sources.top_sources,
    "funnel": funnel.funnel,
    "compare_projects": stats.compare_projects,
}

_request_decoder: Final = msgspec.json.Decoder(ReadRequest)
_encoder: Final = msgspec.json.Encoder()


READY_CHECK_TIMEOUT_S: Final = 2.0
DATABASE: Final = web.AppKey("database_outage", Outage)


def create_app(settings: Settings) -> web.Application:
    metrics = QueryMetrics()
    # The caller is the gateway: its request id is kept, so one id names a read in both services' logs.
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[observe(metrics.http, trust_caller_id=True)])
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = metrics
    app[DATABASE] = Outage("database", logger, "reads answer a retryable tool_failed")
    health = Health(lambda: _probe(app))
    add_health_routes(app, health, metrics.registry)
    metrics.watch(lambda: _pool_sizes(app), lambda: health.ready)
    app.cleanup_ctx.append(_pool)
    app.router.add_post(READ_PATH, _read)
    return app


async def _probe(app: web.Application) -> dict[str, Any]:
    """Ready = the database answers a trivial query within READY_CHECK_TIMEOUT_S."""
    database = False
    if keys.POOL in app:
        try:
            await app[keys.POOL].fetchval("SELECT 1", timeout=READY_CHECK_TIMEOUT_S)
            database = True
        except Exception:  # any failure of the check means not ready; the reason is not the caller's business
            database = False
    return {"ready": database, "database": database}


def _pool_sizes(app: web.Application) -> tuple[int, int] | None:
    if keys.POOL not in app:
        return None
    pool = app[keys.POOL]
    return pool.get_size(), pool.get_idle_size()


async def _pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    # min_size=0: the service starts (and reports not-ready) while the database is still away.
    app[keys.POOL] = await asyncpg.create_pool(
        settings.pg_dsn, min_size=0, max_size=settings.pool_max_size,
        server_settings={"statement_timeout": str(settings.statement_timeout_ms), "jit": "off", "work_mem": "64MB"},
    )
    yield
    await app[keys.POOL].close()


def _answer(response: ReadResponse, status: int = 200) -> web.Response:
    return web.Response(body=_encoder.encode(response), status=status, content_type="application/json")


async def _read(request: web.Request) -> web.Response:
    try:
        read = _request_decoder.decode(await request.read())
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        return _answer(ReadResponse(error=ReadError(ErrorName.INVALID_REQUEST.value, f"bad read request: {str(exc)[:200]}")), 400)
    if is_request_id(read.request_id) and REQUEST_ID.get() != read.request_id:
        REQUEST_ID.set(read.request_id)  # the body's id when no header carried it (the middleware resets the var)
    handler = READS.get(read.read)
    if handler is None:
        return _answer(ReadResponse(error=ReadError(ErrorName.UNKNOWN_TOOL.value, f"read {read.read!r} not available")), 404)
    ctx = ReadContext(request.app[keys.POOL], read.scope, read.arguments, request.app[keys.SETTINGS], read.request_id)
    started = time.perf_counter()
    outcome = "ok"
    database = request.app[DATABASE]
    try:
        result = await handler(ctx)
    except ProtocolError as exc:
        outcome = exc.name.value
        return _answer(ReadResponse(error=ReadError(exc.name.value, exc.detail, exc.data or None)))
    except asyncpg.QueryCanceledError:  # statement_timeout: this read is too expensive, retrying will not help
        outcome = "timeout"
        logger.warning("read %s hit the statement timeout (request %s)", read.read, read.request_id)
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value, "query timed out", {"retryable": False})))
    except Exception as exc:
        if is_unavailable(exc):
            outcome = "database_unavailable"
            database.failed(exc)
            return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value, "database unavailable", {"retryable": True})))
        outcome = "internal_error"
        logger.exception("read %s failed (request %s)", read.read, read.request_id)
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value, "internal error", {"retryable": False})))
    finally:
        _observe_read(request.app, read.read, outcome, time.perf_counter() - started)
    database.recovered()
    return _answer(ReadResponse(result=result))


def _observe_read(app: web.Application, read: str, outcome: str, seconds: float) -> None:
    metrics = app[keys.METRICS]
    metrics.reads.labels(read, outcome).inc()
    metrics.read_duration.labels(read).observe(seconds)
    slow_ms = app[keys.SETTINGS].slow_read_ms
    if seconds * 1000 >= slow_ms:
        # The request id comes from the logging filter; never the arguments (they can hold property values).
        logger.info("read %s took %.0f ms (%s)", read, seconds * 1000, outcome)

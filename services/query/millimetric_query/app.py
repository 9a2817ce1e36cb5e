"""create_app(settings) → the query service: `POST /v1/read` (types in millimetric_protocol.reads),
plus `/healthz`, `/readyz` and `/metrics`.

Errors are converted to the wire in one place (`_read`): a ProtocolError keeps its name; anything
else is logged once with the request id and answered as `tool_failed`, with no SQL or stack. Every
read is counted and timed by read name and outcome; reads slower than QUERY_SLOW_READ_MS are logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import asyncpg
import msgspec
from aiohttp import web
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.logcontext import REQUEST_ID, is_request_id
from millimetric_protocol.reads import READ_PATH, ReadError, ReadRequest, ReadResponse, ReadResult

from . import keys, observability
from .context import ReadContext
from .methods import events, funnel, projects, schema, sources, stats
from .metrics import QueryMetrics
from .readiness import Readiness
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


def create_app(settings: Settings) -> web.Application:
    app = web.Application(client_max_size=2 * 1024 * 1024, middlewares=[observability.observe])
    app[keys.SETTINGS] = settings
    app[keys.METRICS] = QueryMetrics()
    app[keys.READINESS] = Readiness()
    app[keys.METRICS].watch_state(lambda: observability.scrape_state(app))
    app.on_shutdown.append(observability.on_shutdown)
    app.cleanup_ctx.append(_pool)
    app.router.add_post(READ_PATH, _read)
    app.router.add_get("/healthz", observability.healthz)
    app.router.add_get("/readyz", observability.readyz)
    app.router.add_get("/metrics", observability.metrics)
    return app


async def _pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.POOL] = await asyncpg.create_pool(
        settings.pg_dsn, min_size=1, max_size=settings.pool_max_size,
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
    try:
        result = await handler(ctx)
    except ProtocolError as exc:
        outcome = exc.name.value
        return _answer(ReadResponse(error=ReadError(exc.name.value, exc.detail, exc.data or None)))
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.QueryCanceledError) as exc:
        logger.warning("read %s failed on the database: %s (request %s)", read.read, type(exc).__name__, read.request_id)
        retry = not isinstance(exc, asyncpg.QueryCanceledError)
        outcome = "database_unavailable" if retry else "timeout"
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value,
                                                    "query timed out" if not retry else "database unavailable",
                                                    {"retryable": retry})))
    except Exception:
        outcome = "internal_error"
        logger.exception("read %s failed (request %s)", read.read, read.request_id)
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value, "internal error", {"retryable": False})))
    finally:
        _observe_read(request.app, read.read, outcome, time.perf_counter() - started)
    return _answer(ReadResponse(result=result))


def _observe_read(app: web.Application, read: str, outcome: str, seconds: float) -> None:
    metrics = app[keys.METRICS]
    metrics.reads.labels(read, outcome).inc()
    metrics.read_duration.labels(read).observe(seconds)
    slow_ms = app[keys.SETTINGS].slow_read_ms
    if seconds * 1000 >= slow_ms:
        # The request id comes from the logging filter; never the arguments (they can hold property values).
        logger.info("read %s took %.0f ms (%s)", read, seconds * 1000, outcome)

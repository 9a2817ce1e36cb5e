"""create_app(settings) → the query service: `POST /v1/read` (types in millimetric_protocol.reads).

Errors are converted to the wire in one place (`_read`): a ProtocolError keeps its name; anything
else is logged once with the request id and answered as `tool_failed`, with no SQL or stack.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Final

import asyncpg
import msgspec
from aiohttp import web
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.reads import READ_PATH, ReadError, ReadRequest, ReadResponse, ReadResult

from . import keys
from .context import ReadContext
from .methods import events, funnel, projects, schema, sources, stats
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
    app = web.Application(client_max_size=2 * 1024 * 1024)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.append(_pool)
    app.router.add_post(READ_PATH, _read)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    return app


async def _pool(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    app[keys.POOL] = await asyncpg.create_pool(
        settings.pg_dsn, min_size=1, max_size=settings.pool_max_size,
        server_settings={"statement_timeout": str(settings.statement_timeout_ms), "jit": "off"},
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
    handler = READS.get(read.read)
    if handler is None:
        return _answer(ReadResponse(error=ReadError(ErrorName.UNKNOWN_TOOL.value, f"read {read.read!r} not available")), 404)
    ctx = ReadContext(request.app[keys.POOL], read.scope, read.arguments, request.app[keys.SETTINGS], read.request_id)
    try:
        result = await handler(ctx)
    except ProtocolError as exc:
        return _answer(ReadResponse(error=ReadError(exc.name.value, exc.detail, exc.data or None)))
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError, asyncpg.QueryCanceledError) as exc:
        logger.warning("read %s failed on the database: %s (request %s)", read.read, type(exc).__name__, read.request_id)
        retry = not isinstance(exc, asyncpg.QueryCanceledError)
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value,
                                                    "query timed out" if not retry else "database unavailable",
                                                    {"retryable": retry})))
    except Exception:
        logger.exception("read %s failed (request %s)", read.read, read.request_id)
        return _answer(ReadResponse(error=ReadError(ErrorName.TOOL_FAILED.value, "internal error", {"retryable": False})))
    return _answer(ReadResponse(result=result))


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    try:
        await request.app[keys.POOL].fetchval("SELECT 1", timeout=2)
    except Exception:
        return web.json_response({"ready": False}, status=503)
    return web.json_response({"ready": True})

"""Request ids, HTTP metrics, `/healthz`, `/readyz` and `/metrics` for the query service.

The request id is the gateway's (the `X-Request-Id` header, also in the read request body); it is
kept in the `REQUEST_ID` contextvar while the request is handled, so every log line written for it
carries it (millimetric_protocol.logcontext). A request without a usable id gets a fresh one.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from millimetric_protocol.logcontext import REQUEST_ID, is_request_id
from millimetric_protocol.metric_names import http_method_label
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import keys

REQUEST_ID_HEADER: Final = "X-Request-Id"
READY_CHECK_TIMEOUT_S: Final = 2.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The caller's request id in the contextvar (and echoed back), plus the HTTP count and latency."""
    sent = request.headers.get(REQUEST_ID_HEADER)
    request_id = sent if sent is not None and is_request_id(sent) else "q" + uuid.uuid4().hex[:15]
    token = REQUEST_ID.set(request_id)
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        if not response.prepared:
            response.headers.setdefault(REQUEST_ID_HEADER, request_id)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        metrics = request.app[keys.METRICS]
        route, method = route_label(request), http_method_label(request.method)
        metrics.http_requests.labels(route, method, str(status)).inc()
        metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)
        REQUEST_ID.reset(token)


async def on_shutdown(app: web.Application) -> None:
    """Not ready from the first moment of shutdown, before the pool closes."""
    app[keys.READINESS].shutting_down = True


async def readiness(app: web.Application) -> dict[str, Any]:
    """Ready = not shutting down and the database answering within READY_CHECK_TIMEOUT_S."""
    state = app[keys.READINESS]
    try:
        await app[keys.POOL].fetchval("SELECT 1", timeout=READY_CHECK_TIMEOUT_S)
        state.database = True
    except Exception:  # any failure of the check means not ready; the reason is not the caller's business
        state.database = False
    ready = state.database and not state.shutting_down
    return {"ready": ready, "database": state.database, "shutting_down": state.shutting_down}


def scrape_state(app: web.Application) -> dict[str, Any]:
    state = app[keys.READINESS]
    out: dict[str, Any] = {"ready": state.database and not state.shutting_down and keys.POOL in app}
    if keys.POOL in app:
        pool = app[keys.POOL]
        out.update(pool_size=pool.get_size(), pool_idle=pool.get_idle_size())
    return out


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Never touches the database."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = await readiness(request.app)
    return web.json_response(state, status=200 if state["ready"] else 503)


async def metrics(request: web.Request) -> web.Response:
    await readiness(request.app)  # refresh the database fact the `ready` gauge reads
    body = generate_latest(request.app[keys.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

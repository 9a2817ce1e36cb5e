"""Request ids, HTTP metrics, `/healthz`, `/readyz` and `/metrics` for the gateway.

Every HTTP request gets a request id here (16 hex digits), before any handler runs: it is in the
`X-Request-Id` response header, in `data.request_id` of our failures, in every log line written
while the request is handled (the `REQUEST_ID` contextvar, see millimetric_protocol.logcontext), and
it travels to the query service with each read. A client's own `X-Request-Id` is not trusted: this
is the public edge.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from millimetric_protocol.logcontext import REQUEST_ID
from millimetric_protocol.metric_names import http_method_label
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import keys

REQUEST_ID_HEADER: Final = "X-Request-Id"
REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
READY_CHECK_TIMEOUT_S: Final = 2.0
"""Bound on the key database check of /readyz (the compose health check waits 5 s in all)."""


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def request_id_of(request: web.Request) -> str:
    """The id the middleware gave this request (a fresh one for requests built without it, in tests)."""
    found = request.get(REQUEST_ID_KEY)
    return found if found is not None else new_request_id()


def route_label(request: web.Request) -> str:
    """The route template (`/mcp`, `/v1/track`), never the raw path: bounded label values."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Request id (header, contextvar) and the HTTP request count and latency of every request."""
    request_id = new_request_id()
    request[REQUEST_ID_KEY] = request_id
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
        exc.headers.setdefault(REQUEST_ID_HEADER, request_id)
        raise
    finally:
        metrics = request.app[keys.METRICS]
        route, method = route_label(request), http_method_label(request.method)
        metrics.http_requests.labels(route, method, str(status)).inc()
        metrics.http_duration.labels(route, method).observe(time.perf_counter() - started)
        REQUEST_ID.reset(token)


async def on_shutdown(app: web.Application) -> None:
    """Not ready from the first moment of shutdown, before any resource is closed."""
    app[keys.READINESS].shutting_down = True


async def readiness(app: web.Application) -> dict[str, Any]:
    """Ready = not shutting down, the producer connected to a broker that has the events topic, and
    the key database answering (checked now, within READY_CHECK_TIMEOUT_S)."""
    state = app[keys.READINESS]
    broker = app[keys.PRODUCER].ready
    state.database = await app[keys.KEY_STORE].ping(READY_CHECK_TIMEOUT_S)
    ready = broker and state.database and not state.shutting_down
    return {"ready": ready, "broker": broker, "database": state.database, "shutting_down": state.shutting_down}


def scrape_state(app: web.Application) -> dict[str, Any]:
    """What the metrics read at scrape time (synchronously: the last database check is used)."""
    state = app[keys.READINESS]
    out: dict[str, Any] = {"ready": (keys.PRODUCER in app and app[keys.PRODUCER].ready and state.database
                                     and not state.shutting_down)}
    if keys.KEY_STORE in app:
        store = app[keys.KEY_STORE]
        out.update(key_cache_hits=store.hits, key_cache_misses=store.misses, key_cache_entries=store.entries)
    return out


async def healthz(request: web.Request) -> web.Response:
    """Alive: the event loop answers. Never touches a dependency."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    state = await readiness(request.app)
    return web.json_response(state, status=200 if state["ready"] else 503)


async def metrics(request: web.Request) -> web.Response:
    """Prometheus text exposition of this process's metrics."""
    await readiness(request.app)  # refresh the database fact the `ready` gauge reads
    body = generate_latest(request.app[keys.METRICS].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})

"""The HTTP plumbing every service shares: request ids, request metrics, `/healthz`, `/readyz`,
`/metrics`, and running an app.

- `observe(metrics, trust_caller_id=…)` is the middleware: it gives every request an id (16 hex
  digits; or, for internal services, the caller's `X-Request-Id` when it looks like one of ours),
  keeps it in `logs.REQUEST_ID` while the request is handled, returns it as `X-Request-Id`, and
  counts and times the request by route template (never the raw path: bounded labels).
- `Health` answers readiness: a probe passed in by the service checks its dependencies and says
  whether it is ready, with the facts behind it (e.g. `{"ready": False, "database": True, "broker":
  False}`); ready means the probe says so and the app is not shutting down. On shutdown the app
  reports not-ready before anything is closed.
- `add_health_routes` mounts `/healthz` (the loop answers; touches no dependency), `/readyz`
  (200/503 with the facts) and `/metrics` (Prometheus text of the app's registry).
- `run_app` sets up logging and serves an app the way every service's `__main__` does.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from .logs import REQUEST_ID, is_request_id, setup_logging
from .metrics import HttpMetrics

REQUEST_ID_HEADER: Final = "X-Request-Id"
REQUEST_ID_KEY: Final = web.RequestKey("request_id", str)
SHUTDOWN_TIMEOUT_S: Final = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Probe = Callable[[], Awaitable[dict[str, Any]]]
"""Checks the dependencies now; returns `{"ready": bool, …facts}` (the facts are shown on /readyz)."""


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def request_id_of(request: web.Request) -> str:
    """The id the middleware gave this request (a fresh one for requests built without it, in tests)."""
    found = request.get(REQUEST_ID_KEY)
    return found if found is not None else new_request_id()


def route_label(request: web.Request) -> str:
    """The route template (`/mcp`, `/v1/track`), never the raw path."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


def observe(metrics: HttpMetrics, *, trust_caller_id: bool) -> Middleware:
    """The request-id and request-metrics middleware. `trust_caller_id`: keep a caller's well-formed
    `X-Request-Id` (internal services, whose caller is the gateway); the public edge never does."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        sent = request.headers.get(REQUEST_ID_HEADER) if trust_caller_id else None
        request_id = sent if sent is not None and is_request_id(sent) else new_request_id()
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
            metrics.observe(route_label(request), request.method, status, time.perf_counter() - started)
            REQUEST_ID.reset(token)

    return middleware


class Health:
    """Readiness from a probe of the dependencies, plus the shutting-down flag."""

    def __init__(self, probe: Probe) -> None:
        self._probe = probe
        self.shutting_down = False
        self._last: dict[str, Any] = {"ready": False}
        """The last probe's answer (what the `ready` gauge reads between checks)."""

    @property
    def ready(self) -> bool:
        return bool(self._last.get("ready")) and not self.shutting_down

    async def check(self) -> dict[str, Any]:
        """Probe now; the answer of /readyz: `ready`, the probe's facts, `shutting_down`."""
        self._last = await self._probe()
        return {**self._last, "ready": self.ready, "shutting_down": self.shutting_down}


HEALTH: Final = web.AppKey("health", Health)
REGISTRY: Final = web.AppKey("metrics_registry", CollectorRegistry)


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = await request.app[HEALTH].check()
    return web.json_response(state, status=200 if state["ready"] else 503)


async def _metrics(request: web.Request) -> web.Response:
    await request.app[HEALTH].check()  # refresh the facts the `ready` gauge reads
    body = generate_latest(request.app[REGISTRY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})


async def _not_ready_from_now(app: web.Application) -> None:
    app[HEALTH].shutting_down = True


def add_health_routes(app: web.Application, health: Health, registry: CollectorRegistry) -> None:
    """`/healthz`, `/readyz`, `/metrics`; not ready from the first moment of shutdown."""
    app[HEALTH] = health
    app[REGISTRY] = registry
    app.on_shutdown.append(_not_ready_from_now)
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)


def run_app(service: str, app: web.Application, *, host: str, port: int, log_json: bool) -> None:
    """Serve `app` until SIGTERM/SIGINT, as every HTTP service's `__main__` does: JSON or text logs,
    no access log (query strings may hold a key), a bounded graceful shutdown."""
    setup_logging(service, json_lines=log_json)
    logging.getLogger(f"millimetric_{service}").info("%s listening on %s:%s", service, host, port)
    web.run_app(app, host=host, port=port, print=None, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S)

"""`POST /v1/track` and `POST /v1/batch`: Segment-compatible event ingestion for websites (pk_ keys,
the /js/millimetric.js snippet, `navigator.sendBeacon`) and servers (sk_ keys).

Order of checks: media type → body size → key (Authorization Bearer or Basic, then `?key=`, then
the body's `writeKey`/`key`) → key kind (pk_/sk_; every plan) → rate limit → validation of every
call (all or nothing) → produce every event to Kafka through the same producer as `track_event`
(acks=all) → `{"accepted": n, "event_ids": […]}`. Refusals are `{"error": name, "detail": …}` with the
HTTP status of `millimetric_protocol.tracking.TRACKING_ERROR_STATUS`.

Browsers: every answer carries `Access-Control-Allow-Origin: *` and preflights are answered, because
these endpoints are called cross-origin from customers' sites. A pk_ key is public and can only
write, so the MCP Origin/Host allow-list (a DNS-rebinding defence for a read API) does not apply here.
`text/plain` bodies are JSON too: that is what sendBeacon sends, and it needs no preflight.

Nothing here logs a key, a body or a property: only counts and error names reach the logs.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Final, Literal

import msgspec
from aiohttp import web
from millimetric_protocol import limits
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.events import EventContext, EventMessage
from millimetric_protocol.tracking import (
    TrackBatch,
    TrackCall,
    TrackingError,
    TrackingErrorName,
    build_event,
    context_text,
    decode_batch,
    decode_track,
    key_in_body,
    library_of,
    merged_context,
    stored_properties,
)
from millimetric_runtime.http import REQUEST_ID_HEADER, request_id_of

from . import keys
from .auth import KeyInfo, KeyStoreUnavailable, bearer_token
from .transport import CONTENT_ENCODINGS, Refusal, client_network, read_body, truncate_ip

logger = logging.getLogger(__name__)

TRACK_PATH: Final = "/v1/track"
BATCH_PATH: Final = "/v1/batch"
TrackingRoute = Literal["track", "batch"]
"""Which tracking endpoint a request came in on: `/v1/track` (one call) or `/v1/batch`."""
INGEST_KEY_KINDS: Final = ("pk", "sk")
MEDIA_TYPES: Final = ("application/json", "text/plain", "")
"""JSON bodies may say application/json, text/plain (sendBeacon with a string) or nothing at all."""
MAX_BODY_BYTES: Final[dict[TrackingRoute, int]] = {"track": limits.MAX_TRACK_BODY_BYTES, "batch": limits.MAX_BATCH_BODY_BYTES}
DEFAULT_LIBRARY: Final = "http"

CORS_HEADERS: Final = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Expose-Headers": "X-Request-Id, Retry-After",
}
PREFLIGHT_HEADERS: Final = {
    **CORS_HEADERS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
    "Access-Control-Max-Age": "86400",
}


def _answer(status: int, body: dict[str, object], request_id: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=msgspec.json.encode(body), content_type="application/json",
                        headers={**CORS_HEADERS, REQUEST_ID_HEADER: request_id, **(headers or {})})


def _refused(exc: TrackingError, request_id: str) -> web.Response:
    headers: dict[str, str] = {}
    if exc.name == "invalid_key":
        headers["WWW-Authenticate"] = "Bearer" if exc.data.get("missing") else 'Bearer error="invalid_token"'
    if exc.name in ("unavailable", "rate_limited"):
        headers["Retry-After"] = str(exc.data.pop("retry_after_s", 1))
    if exc.name == "unavailable":
        exc.data["request_id"] = request_id
    return _answer(exc.status, exc.body(), request_id, headers)


def tracking_handler(route: TrackingRoute) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = request_id_of(request)
        try:
            event_ids = await _track(request, route)
        except TrackingError as exc:
            return _refused(exc, request_id)
        return _answer(200, {"accepted": len(event_ids), "event_ids": event_ids}, request_id)

    return handle


async def preflight(request: web.Request) -> web.Response:
    """CORS preflight: any origin may POST (the key, not the origin, is the credential)."""
    headers = dict(PREFLIGHT_HEADERS)
    if request.headers.get("Access-Control-Request-Private-Network", "").lower() == "true":
        headers["Access-Control-Allow-Private-Network"] = "true"  # a public site calling a gateway on a private network
    return web.Response(status=204, headers={**headers, REQUEST_ID_HEADER: request_id_of(request)})


async def method_not_allowed(request: web.Request) -> web.Response:
    error = TrackingError("method_not_allowed", "send events with POST")
    return _answer(405, error.body(), request_id_of(request), {"Allow": "POST, OPTIONS"})


async def _track(request: web.Request, route: TrackingRoute) -> list[str]:
    """Everything between the HTTP request and the broker's acknowledgements; the accepted event ids."""
    _check_media(request)
    try:
        body = await read_body(request, MAX_BODY_BYTES[route])
    except Refusal as refusal:
        name: TrackingErrorName = "payload_too_large" if refusal.error.name is ErrorName.PAYLOAD_TOO_LARGE else "parse_error"
        raise TrackingError(name, refusal.error.detail or name, refusal.error.data) from None
    key = await _authenticate(request, body)
    network = client_network(request, request.app[keys.SETTINGS].trusted_proxies)  # once per request
    _check_rate(request, key, network)
    calls, sent_at, batch_context = _decode(body, route)
    messages = _messages(request, key, network, calls, sent_at, batch_context, route)
    await _produce(request, messages, route)
    return [str(m.event_id) for m in messages]


def _check_media(request: web.Request) -> None:
    media = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if media not in MEDIA_TYPES:
        raise TrackingError("unsupported_media_type", "send JSON as application/json or text/plain",
                            {"content_type": media[:80], "supported": [m for m in MEDIA_TYPES if m]})
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if encoding not in CONTENT_ENCODINGS:
        raise TrackingError("unsupported_media_type", "Content-Encoding must be gzip, deflate or identity",
                            {"content_encoding": encoding[:40], "supported": list(CONTENT_ENCODINGS)})


def _token(request: web.Request, body: bytes) -> str | None:
    """Authorization: Bearer <key>, or Basic with the key as user name (Segment's server libraries),
    then `?key=` (sendBeacon cannot set headers), then the body's `writeKey` / `key`."""
    header = request.headers.get("Authorization")
    token = bearer_token(header)
    if token is None and header and header.strip()[:6].lower() == "basic ":
        try:
            token = base64.b64decode(header.strip()[6:], validate=True).decode().split(":", 1)[0] or None
        except (binascii.Error, UnicodeDecodeError):
            token = None
    return token or request.query.get("key") or key_in_body(body)


async def _authenticate(request: web.Request, body: bytes) -> KeyInfo:
    token = _token(request, body)
    if token is None:
        raise TrackingError("invalid_key", "send the key as Authorization: Bearer <key>, ?key=<key> or the body's writeKey",
                            {"missing": True})
    try:
        key = await request.app[keys.KEY_STORE].lookup(token)
    except KeyStoreUnavailable as exc:  # logged once per outage by the key store
        raise TrackingError("unavailable", "key store unavailable; retry", {"retryable": True}) from exc
    if key is None:
        raise TrackingError("invalid_key", "unknown, revoked or malformed key")
    if key.kind not in INGEST_KEY_KINDS:
        detail = ("rk_ keys are read-only" if key.kind == "rk" else "ak_ keys belong on /mcp/account")
        raise TrackingError("key_kind_not_allowed", f"{detail}; track with a pk_ (browser) or sk_ (server) key",
                            {"got": key.kind, "allowed": list(INGEST_KEY_KINDS)})
    return key


def _check_rate(request: web.Request, key: KeyInfo, network: str | None) -> None:
    """The per-key limit (GATEWAY_RATE_LIMIT_PER_S). A pk_ key serves every visitor of a site, so
    its bucket is per key and visitor network (/24, /48), not per key alone."""
    limiter = request.app[keys.RATE_LIMITER]
    if not limiter.enabled:
        return
    bucket: object = key.key_id
    if key.kind == "pk":
        bucket = (key.key_id, network)
    wait_s = limiter.retry_after_s(bucket)
    if wait_s > 0:
        raise TrackingError("rate_limited", "rate limit exceeded; see Retry-After",
                            {"retryable": True, "retry_after_s": max(1, math.ceil(wait_s))})


Decoded = tuple[list[TrackCall], datetime | None, dict[str, object] | None]


def _decode(body: bytes, route: TrackingRoute) -> Decoded:
    if route == "track":
        return [decode_track(body)], None, None
    batch: TrackBatch = decode_batch(body)
    return batch.batch, batch.sentAt, batch.context


def _messages(request: web.Request, key: KeyInfo, ip: str | None, calls: list[TrackCall], sent_at: datetime | None,
              batch_context: dict[str, object] | None, route: TrackingRoute) -> list[EventMessage]:
    """One Kafka message per call, all validated before any is produced (all or nothing)."""
    assert key.project_id is not None  # pk_ and sk_ keys always belong to a project
    received_at = datetime.now(UTC)
    user_agent = request.headers.get("User-Agent", "")[:limits.MAX_USER_AGENT_CHARS] or None
    messages = []
    for index, call in enumerate(calls):
        context = merged_context(call, batch_context)
        call_ip, call_agent = ip, user_agent
        if key.kind == "sk":
            # A server (sk_ key) tracks on behalf of its visitors: it may pass their address and
            # user agent, Segment-style, in `context`. A browser's claims about itself are not taken.
            client_ip = context_text(context, "ip", 64)
            call_ip = truncate_ip(client_ip) if client_ip is not None else ip
            call_agent = context_text(context, "userAgent", limits.MAX_USER_AGENT_CHARS) or user_agent
        where = f"batch[{index}]" if route == "batch" else ""
        try:
            properties = stored_properties(call, context)
            messages.append(build_event(
                call.draft(properties, sent_at), project_id=key.project_id, received_at=received_at,
                context=EventContext(ip=call_ip, user_agent=call_agent, library=library_of(context) or DEFAULT_LIBRARY),
            ))
        except ValueError as exc:
            data: dict[str, object] = {"path": where} if where else {}
            if where:
                data["index"] = index
            raise TrackingError("invalid_event", f"{exc}" + (f" (at {where})" if where else ""), data) from None
    return messages


async def _produce(request: web.Request, messages: list[EventMessage], via: TrackingRoute) -> None:
    """Every message to the broker, concurrently; succeeds only when every one was acknowledged.
    NOTE: on failure some events of a batch may have been queued. Retrying the same calls with the
    same messageIds never stores one twice (the snippet always sends one)."""
    producer, metrics = request.app[keys.PRODUCER], request.app[keys.METRICS]
    results = await asyncio.gather(*(producer.send(m) for m in messages), return_exceptions=True)
    failed = [r for r in results if isinstance(r, BaseException)]
    metrics.produced(via, len(messages) - len(failed))
    if not failed:
        if via == "batch":
            metrics.batch_events.observe(len(messages))
        return
    metrics.produce_failed(via, len(failed))
    unexpected = [r for r in failed if not isinstance(r, ProtocolError)]
    if unexpected:
        logger.error("produce failed unexpectedly: %s", type(unexpected[0]).__name__, exc_info=unexpected[0])
        raise TrackingError("internal_error", "internal error")
    raise TrackingError("unavailable", "the event broker did not acknowledge every event; retry the same calls",
                        {"retryable": True, "failed": len(failed)})

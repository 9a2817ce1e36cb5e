"""Bytes in → one JSON-RPC message → method handler → (HTTP status, bytes out).

Two eras share the method handlers and differ in framing (docs/mcp.md §5–§6):
- handshake (2025-03-26 … 2025-11-25): errors of a dispatched request travel with HTTP 200,
  because MCP clients lose the JSON-RPC code of a non-2xx answer; on 2025-03-26 (also what a
  request without MCP-Protocol-Version speaks) a POST may carry a JSON-RPC batch;
- modern (2026-07-28): the validation ladder of §6.3 with its 400/404 statuses, `resultType`
  on every result, cache hints on cacheable ones, and the serverInfo `_meta` stamp.
This module is the one place where ProtocolError becomes wire bytes for dispatched requests.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final

import msgspec
from millimetric_protocol.codec import (
    BATCH_PROTOCOL_VERSIONS,
    as_request,
    decode_batch,
    decode_message,
    encode_error,
    encode_result,
    is_batch,
)
from millimetric_protocol.envelope import Message, ModernMeta, Request
from millimetric_protocol.errors import ErrorName, ProtocolError

from .context import CallContext, CallTrace
from .methods import lifecycle, prompts, resources, tools
from .services import Services
from .versions import MODERN_VERSIONS

logger = logging.getLogger(__name__)

Handler = Callable[[Services, CallContext, Any], Awaitable[dict[str, Any]]]

_COMMON: Final[dict[str, Handler]] = {
    "tools/list": tools.list_tools,
    "tools/call": tools.call_tool,
    "resources/list": resources.list_resources,
    "resources/templates/list": resources.list_templates,
    "resources/read": resources.read_resource,
    "prompts/list": prompts.list_prompts,
    "prompts/get": prompts.get_prompt,
}
HANDSHAKE_METHODS: Final[dict[str, Handler]] = {
    "initialize": lifecycle.initialize,
    "ping": lifecycle.ping,
    **_COMMON,
}
MODERN_METHODS: Final[dict[str, Handler]] = {"server/discover": lifecycle.discover, **_COMMON}

CACHE_TTL_MS: Final[dict[str, int]] = {
    "server/discover": 60_000,
    "tools/list": 300_000,
    "resources/list": 300_000,
    "resources/templates/list": 300_000,
    "prompts/list": 300_000,
    "resources/read": 0,  # events://recent must never be served from a cache
}
_NAME_PARAM: Final = {"tools/call": "name", "prompts/get": "name", "resources/read": "uri"}

Reply = tuple[int, bytes | None]
"""HTTP status and body; a None body means 202 Accepted with nothing in it."""


async def handle_handshake(svc: Services, ctx: CallContext, body: bytes) -> Reply:
    if ctx.version in BATCH_PROTOCOL_VERSIONS and is_batch(body):
        return await _handle_batch(svc, ctx, body)
    try:
        request = as_request(decode_message(body))  # refuses batches: later versions have none
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        return exc.spec.http_status or 400, encode_error(None, exc)
    if request is None or request.is_notification:
        ctx.trace.method = "notification"
        return 202, None  # notifications/initialized, notifications/cancelled, client responses
    return 200, await _answer(svc, ctx, request)


async def _answer(svc: Services, ctx: CallContext, request: Request) -> bytes:
    """The encoded response to one handshake-era request; its errors travel with HTTP 200."""
    handler = HANDSHAKE_METHODS.get(request.method)
    if handler is None:
        ctx.trace.outcome = ErrorName.METHOD_NOT_FOUND.value
        return encode_error(request.id, _method_not_found(request.method))
    ctx.trace.method = request.method
    try:
        result = await handler(svc, ctx, request.params)
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        return encode_error(request.id, _logged(exc, ctx))
    except Exception:
        ctx.trace.outcome = "internal_error"
        return encode_error(request.id, _internal(ctx, request.method))
    return encode_result(request.id, result)


async def _handle_batch(svc: Services, ctx: CallContext, body: bytes) -> Reply:
    """A JSON-RPC 2.0 batch (MCP 2025-03-26): its requests run concurrently, each with its own
    trace, and their responses come back as one array in request order; notifications and client
    responses get none, so a batch of only those is 202 with no body. A body that is not a batch
    as a whole (not JSON, an empty array, too many messages) is one error object, HTTP 400, `id: null`."""
    try:
        items = decode_batch(body)
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        return exc.spec.http_status or 400, encode_error(None, exc)
    ctx.trace.method = "batch"
    contexts = [dataclasses.replace(ctx, trace=CallTrace()) for _ in items]
    answers = await asyncio.gather(*(_batch_item(svc, c, item) for c, item in zip(contexts, items)))
    ctx.trace.outcome = next((c.trace.outcome for c in contexts if c.trace.outcome != "ok"), "ok")
    responses = [answer for answer in answers if answer is not None]
    if not responses:
        return 202, None
    return 200, b"[" + b",".join(responses) + b"]"


async def _batch_item(svc: Services, ctx: CallContext, item: Message | ProtocolError) -> bytes | None:
    """One member of a batch → its encoded response; None for a notification or a client response."""
    if isinstance(item, ProtocolError):
        return _refused(ctx, None, item)
    try:
        request = as_request(item)
    except ProtocolError as exc:
        return _refused(ctx, None, exc)
    if request is None or request.is_notification:
        return None
    if request.method == "initialize":
        return _refused(ctx, request.id, ProtocolError(
            ErrorName.INVALID_REQUEST, "initialize must not be part of a JSON-RPC batch (MCP 2025-03-26): send it alone"))
    return await _answer(svc, ctx, request)


def _refused(ctx: CallContext, request_id: Any, error: ProtocolError) -> bytes:
    ctx.trace.outcome = error.name.value
    return encode_error(request_id, error)


async def handle_modern(svc: Services, ctx: CallContext, body: bytes, headers: Mapping[str, list[str]]) -> Reply:
    """The 2026-07-28 ladder (§6.3); the header version has already been checked to be served."""
    try:
        message = decode_message(body)
        if message.method is not msgspec.UNSET and message.id is msgspec.UNSET:
            ctx.trace.method = "notification"
            return 202, None  # a notification: acknowledged, nothing to do in a stateless server
        request = as_request(message)
        if request is None:
            raise ProtocolError(ErrorName.INVALID_REQUEST, "a 2026-07-28 POST must carry one request")
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        return exc.spec.http_status or 400, encode_error(None, exc)
    handler = MODERN_METHODS.get(request.method)
    if handler is not None:
        ctx.trace.method = request.method
    try:
        _check_envelope(request, headers)
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        return 400, encode_error(request.id, exc)
    if handler is None:
        ctx.trace.outcome = ErrorName.METHOD_NOT_FOUND.value
        return 404, encode_error(request.id, _method_not_found(request.method))
    try:
        result = await handler(svc, ctx, request.params)
    except ProtocolError as exc:
        ctx.trace.outcome = exc.name.value
        status = 400 if exc.code == -32602 else 200  # invalid params / unknown tool or resource: 400 (§6.3)
        return status, encode_error(request.id, _logged(exc, ctx))
    except Exception:
        ctx.trace.outcome = "internal_error"
        return 200, encode_error(request.id, _internal(ctx, request.method))
    result["resultType"] = "complete"
    if request.method in CACHE_TTL_MS:
        result["ttlMs"] = CACHE_TTL_MS[request.method]
        result["cacheScope"] = "private"  # every answer depends on the caller's key
    result["_meta"] = {"io.modelcontextprotocol/serverInfo": lifecycle.SERVER_INFO}
    return 200, encode_result(request.id, result)


def _check_envelope(request: Request, headers: Mapping[str, list[str]]) -> None:
    """Rungs 6–9 of the ladder: repeated routing headers, `_meta` keys, header/body agreement, version."""
    for name in ("mcp-protocol-version", "mcp-method", "mcp-name"):
        if len(headers.get(name, ())) > 1:
            raise ProtocolError(ErrorName.HEADER_MISMATCH, f"routing header {name} repeated")
    params = _params_object(request)
    meta_raw = params.get("_meta")
    if not isinstance(meta_raw, dict):
        raise ProtocolError(ErrorName.INVALID_PARAMS, "params._meta is required in 2026-07-28 requests")
    meta = msgspec.convert(meta_raw, ModernMeta)
    if meta.protocol_version is msgspec.UNSET or not isinstance(meta.client_capabilities, dict):
        raise ProtocolError(ErrorName.INVALID_PARAMS,
                            "params._meta needs io.modelcontextprotocol/protocolVersion and io.modelcontextprotocol/clientCapabilities (an object)")
    header_version = _first(headers, "mcp-protocol-version")
    if header_version != meta.protocol_version:
        raise ProtocolError(ErrorName.HEADER_MISMATCH, "MCP-Protocol-Version header differs from params._meta")
    method_header = _first(headers, "mcp-method")
    if method_header is None or _decode_header(method_header) != request.method:
        raise ProtocolError(ErrorName.HEADER_MISMATCH, "Mcp-Method header missing or differs from the method")
    name_param = _NAME_PARAM.get(request.method)
    if name_param is not None and isinstance(params.get(name_param), str):
        name_header = _first(headers, "mcp-name")
        if name_header is None or _decode_header(name_header) != params[name_param]:
            raise ProtocolError(ErrorName.HEADER_MISMATCH, f"Mcp-Name header missing or differs from params.{name_param}")
    if not isinstance(meta.protocol_version, str):
        raise ProtocolError(ErrorName.INVALID_PARAMS, "params._meta protocolVersion must be a string")
    if meta.protocol_version not in MODERN_VERSIONS:
        raise ProtocolError(ErrorName.UNSUPPORTED_PROTOCOL_VERSION, None,
                            {"supported": list(MODERN_VERSIONS), "requested": meta.protocol_version[:40]})


def _first(headers: Mapping[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


def _params_object(request: Request) -> dict[str, Any]:
    if not isinstance(request.params, msgspec.Raw):
        return {}
    try:
        params = msgspec.json.decode(request.params)
    except (msgspec.DecodeError, RecursionError):
        return {}
    return params if isinstance(params, dict) else {}


def _decode_header(value: str) -> str | None:
    """Routing header values may be sent as `=?base64?<utf-8 base64>?=` (§6.2)."""
    if value.startswith("=?base64?") and value.endswith("?="):
        try:
            return base64.b64decode(value[9:-2], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
    return value


def _method_not_found(method: str) -> ProtocolError:
    return ProtocolError(ErrorName.METHOD_NOT_FOUND, f"unknown method {method[:100]!r}")


def _logged(exc: ProtocolError, ctx: CallContext) -> ProtocolError:
    """A failure of ours carries the request id, which is also in our log (and the X-Request-Id header)."""
    if exc.name is ErrorName.TOOL_FAILED:
        exc.data.setdefault("request_id", ctx.request_id)
        logger.warning("tool_failed (request %s): %s", ctx.request_id, exc.detail or "no detail")
    return exc


def _internal(ctx: CallContext, method: str) -> ProtocolError:
    logger.exception("internal error in %s (request %s)", method[:100], ctx.request_id)
    return ProtocolError(ErrorName.TOOL_FAILED, "internal error", {"request_id": ctx.request_id, "retryable": False})

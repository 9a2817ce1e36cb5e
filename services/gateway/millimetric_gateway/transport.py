"""The HTTP side of `POST /mcp` and `POST /mcp/account`: every refusal that happens before a
JSON-RPC request is dispatched, in the order of docs/mcp.md §3.2: Origin/Host → key → plan →
rate limit → Content-Type/Content-Encoding → Accept → era → size. Refusals carry a JSON-RPC error
body with `id: null`, `message` = the error name and `data.detail`, so plain HTTP clients and MCP
clients both show the reason.

Request bodies are decompressed here, not by aiohttp (the app sets `auto_decompress=False`), so the
1 MiB limit holds for the decompressed bytes without ever inflating more than that, and a corrupt or
unsupported encoding gets a JSON-RPC refusal instead of aiohttp's plain-text 400/500.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError
from millimetric_protocol import limits
from millimetric_protocol.codec import encode_error
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_runtime.http import request_id_of

from . import keys, rpc
from .auth import KeyInfo, KeyStoreUnavailable, bearer_token
from .catalog import Endpoint
from .context import CallContext
from .services import Services
from .settings import LOCAL_HOSTS, Settings
from .versions import ALL_VERSIONS, era_of

logger = logging.getLogger(__name__)

JSON: Final = "application/json"
SERVICES = web.AppKey("services", Services)
_REQUIRED_PLAN: Final[dict[Endpoint, tuple[str, ...]]] = {"project": ("pro", "business"), "account": ("business",)}
CONTENT_ENCODINGS: Final = ("identity", "gzip", "x-gzip", "deflate")
"""Request `Content-Encoding`s we decode; anything else → 415."""
_MAX_ENCODED_BYTES: Final = limits.MAX_BODY_BYTES + 64 * 1024
"""Wire bytes read for a compressed body: gzip/deflate add at most a few hundred bytes to
incompressible data, so every body that is ≤ MAX_BODY_BYTES once decompressed fits."""
_READ_CHUNK_BYTES: Final = 64 * 1024


class Refusal(Exception):
    def __init__(self, error: ProtocolError, headers: dict[str, str] | None = None, status: int | None = None) -> None:
        super().__init__(error.name.value)
        self.error = error
        self.headers = headers or {}
        self.status = status


def refusal_response(error: ProtocolError, request_id: str, headers: dict[str, str] | None = None,
                     status: int | None = None) -> web.Response:
    status = status or error.spec.http_status or 400
    return web.Response(status=status, body=encode_error(None, error), content_type=JSON,
                        headers={"X-Request-Id": request_id, **(headers or {})})


def _host_name(host_header: str) -> str:
    """'LocalHost:8787' → 'localhost', '[::1]:80' → '[::1]'. Anything that is not `name[:digits]` comes
    back whole, so it matches no allow-list entry ('localhost:1.evil.example' stays itself)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]") + 1
        name, port = (host[:end], host[end:]) if end else (host, "")
    elif host.count(":") == 1:
        name, port = host.split(":")
        port = ":" + port
    else:
        name, port = host, ""
    if port and not (port.startswith(":") and port[1:].isdigit()):
        return host
    return name


def check_origin(request: web.Request, settings: Settings) -> None:
    """DNS-rebinding defence: an `Origin` must be allowed (absent is fine: server-side agents send
    none); when bound to loopback, `Host` must be a loopback name or explicitly allowed."""
    origin = request.headers.get("Origin")
    if origin is not None and origin not in settings.allowed_origins:
        parts = urlsplit(origin)
        local = settings.bound_to_loopback and parts.scheme in ("http", "https") and _host_name(parts.netloc) in LOCAL_HOSTS
        if not local:
            raise Refusal(ProtocolError(ErrorName.ORIGIN_NOT_ALLOWED, "Origin not allowed", {"origin": origin[:200]}))
    if settings.bound_to_loopback:
        host = _host_name(request.headers.get("Host", ""))
        if host not in LOCAL_HOSTS and host not in settings.allowed_hosts:
            raise Refusal(ProtocolError(ErrorName.ORIGIN_NOT_ALLOWED, "Host not allowed", {"host": host[:200]}))


async def authenticate(request: web.Request, endpoint: Endpoint) -> KeyInfo:
    token = bearer_token(request.headers.get("Authorization"))
    if token is None:
        raise Refusal(ProtocolError(ErrorName.INVALID_KEY, "send Authorization: Bearer <key>"), {"WWW-Authenticate": "Bearer"})
    try:
        key = await request.app[keys.KEY_STORE].lookup(token)
    except KeyStoreUnavailable as exc:  # logged once per outage by the key store
        raise Refusal(ProtocolError(ErrorName.TOOL_FAILED, "key store unavailable", {"retryable": True}),
                      {"Retry-After": "1"}, status=503) from exc
    if key is None:
        raise Refusal(ProtocolError(ErrorName.INVALID_KEY, "unknown, revoked or malformed key"),
                      {"WWW-Authenticate": 'Bearer error="invalid_token"'})
    if endpoint == "account" and key.kind != "ak":
        raise Refusal(ProtocolError(ErrorName.ACCOUNT_KEY_REQUIRED, "/mcp/account takes ak_ keys only", {"got": key.kind}))
    if endpoint == "project" and key.kind not in ("sk", "rk"):
        detail = ("pk_ keys are browser-only and can never read events; use an rk_ or sk_ key" if key.kind == "pk"
                  else "ak_ keys belong on /mcp/account")
        raise Refusal(ProtocolError(ErrorName.KEY_KIND_NOT_ALLOWED, detail, {"got": key.kind, "allowed": ["sk", "rk"]}))
    if key.plan not in _REQUIRED_PLAN[endpoint]:
        required = "business" if endpoint == "account" else "pro"
        raise Refusal(ProtocolError(ErrorName.PLAN_LIMIT, f"this endpoint needs the {required} plan or higher",
                                    {"plan": key.plan, "required": required,
                                     "feature": "account_mcp_access" if endpoint == "account" else "mcp_access"}))
    return key


def check_media(request: web.Request) -> None:
    ctype = request.headers.get("Content-Type", "")
    if ctype.split(";", 1)[0].strip().lower() != JSON:
        raise Refusal(ProtocolError(ErrorName.UNSUPPORTED_MEDIA_TYPE, "Content-Type must be application/json"))
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    if encoding not in CONTENT_ENCODINGS:
        raise Refusal(ProtocolError(ErrorName.UNSUPPORTED_MEDIA_TYPE, "Content-Encoding must be gzip, deflate or identity",
                                    {"content_encoding": encoding[:40], "supported": list(CONTENT_ENCODINGS)}))
    accept = request.headers.get("Accept", "")
    if accept.strip() and not _accepts_json(accept):  # no Accept at all means anything is fine
        raise Refusal(ProtocolError(ErrorName.NOT_ACCEPTABLE, "Accept must include application/json"))


def _accepts_json(accept: str) -> bool:
    for part in accept.split(","):
        kind, *params = (p.strip().lower() for p in part.split(";"))
        if kind in (JSON, "application/*", "*/*") and "q=0" not in params and "q=0.0" not in params:
            return True
    return False


async def read_body(request: web.Request, max_bytes: int = limits.MAX_BODY_BYTES) -> bytes:
    """The request body, decompressed, at most `max_bytes` (else 413)."""
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower() or "identity"
    wire_max = max_bytes if encoding == "identity" else max_bytes + _MAX_ENCODED_BYTES - limits.MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > wire_max:
        raise Refusal(_too_large(max_bytes))
    chunks: list[bytes] = []
    size = 0
    try:
        while chunk := await request.content.read(_READ_CHUNK_BYTES):
            size += len(chunk)
            if size > wire_max:
                raise Refusal(_too_large(max_bytes))
            chunks.append(chunk)
    except (RequestPayloadError, HttpProcessingError) as exc:
        raise Refusal(ProtocolError(ErrorName.PARSE_ERROR, "the request body could not be read (bad chunked encoding?)")) from exc
    body = b"".join(chunks)
    return body if encoding == "identity" else _decompress(body, encoding, max_bytes)


def _decompress(data: bytes, encoding: str, max_bytes: int = limits.MAX_BODY_BYTES) -> bytes:
    """gzip (possibly several members) or zlib/raw deflate, never inflating past `max_bytes`."""
    out = bytearray()
    wbits = 16 + zlib.MAX_WBITS if encoding in ("gzip", "x-gzip") else 32 + zlib.MAX_WBITS  # 32+: zlib or gzip header
    remaining = data
    try:
        while True:
            inflater = zlib.decompressobj(wbits)
            try:
                out += inflater.decompress(remaining, max_bytes + 1 - len(out))
            except zlib.error:
                if encoding != "deflate" or out:
                    raise
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # some clients send raw deflate without the zlib header
                out += inflater.decompress(remaining, max_bytes + 1 - len(out))
            if len(out) > max_bytes:
                raise Refusal(_too_large(max_bytes))
            if not inflater.eof:
                raise zlib.error("truncated stream")
            remaining = inflater.unused_data
            if not remaining.strip(b"\x00"):
                return bytes(out)
    except zlib.error as exc:
        raise Refusal(ProtocolError(ErrorName.PARSE_ERROR, f"the body is not valid {encoding} data")) from exc


def _too_large(max_bytes: int = limits.MAX_BODY_BYTES) -> ProtocolError:
    return ProtocolError(ErrorName.PAYLOAD_TOO_LARGE, f"request body over {max_bytes} bytes (after decompression)",
                         {"max_bytes": max_bytes})


def truncate_ip(remote: str | None) -> str | None:
    """Privacy: keep only the network part of the client address (IPv4 /24, IPv6 /48)."""
    if not remote:
        return None
    try:
        return _network_of(ipaddress.ip_address(remote))
    except ValueError:
        return None


def _network_of(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if ip.version == 6 and ip.ipv4_mapped is not None:  # ::ffff:203.0.113.7 is an IPv4 client
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(items: tuple[str, ...]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _parse_hop(hop: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """One `X-Forwarded-For` entry: `203.0.113.7`, `2001:db8::1`, `[2001:db8::1]:443` or `203.0.113.7:443`."""
    hop = hop.strip()
    if hop.startswith("["):
        hop = hop[1:hop.find("]")] if "]" in hop else hop
    elif hop.count(":") == 1:
        hop = hop.split(":")[0]
    try:
        return ipaddress.ip_address(hop)
    except ValueError:
        return None


def _trusted(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


def client_address(request: web.Request, trusted_proxies: tuple[str, ...]) -> str | None:
    """The client's full address: the TCP peer, unless the peer is a trusted proxy
    (GATEWAY_TRUSTED_PROXIES); then the `X-Forwarded-For` entries are walked from the right (the
    entries our own proxies appended) and the first one that is not a trusted proxy is the client.
    An unparsable entry there means the address is unknown (None). Store only `client_network`."""
    ip = _client_ip(request, trusted_proxies)
    return None if ip is None else str(ip)


def client_network(request: web.Request, trusted_proxies: tuple[str, ...]) -> str | None:
    """What is stored of the client's address: `truncate_ip` of `client_address`, parsed once."""
    ip = _client_ip(request, trusted_proxies)
    return None if ip is None else _network_of(ip)


def _client_ip(request: web.Request, trusted_proxies: tuple[str, ...]) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    peer = _parse_hop(request.remote or "")
    networks = _networks(trusted_proxies)
    if peer is None or not networks or not _trusted(peer, networks):
        return peer
    hops = [hop for header in request.headers.getall("X-Forwarded-For", []) for hop in header.split(",")]
    client = peer
    for hop in reversed(hops):
        parsed = _parse_hop(hop)
        if parsed is None:
            return None
        client = parsed
        if not _trusted(parsed, networks):
            break
    return client


def _routing_headers(request: web.Request) -> dict[str, list[str]]:
    return {name: request.headers.getall(name, []) for name in ("mcp-protocol-version", "mcp-method", "mcp-name")}


def mcp_handler(endpoint: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        request_id = request_id_of(request)
        settings = request.app[keys.SETTINGS]
        try:
            check_origin(request, settings)
            key = await authenticate(request, endpoint)
            wait_s = request.app[keys.RATE_LIMITER].retry_after_s(key.key_id)
            if wait_s > 0:
                raise Refusal(ProtocolError(ErrorName.RATE_LIMITED, "rate limit exceeded", {"retryable": True}),
                              {"Retry-After": str(max(1, math.ceil(wait_s)))})
            check_media(request)
            versions = request.headers.getall("MCP-Protocol-Version", [])
            era = era_of(versions[0] if versions else None)
            if era is None:
                raise Refusal(ProtocolError(ErrorName.UNSUPPORTED_PROTOCOL_VERSION, "MCP-Protocol-Version not served",
                                            {"supported": list(ALL_VERSIONS), "requested": versions[0][:40]}))
            body = await read_body(request)
        except Refusal as refusal:
            return refusal_response(refusal.error, request_id, refusal.headers, refusal.status)
        ctx = CallContext(
            endpoint=endpoint, key=key, era=era[0], version=era[1], request_id=request_id,
            client_ip=client_network(request, settings.trusted_proxies),
            user_agent=request.headers.get("User-Agent", "")[:limits.MAX_USER_AGENT_CHARS] or None,
        )
        services = request.app[SERVICES]
        started = time.perf_counter()
        if ctx.era == "modern":
            status, out = await rpc.handle_modern(services, ctx, body, _routing_headers(request))
        else:
            status, out = await rpc.handle_handshake(services, ctx, body)
        metrics = request.app[keys.METRICS]
        trace = ctx.trace
        metrics.rpc_requests.labels(endpoint, trace.method, trace.tool, trace.outcome).inc()
        metrics.rpc_duration.labels(endpoint, trace.method, trace.tool).observe(time.perf_counter() - started)
        headers = {"X-Request-Id": request_id}
        if out is None:
            return web.Response(status=202, headers=headers)
        return web.Response(status=status, body=out, content_type=JSON, headers=headers)

    return handle


async def method_not_allowed(request: web.Request) -> web.Response:
    """No server-initiated stream and no sessions: every method but POST is 405 (MCP transport spec),
    after the same Origin/Host check a POST gets."""
    request_id = request_id_of(request)
    try:
        check_origin(request, request.app[keys.SETTINGS])
    except Refusal as refusal:
        return refusal_response(refusal.error, request_id, refusal.headers, refusal.status)
    return web.Response(status=405, headers={"Allow": "POST", "X-Request-Id": request_id})

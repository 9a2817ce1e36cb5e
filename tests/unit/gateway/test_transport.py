"""The HTTP refusals that happen before dispatch: Origin/Host, Content-Type/Encoding, Accept, the
bounded decompression, and a key store outage."""

from __future__ import annotations

import gzip
import zlib

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from millimetric_gateway import keys
from millimetric_gateway.auth import KeyStore
from millimetric_gateway.settings import Settings
from millimetric_gateway.transport import Refusal, _accepts_json, _decompress, authenticate, check_media, check_origin
from millimetric_protocol import limits
from millimetric_protocol.apikeys import generate_key
from millimetric_protocol.errors import ErrorName

LOOPBACK = Settings(host="127.0.0.1")
PUBLIC = Settings(host="0.0.0.0", allowed_origins=("https://app.example.com",), allowed_hosts=("mcp.example.com",))


def request(headers: dict[str, str]) -> web.Request:
    return make_mocked_request("POST", "/mcp", headers=headers)


def refusal_of(fn: object, *args: object) -> Refusal:
    with pytest.raises(Refusal) as info:
        fn(*args)  # type: ignore[operator]
    return info.value


@pytest.mark.parametrize(("settings", "headers", "allowed"), [
    (LOOPBACK, {"Host": "127.0.0.1:8787"}, True),
    (LOOPBACK, {"Host": "localhost:8787", "Origin": "http://localhost:6274"}, True),
    (LOOPBACK, {"Host": "[::1]:8787", "Origin": "https://[::1]"}, True),
    (LOOPBACK, {"Host": "evil.example.com"}, False),
    (LOOPBACK, {"Host": "localhost:8787.evil.example.com"}, False),
    (LOOPBACK, {"Host": "127.0.0.1:8787", "Origin": "http://evil.example.com"}, False),
    (LOOPBACK, {"Host": "127.0.0.1:8787", "Origin": "http://localhost:1.evil.example.com"}, False),
    (LOOPBACK, {"Host": "127.0.0.1:8787", "Origin": "null"}, False),
    (LOOPBACK, {}, False),  # no Host at all
    (PUBLIC, {"Host": "anything.example.com"}, True),  # Host is checked only when bound to loopback
    (PUBLIC, {"Host": "x", "Origin": "https://app.example.com"}, True),
    (PUBLIC, {"Host": "x", "Origin": "http://localhost:6274"}, False),  # loopback origins only when we are loopback
    (PUBLIC, {"Host": "x", "Origin": "https://app.example.com.evil.example"}, False),
])
def test_origin_and_host(settings: Settings, headers: dict[str, str], allowed: bool) -> None:
    if allowed:
        check_origin(request(headers), settings)
    else:
        assert refusal_of(check_origin, request(headers), settings).error.name is ErrorName.ORIGIN_NOT_ALLOWED


@pytest.mark.parametrize(("headers", "error"), [
    ({"Content-Type": "application/json"}, None),
    ({"Content-Type": "application/json; charset=utf-8", "Content-Encoding": "GZIP"}, None),
    ({"Content-Type": "application/json", "Content-Encoding": "br"}, ErrorName.UNSUPPORTED_MEDIA_TYPE),
    ({"Content-Type": "text/json"}, ErrorName.UNSUPPORTED_MEDIA_TYPE),
    ({}, ErrorName.UNSUPPORTED_MEDIA_TYPE),
    ({"Content-Type": "application/json", "Accept": "text/event-stream"}, ErrorName.NOT_ACCEPTABLE),
])
def test_media_checks(headers: dict[str, str], error: ErrorName | None) -> None:
    if error is None:
        check_media(request(headers))
    else:
        assert refusal_of(check_media, request(headers)).error.name is error


@pytest.mark.parametrize(("accept", "ok"), [
    ("application/json", True), ("application/json, text/event-stream", True), ("*/*", True), ("application/*;q=0.1", True),
    ("text/event-stream", False), ("application/json;q=0", False), ("application/json; q=0.0, text/html", False),
    ("application/jsonl", False),
])
def test_accept_parsing(accept: str, ok: bool) -> None:
    assert _accepts_json(accept) is ok


def test_decompression_is_bounded_by_the_body_limit() -> None:
    exact = b"[" + b" " * (limits.MAX_BODY_BYTES - 2) + b"]"
    assert _decompress(gzip.compress(exact), "gzip") == exact
    bomb = gzip.compress(b" " * (32 << 20))  # 32 MiB inflated, 32 KiB compressed: inflation stops past the limit
    assert refusal_of(_decompress, bomb, "gzip").error.name is ErrorName.PAYLOAD_TOO_LARGE
    over = gzip.compress(exact + b" ")
    assert refusal_of(_decompress, over, "gzip").error.name is ErrorName.PAYLOAD_TOO_LARGE


@pytest.mark.parametrize(("data", "encoding"), [
    (b"not compressed", "gzip"), (gzip.compress(b"{}")[:-3], "gzip"), (gzip.compress(b"{}") + b"junk", "gzip"),
    (b"", "gzip"), (b"\x00\x01", "deflate"),
])
def test_corrupt_compressed_bodies_are_parse_errors(data: bytes, encoding: str) -> None:
    assert refusal_of(_decompress, data, encoding).error.name is ErrorName.PARSE_ERROR


def test_deflate_with_and_without_the_zlib_header() -> None:
    assert _decompress(zlib.compress(b"{}"), "deflate") == b"{}"
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    assert _decompress(raw.compress(b"{}") + raw.flush(), "deflate") == b"{}"


class UnreachablePool:
    """Stands in for asyncpg.Pool whose server is gone."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def fetchrow(self, *args: object, **kwargs: object) -> None:
        raise self.error


@pytest.mark.parametrize("error", [OSError("connection refused"), TimeoutError(),
                                   asyncpg.InterfaceError("pool is closing"), asyncpg.CannotConnectNowError("starting up")])
async def test_a_key_store_outage_is_a_retryable_503(error: BaseException) -> None:
    app = web.Application()
    app[keys.KEY_STORE] = KeyStore(UnreachablePool(error), ttl_s=10, max_entries=10)  # type: ignore[arg-type]
    req = make_mocked_request("POST", "/mcp", headers={"Authorization": f"Bearer {generate_key('rk')}"}, app=app)
    with pytest.raises(Refusal) as info:
        await authenticate(req, "project")
    refusal = info.value
    assert refusal.status == 503
    assert refusal.headers["Retry-After"] == "1"
    assert refusal.error.name is ErrorName.TOOL_FAILED and refusal.error.data["retryable"] is True

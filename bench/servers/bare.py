"""The ceiling of the HTTP stack: an aiohttp handler that only decodes the JSON-RPC body with msgspec
(every field, arguments included) and answers a `track_event`-shaped result. No auth, no broker.

Run as `python -m bench.servers.bare PORT [--uvloop]`; serves POST /mcp and GET /readyz on 127.0.0.1
with the gateway's aiohttp server settings (no access log). The benchmark passes `--uvloop` only when
the gateway itself runs on uvloop, so both sides use the same event loop.
"""

from __future__ import annotations

import sys
import uuid
from typing import Any

import msgspec
from aiohttp import web


class Params(msgspec.Struct):
    name: str
    arguments: dict[str, Any] = {}


class Call(msgspec.Struct):
    jsonrpc: str
    method: str
    id: int | str | None = None
    params: Params | None = None


_decode = msgspec.json.Decoder(Call).decode
_encode = msgspec.json.Encoder().encode


async def handle(request: web.Request) -> web.Response:
    try:
        call = _decode(await request.read())
    except msgspec.DecodeError:
        return web.Response(status=400, body=b'{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse_error"}}',
                            content_type="application/json")
    text = _encode({"event_id": str(uuid.uuid4()), "status": "accepted"}).decode()
    body = _encode({"jsonrpc": "2.0", "id": call.id, "result": {"content": [{"type": "text", "text": text}]}})
    return web.Response(body=body, content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.json_response({"ready": True})


def main() -> None:
    port = int(sys.argv[1])
    app = web.Application()
    app.router.add_post("/mcp", handle)
    app.router.add_get("/readyz", ready)
    loop = None
    if "--uvloop" in sys.argv[2:]:
        import uvloop  # type: ignore[import-not-found]

        loop = uvloop.new_event_loop()
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None, loop=loop)


if __name__ == "__main__":
    main()

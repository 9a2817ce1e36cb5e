"""`GET /js/millimetric.js`: the browser tracking script, shipped as package data (static/).

Served with `Cache-Control: public, max-age=GATEWAY_SNIPPET_MAX_AGE_S`, a strong ETag (304 on
`If-None-Match`) and `Access-Control-Allow-Origin: *`, so pages may load it with `crossorigin` and
Subresource Integrity. The script itself is public: it holds no key (the page's `data-key` does).
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import Final

from aiohttp import web

SCRIPT_PATH: Final = "/js/millimetric.js"
_RESOURCE: Final = ("static", "millimetric.js")


@dataclass(frozen=True)
class Snippet:
    body: bytes
    etag: str

    @classmethod
    def load(cls) -> Snippet:
        body = resources.files(__package__).joinpath(*_RESOURCE).read_bytes()
        return cls(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')


def snippet_handler(snippet: Snippet, max_age_s: int) -> Callable[[web.Request], Awaitable[web.Response]]:
    headers = {
        "Cache-Control": f"public, max-age={max_age_s}",
        "ETag": snippet.etag,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }

    async def serve(request: web.Request) -> web.Response:
        if snippet.etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        return web.Response(body=snippet.body, content_type="text/javascript", charset="utf-8", headers=headers)

    return serve

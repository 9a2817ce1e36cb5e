"""The request id on every log line written while a request is handled (gateway and query).

The gateway generates a request id per HTTP request (also sent back as `X-Request-Id` and forwarded
to the query service in the `X-Request-Id` header and the read request); each service stores it in
`REQUEST_ID` for the duration of the request, and `setup_request_logging` installs a filter that
copies it onto every record, so JSON lines carry `"request_id"` and text lines show `[<id>]`.
A contextvar follows the request's task and the tasks it creates (asyncio copies the context).

Only ids that look like ours are kept (`is_request_id`), so a caller cannot write arbitrary text into
the logs through a header. Never log keys, payloads or SQL parameters (logs.py).
"""

from __future__ import annotations

import json
import logging
import re
import time
from contextvars import ContextVar
from typing import Final

from .logs import setup_logging

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("millimetric_request_id", default=None)
_REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def is_request_id(value: str | None) -> bool:
    """True for 1-64 URL-safe characters (what the gateway generates: 16 hex digits)."""
    return value is not None and _REQUEST_ID_RE.match(value) is not None


class RequestIdFilter(logging.Filter):
    """Sets `record.request_id` from `REQUEST_ID` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


class _ContextJsonFormatter(logging.Formatter):
    """logs.py's JSON line plus `request_id` when the line was written inside a request."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


class _ContextTextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service:<7} %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def setup_request_logging(service: str, *, json_lines: bool, level: int = logging.INFO) -> None:
    """`logs.setup_logging`, with the request id on every line written inside a request."""
    setup_logging(service, json_lines=json_lines, level=level)
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(_ContextJsonFormatter(service) if json_lines else _ContextTextFormatter(service))

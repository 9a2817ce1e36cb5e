"""Logging for every service: readable text locally, JSON lines in containers, and the request id
on every line written while a request is handled.

The gateway generates a request id per HTTP request (also sent back as `X-Request-Id` and forwarded
to the query service); each HTTP service keeps it in `REQUEST_ID` while the request is handled, and
the handler installed here copies it onto every record: JSON lines carry `"request_id"`, text lines
end with `[request <id>]`. A contextvar follows the request's task and the tasks it creates.

Only ids that look like ours are kept (`is_request_id`), so a caller cannot write arbitrary text
into the logs through a header. Never pass keys, payloads or SQL parameters to a logger.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Final

REQUEST_ID: Final[ContextVar[str | None]] = ContextVar("millimetric_request_id", default=None)
_REQUEST_ID_RE: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
QUIET_LOGGERS: Final = ("aiokafka",)
"""Libraries whose info lines (every connection) we do not want; warnings and errors still show."""


def is_request_id(value: str | None) -> bool:
    """True for 1-64 URL-safe characters (what the gateway generates: 16 hex digits)."""
    return value is not None and _REQUEST_ID_RE.match(value) is not None


class _RequestIdFilter(logging.Filter):
    """Sets `record.request_id` from `REQUEST_ID` (None outside a request); never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = REQUEST_ID.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class _JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": _timestamp(record),
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


class _TextFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__(f"%(asctime)s {service:<7} %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        request_id = getattr(record, "request_id", None)
        return f"{text} [request {request_id}]" if request_id else text


def setup_logging(service: str, *, json_lines: bool, level: int = logging.INFO) -> None:
    """One handler on stderr for the whole process; every line names the service."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(_JsonFormatter(service) if json_lines else _TextFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)

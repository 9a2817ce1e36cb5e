"""Millimetric gateway: the public endpoint. It authenticates keys, answers MCP lifecycle calls,
writes `track_event` and the tracking endpoints' events (/v1/track, /v1/batch, the browser snippet)
to Kafka (answering only after the broker acknowledged) and forwards reads to the query service.
Configured from GATEWAY_* environment variables; logs JSON lines when GATEWAY_LOG_JSON is true, each
with the request id of the request it was written for."""

from __future__ import annotations

import logging
import os

from aiohttp import web
from millimetric_protocol.logcontext import setup_request_logging

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env(os.environ)
    setup_request_logging("gateway", json_lines=settings.log_json)
    logging.getLogger(__name__).info("gateway listening on %s:%s", settings.host, settings.port)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None, shutdown_timeout=10)


if __name__ == "__main__":
    main()

"""Millimetric query service: answers the gateway's reads (tools and resources) from PostgreSQL,
including account-level reads fanned out over many projects. Internal only: it trusts the scope the
gateway resolved from the key. Configured from QUERY_* environment variables; logs JSON lines when
QUERY_LOG_JSON is true, each with the gateway's request id of the read it was written for."""

from __future__ import annotations

import logging
import os

from aiohttp import web
from millimetric_protocol.logcontext import setup_request_logging

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env(os.environ)
    setup_request_logging("query", json_lines=settings.log_json)
    logging.getLogger(__name__).info("query service listening on %s:%s", settings.host, settings.port)
    web.run_app(create_app(settings), host=settings.host, port=settings.port, print=None,
                access_log=None, shutdown_timeout=10)


if __name__ == "__main__":
    main()

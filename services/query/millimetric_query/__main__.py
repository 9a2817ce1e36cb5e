"""Millimetric query service: answers the gateway's reads (tools and resources) from PostgreSQL,
including account-level reads fanned out over many projects. Internal only: it trusts the scope the
gateway resolved from the key. Configured from QUERY_* environment variables; logs JSON lines when
QUERY_LOG_JSON is true, each with the gateway's request id of the read it was written for."""

from __future__ import annotations

import os

from millimetric_runtime.http import run_app

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env(os.environ)
    run_app("query", create_app(settings), host=settings.host, port=settings.port, log_json=settings.log_json)


if __name__ == "__main__":
    main()

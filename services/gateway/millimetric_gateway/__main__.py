"""Millimetric gateway: the public endpoint. It authenticates keys, answers MCP lifecycle calls,
writes `track_event` and the tracking endpoints' events (/v1/track, /v1/batch, the browser snippet)
to Kafka (answering only after the broker acknowledged) and forwards reads to the query service.
Configured from GATEWAY_* environment variables; logs JSON lines when GATEWAY_LOG_JSON is true, each
with the request id of the request it was written for."""

from __future__ import annotations

import os

from millimetric_runtime.http import run_app

from .app import create_app
from .settings import Settings


def main() -> None:
    settings = Settings.from_env(os.environ)
    run_app("gateway", create_app(settings), host=settings.host, port=settings.port, log_json=settings.log_json)


if __name__ == "__main__":
    main()

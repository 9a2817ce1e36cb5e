"""The three services as real OS processes for the tests: `millimetric.stack` with test settings."""

from __future__ import annotations

import os
from pathlib import Path

from millimetric.stack import Stack
from millimetric.stack import make_stack as _make_stack
from millimetric_runtime.processes import ServiceProcess, wait_http_ready

__all__ = ["Service", "Stack", "make_stack", "wait_ready"]

Service = ServiceProcess

TEST_ENV = {
    "GATEWAY_KEY_CACHE_TTL_S": "1",  # revocations and plan changes take effect within a second
    "INGEST_BATCH_MAX_AGE_MS": "20",
}


def wait_ready(url: str, timeout_s: float = 30, process: ServiceProcess | None = None) -> None:
    wait_http_ready(url, timeout_s, process=process)


def make_stack(dsn: str, bootstrap: str, log_dir: Path, topic: str) -> Stack:
    return _make_stack(dsn=dsn, bootstrap=bootstrap, topic=topic, log_dir=log_dir, base_env=os.environ, extra_env=TEST_ENV)

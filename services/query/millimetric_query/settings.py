"""Query service configuration: every QUERY_* variable, read once at start-up (millimetric_runtime.settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from millimetric_runtime.settings import from_env
from msgspec import Meta

PREFIX = "QUERY_"


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: Annotated[int, Meta(ge=0, le=65535)] = 8788
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    pool_max_size: Annotated[int, Meta(ge=1)] = 10
    statement_timeout_ms: Annotated[int, Meta(ge=100)] = 10_000
    fanout_concurrency: Annotated[int, Meta(ge=1)] = 8
    """How many per-project queries an account-level read runs at once."""
    fanout_deadline_s: Annotated[float, Meta(ge=0.1)] = 12.0
    """An account-level read fails (naming the slow project) if its parts are not done by then."""
    slow_read_ms: Annotated[int, Meta(ge=0)] = 1000
    """Reads slower than this are logged (info, with the request id); 0 logs every read."""
    use_rollups: bool = True
    """Answer from the hourly rollups when they are exact; false reads raw events only (for checks and benchmarks)."""
    log_json: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return from_env(cls, environ, PREFIX)

"""Query service configuration, read once from the environment (names start with QUERY_)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from millimetric_protocol.config import EnvReader


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8788
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    pool_max_size: int = 10
    statement_timeout_ms: int = 10_000
    fanout_concurrency: int = 8
    """How many per-project queries an account-level read runs at once."""
    fanout_deadline_s: float = 12.0
    """An account-level read fails (naming the slow project) if its parts are not done by then."""
    slow_read_ms: int = 1000
    """Reads slower than this are logged (info, with the request id); 0 logs every read."""
    use_rollups: bool = True
    """Answer from the hourly rollups when they are exact; false reads raw events only (for checks and benchmarks)."""
    log_json: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = EnvReader(environ)
        d = cls()
        return cls(
            host=env.text("QUERY_HOST", d.host),
            port=env.integer("QUERY_PORT", d.port, minimum=0, maximum=65535),
            pg_dsn=env.text("QUERY_PG_DSN", d.pg_dsn),
            pool_max_size=env.integer("QUERY_POOL_MAX_SIZE", d.pool_max_size, minimum=1),
            statement_timeout_ms=env.integer("QUERY_STATEMENT_TIMEOUT_MS", d.statement_timeout_ms, minimum=100),
            fanout_concurrency=env.integer("QUERY_FANOUT_CONCURRENCY", d.fanout_concurrency, minimum=1),
            fanout_deadline_s=env.number("QUERY_FANOUT_DEADLINE_S", d.fanout_deadline_s, minimum=0.1),
            slow_read_ms=env.integer("QUERY_SLOW_READ_MS", d.slow_read_ms),
            use_rollups=env.flag("QUERY_USE_ROLLUPS", d.use_rollups),
            log_json=env.flag("QUERY_LOG_JSON", d.log_json),
        )

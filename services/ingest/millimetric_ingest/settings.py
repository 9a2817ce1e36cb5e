"""Ingest worker configuration, read once from the environment (names start with INGEST_)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from millimetric_protocol.config import EnvReader
from millimetric_protocol.events import EVENTS_TOPIC


@dataclass(frozen=True)
class Settings:
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    kafka_bootstrap: str = "kafka:9092"
    kafka_idempotence: bool = True
    """For the dead-letter producer; the embedded dev broker needs it off."""
    events_topic: str = EVENTS_TOPIC
    group_id: str = "millimetric-ingest"
    batch_max_events: int = 2000
    batch_max_bytes: int = 4 * 1024 * 1024
    batch_max_age_ms: int = 50
    retry_max_backoff_s: float = 10.0
    shutdown_grace_s: float = 20.0
    statement_timeout_ms: int = 30_000
    log_json: bool = False

    @property
    def dead_letter_topic(self) -> str:
        return self.events_topic + ".dlq"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = EnvReader(environ)
        d = cls()
        return cls(
            pg_dsn=env.text("INGEST_PG_DSN", d.pg_dsn),
            kafka_bootstrap=env.text("INGEST_KAFKA_BOOTSTRAP", d.kafka_bootstrap),
            kafka_idempotence=env.flag("INGEST_KAFKA_IDEMPOTENCE", d.kafka_idempotence),
            events_topic=env.text("INGEST_EVENTS_TOPIC", d.events_topic),
            group_id=env.text("INGEST_GROUP_ID", d.group_id),
            batch_max_events=env.integer("INGEST_BATCH_MAX_EVENTS", d.batch_max_events, minimum=1),
            batch_max_bytes=env.integer("INGEST_BATCH_MAX_BYTES", d.batch_max_bytes, minimum=1024),
            batch_max_age_ms=env.integer("INGEST_BATCH_MAX_AGE_MS", d.batch_max_age_ms, minimum=1),
            retry_max_backoff_s=env.number("INGEST_RETRY_MAX_BACKOFF_S", d.retry_max_backoff_s, minimum=0.1),
            shutdown_grace_s=env.number("INGEST_SHUTDOWN_GRACE_S", d.shutdown_grace_s, minimum=1),
            statement_timeout_ms=env.integer("INGEST_STATEMENT_TIMEOUT_MS", d.statement_timeout_ms, minimum=100),
            log_json=env.flag("INGEST_LOG_JSON", d.log_json),
        )

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
    pg_connect_timeout_s: float = 5.0
    session_timeout_ms: int = 10_000
    """The group coordinator drops a worker that stopped heartbeating (e.g. SIGKILL) after this."""
    max_poll_interval_ms: int = 300_000
    fetch_max_wait_ms: int = 50
    http_host: str = "0.0.0.0"
    http_port: int = 8789
    """/healthz, /readyz and /metrics; 0 turns the HTTP server off (dev runs several workers per machine)."""
    """How long the broker may hold a fetch waiting for data. aiokafka's 500 ms default makes the
    embedded broker answer parked fetches late (events wait up to 500 ms); ~the batch age keeps
    freshness low at little cost."""
    """A worker retrying a transient failure keeps polling (with fetching paused), so a long
    database outage never exceeds this; only a stuck loop does."""
    commit_timeout_s: float = 10.0
    dead_letter_timeout_s: float = 10.0
    stats_interval_s: float = 30.0
    """How often the worker logs lag, written and dead-lettered counts."""
    replay: bool = False
    """Rebuild: consume the topic from the beginning under a new consumer group, exit when caught up."""
    replay_group_id: str | None = None
    """The group a replay uses (resumable); default: a new `<group_id>-replay-<UTC time>`."""
    dead_letter_topic_name: str | None = None
    """Default `<events_topic>.dlq`."""
    log_json: bool = False

    @property
    def dead_letter_topic(self) -> str:
        return self.dead_letter_topic_name or self.events_topic + ".dlq"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = EnvReader(environ)
        d = cls()
        replay_group = environ.get("INGEST_REPLAY_GROUP_ID", "").strip()
        dead_letter_topic = environ.get("INGEST_DEAD_LETTER_TOPIC", "").strip()
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
            pg_connect_timeout_s=env.number("INGEST_PG_CONNECT_TIMEOUT_S", d.pg_connect_timeout_s, minimum=0.1),
            session_timeout_ms=env.integer("INGEST_SESSION_TIMEOUT_MS", d.session_timeout_ms, minimum=1000),
            max_poll_interval_ms=env.integer("INGEST_MAX_POLL_INTERVAL_MS", d.max_poll_interval_ms, minimum=1000),
            http_host=env.text("INGEST_HTTP_HOST", d.http_host),
            http_port=env.integer("INGEST_HTTP_PORT", d.http_port, minimum=0, maximum=65535),
            fetch_max_wait_ms=env.integer("INGEST_FETCH_MAX_WAIT_MS", d.fetch_max_wait_ms, minimum=1, maximum=10_000),
            commit_timeout_s=env.number("INGEST_COMMIT_TIMEOUT_S", d.commit_timeout_s, minimum=0.1),
            dead_letter_timeout_s=env.number("INGEST_DEAD_LETTER_TIMEOUT_S", d.dead_letter_timeout_s, minimum=0.1),
            stats_interval_s=env.number("INGEST_STATS_INTERVAL_S", d.stats_interval_s, minimum=0.1),
            replay=env.flag("INGEST_REPLAY", d.replay),
            replay_group_id=replay_group or None,
            dead_letter_topic_name=dead_letter_topic or None,
            log_json=env.flag("INGEST_LOG_JSON", d.log_json),
        )

"""Ingest worker configuration: every INGEST_* variable, read once at start-up (millimetric_runtime.settings)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from millimetric_protocol.topics import EVENTS, dead_letter_topic
from millimetric_runtime.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from millimetric_runtime.settings import env, from_env, secret
from msgspec import Meta

PREFIX = "INGEST_"


@dataclass(frozen=True)
class Settings:
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    kafka_bootstrap: str = "kafka:9092"
    kafka_idempotence: bool = True
    """For the dead-letter producer; the embedded dev broker needs it off."""
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_ca_file: str | None = None
    kafka_cert_file: str | None = None
    kafka_key_file: str | None = None
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = secret()
    events_topic: str = EVENTS.name
    group_id: str = "millimetric-ingest"
    batch_max_events: Annotated[int, Meta(ge=1)] = 2000
    batch_max_bytes: Annotated[int, Meta(ge=1024)] = 4 * 1024 * 1024
    batch_max_age_ms: Annotated[int, Meta(ge=1)] = 50
    retry_max_backoff_s: Annotated[float, Meta(ge=0.1)] = 10.0
    shutdown_grace_s: Annotated[float, Meta(ge=1)] = 20.0
    statement_timeout_ms: Annotated[int, Meta(ge=100)] = 30_000
    pg_connect_timeout_s: Annotated[float, Meta(ge=0.1)] = 5.0
    session_timeout_ms: Annotated[int, Meta(ge=1000)] = 10_000
    """The group coordinator drops a worker that stopped heartbeating (e.g. SIGKILL) after this."""
    max_poll_interval_ms: Annotated[int, Meta(ge=1000)] = 300_000
    """A worker retrying a transient failure keeps polling (with fetching paused), so a long
    database outage never exceeds this; only a stuck loop does."""
    fetch_max_wait_ms: Annotated[int, Meta(ge=1, le=10_000)] = 50
    """How long the broker may hold a fetch waiting for data. aiokafka's 500 ms default makes the
    embedded broker answer parked fetches late (events wait up to 500 ms); ~the batch age keeps
    freshness low at little cost."""
    http_host: str = "0.0.0.0"
    http_port: Annotated[int, Meta(ge=0, le=65535)] = 8789
    """/healthz, /readyz and /metrics; 0 turns the HTTP server off (dev runs several workers per machine)."""
    commit_timeout_s: Annotated[float, Meta(ge=0.1)] = 10.0
    dead_letter_timeout_s: Annotated[float, Meta(ge=0.1)] = 10.0
    stats_interval_s: Annotated[float, Meta(ge=0.1)] = 30.0
    """How often the worker logs lag, written and dead-lettered counts."""
    replay: bool = False
    """Rebuild: consume the topic from the beginning under a new consumer group, exit when caught up."""
    replay_group_id: str | None = None
    """The group a replay uses (resumable); default: a new `<group_id>-replay-<UTC time>`."""
    dead_letter_topic_name: str | None = env(PREFIX + "DEAD_LETTER_TOPIC", None)
    """Default `<events_topic>.dlq`."""
    log_json: bool = False

    @property
    def dead_letter_topic(self) -> str:
        return self.dead_letter_topic_name or dead_letter_topic(self.events_topic)

    @property
    def kafka(self) -> KafkaConnection:
        """How this service's Kafka clients connect (millimetric_runtime.kafka)."""
        return KafkaConnection(self.kafka_bootstrap, self.kafka_security_protocol, self.kafka_ca_file, self.kafka_cert_file,
                               self.kafka_key_file, self.kafka_sasl_mechanism, self.kafka_sasl_username, self.kafka_sasl_password)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return from_env(cls, environ, PREFIX)

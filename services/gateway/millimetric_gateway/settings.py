"""Gateway configuration: every GATEWAY_* variable, read once at start-up (millimetric_runtime.settings)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from millimetric_protocol.topics import EVENTS
from millimetric_runtime.kafka import KafkaConnection, SaslMechanism, SecurityProtocol
from millimetric_runtime.settings import from_env, secret
from msgspec import Meta

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
PREFIX = "GATEWAY_"

Port = Annotated[int, Meta(ge=0, le=65535)]
Positive = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[float, Meta(ge=0)]
Deadline = Annotated[float, Meta(ge=0.1)]


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: Port = 8787
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    kafka_bootstrap: str = "kafka:9092"
    kafka_idempotence: bool = True
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_ca_file: str | None = None
    kafka_cert_file: str | None = None
    kafka_key_file: str | None = None
    kafka_sasl_mechanism: SaslMechanism | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = secret()
    events_topic: str = EVENTS.name
    produce_timeout_s: Deadline = 5.0
    max_inflight_produces: Positive = 2000
    query_url: str = "http://query:8788"
    query_timeout_s: Deadline = 15.0
    key_cache_ttl_s: NonNegative = 10.0
    key_cache_size: Positive = 10_000
    allowed_origins: tuple[str, ...] = ()
    """Extra allowed `Origin` values (exact, e.g. https://app.example.com); loopback origins are
    always allowed when the gateway itself is bound to loopback."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra allowed `Host` names; checked only when bound to loopback (DNS-rebinding defence)."""
    rate_limit_per_s: NonNegative = 0.0
    """Per-key request rate limit (0 = off); bursts of up to `rate_limit_burst` are allowed."""
    rate_limit_burst: Positive = 50
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (CIDR) of reverse proxies whose `X-Forwarded-For` is believed; empty:
    the client address is the TCP peer's."""
    snippet_max_age_s: Annotated[int, Meta(ge=0)] = 3600
    """`Cache-Control: max-age` of /js/millimetric.js."""
    log_json: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "query_url", self.query_url.rstrip("/"))
        for item in self.trusted_proxies:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{PREFIX}TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network") from None

    @property
    def bound_to_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    @property
    def kafka(self) -> KafkaConnection:
        """How this service's Kafka clients connect (millimetric_runtime.kafka)."""
        return KafkaConnection(self.kafka_bootstrap, self.kafka_security_protocol, self.kafka_ca_file, self.kafka_cert_file,
                               self.kafka_key_file, self.kafka_sasl_mechanism, self.kafka_sasl_username, self.kafka_sasl_password)

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        return from_env(cls, environ, PREFIX)

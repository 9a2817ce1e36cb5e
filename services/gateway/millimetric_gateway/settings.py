"""Gateway configuration, read once from the environment (names start with GATEWAY_)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

from millimetric_protocol.config import ConfigError, EnvReader
from millimetric_protocol.events import EVENTS_TOPIC

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")


@dataclass(frozen=True)
class Settings:
    host: str = "0.0.0.0"
    port: int = 8787
    pg_dsn: str = "postgresql://millimetric:millimetric@postgres:5432/millimetric"
    kafka_bootstrap: str = "kafka:9092"
    kafka_idempotence: bool = True
    events_topic: str = EVENTS_TOPIC
    produce_timeout_s: float = 5.0
    max_inflight_produces: int = 2000
    query_url: str = "http://query:8788"
    query_timeout_s: float = 15.0
    key_cache_ttl_s: float = 10.0
    key_cache_size: int = 10_000
    allowed_origins: tuple[str, ...] = ()
    """Extra allowed `Origin` values (exact, e.g. https://app.example.com); loopback origins are
    always allowed when the gateway itself is bound to loopback."""
    allowed_hosts: tuple[str, ...] = ()
    """Extra allowed `Host` names; checked only when bound to loopback (DNS-rebinding defence)."""
    rate_limit_per_s: float = 0.0
    """Per-key request rate limit (0 = off); bursts of up to `rate_limit_burst` are allowed."""
    rate_limit_burst: int = 50
    trusted_proxies: tuple[str, ...] = ()
    """Addresses or networks (CIDR) of reverse proxies whose `X-Forwarded-For` is believed; empty:
    the client address is the TCP peer's."""
    snippet_max_age_s: int = 3600
    """`Cache-Control: max-age` of /js/millimetric.js."""
    log_json: bool = False

    @property
    def bound_to_loopback(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = EnvReader(environ)
        d = cls()
        return cls(
            host=env.text("GATEWAY_HOST", d.host),
            port=env.integer("GATEWAY_PORT", d.port, minimum=0, maximum=65535),
            pg_dsn=env.text("GATEWAY_PG_DSN", d.pg_dsn),
            kafka_bootstrap=env.text("GATEWAY_KAFKA_BOOTSTRAP", d.kafka_bootstrap),
            kafka_idempotence=env.flag("GATEWAY_KAFKA_IDEMPOTENCE", d.kafka_idempotence),
            events_topic=env.text("GATEWAY_EVENTS_TOPIC", d.events_topic),
            produce_timeout_s=env.number("GATEWAY_PRODUCE_TIMEOUT_S", d.produce_timeout_s, minimum=0.1),
            max_inflight_produces=env.integer("GATEWAY_MAX_INFLIGHT_PRODUCES", d.max_inflight_produces, minimum=1),
            query_url=env.text("GATEWAY_QUERY_URL", d.query_url).rstrip("/"),
            query_timeout_s=env.number("GATEWAY_QUERY_TIMEOUT_S", d.query_timeout_s, minimum=0.1),
            key_cache_ttl_s=env.number("GATEWAY_KEY_CACHE_TTL_S", d.key_cache_ttl_s),
            key_cache_size=env.integer("GATEWAY_KEY_CACHE_SIZE", d.key_cache_size, minimum=1),
            allowed_origins=env.items("GATEWAY_ALLOWED_ORIGINS", d.allowed_origins),
            allowed_hosts=env.items("GATEWAY_ALLOWED_HOSTS", d.allowed_hosts),
            rate_limit_per_s=env.number("GATEWAY_RATE_LIMIT_PER_S", d.rate_limit_per_s),
            rate_limit_burst=env.integer("GATEWAY_RATE_LIMIT_BURST", d.rate_limit_burst, minimum=1),
            trusted_proxies=_networks("GATEWAY_TRUSTED_PROXIES", env.items("GATEWAY_TRUSTED_PROXIES", d.trusted_proxies)),
            snippet_max_age_s=env.integer("GATEWAY_SNIPPET_MAX_AGE_S", d.snippet_max_age_s),
            log_json=env.flag("GATEWAY_LOG_JSON", d.log_json),
        )


def _networks(name: str, items: tuple[str, ...]) -> tuple[str, ...]:
    """Each item must be an IP address or a CIDR network (e.g. 10.0.0.0/8, fd00::/8)."""
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{name}: {item!r} is not an IP address or CIDR network") from None
    return items

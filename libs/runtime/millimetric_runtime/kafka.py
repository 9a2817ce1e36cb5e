"""How every Kafka client of ours connects: bootstrap servers, TLS and SASL, in one place.

Managed clusters (Confluent Cloud, Amazon MSK, Aiven, Redpanda Cloud) require TLS and usually SASL.
Each service's settings carry the same connection fields under its own prefix
(`GATEWAY_KAFKA_SECURITY_PROTOCOL`, `INGEST_KAFKA_SASL_PASSWORD`, …) and build a `KafkaConnection`;
the producers, consumers, admin clients and the dead-letter producer all take their keyword
arguments from `client_options()`, so a new setting reaches every client at once.

The password is a secret: readable from `<NAME>_FILE`, never in a repr or a log line.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from aiokafka.helpers import create_ssl_context

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
TLS_PROTOCOLS: Final = ("SSL", "SASL_SSL")
SASL_PROTOCOLS: Final = ("SASL_PLAINTEXT", "SASL_SSL")


class KafkaConfigError(ValueError):
    """The connection settings contradict each other or name files that cannot be read."""


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap: str
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ca_file: str | None = None
    """CA bundle to verify the brokers with (TLS); None: the system's trust store."""
    cert_file: str | None = None
    """Client certificate (PEM) for brokers that require mutual TLS."""
    key_file: str | None = None
    sasl_mechanism: SaslMechanism | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    def check(self) -> None:
        """Raise KafkaConfigError for settings that cannot work together (at start-up, not at first use)."""
        sasl = self.security_protocol in SASL_PROTOCOLS
        if sasl and not (self.sasl_mechanism and self.sasl_username and self.sasl_password):
            raise KafkaConfigError(f"security protocol {self.security_protocol} needs a SASL mechanism, user and password")
        if not sasl and self.sasl_mechanism:
            raise KafkaConfigError(f"a SASL mechanism is set but the security protocol is {self.security_protocol}")
        if (self.cert_file is None) != (self.key_file is None):
            raise KafkaConfigError("a client certificate needs both its certificate file and its key file")
        if self.security_protocol not in TLS_PROTOCOLS and (self.ca_file or self.cert_file):
            raise KafkaConfigError(f"TLS files are set but the security protocol is {self.security_protocol}")

    def ssl_context(self) -> ssl.SSLContext | None:
        if self.security_protocol not in TLS_PROTOCOLS:
            return None
        try:
            context: ssl.SSLContext = create_ssl_context(cafile=self.ca_file, certfile=self.cert_file, keyfile=self.key_file)
            return context
        except (OSError, ssl.SSLError) as exc:
            raise KafkaConfigError(f"cannot load the Kafka TLS files: {exc}") from None

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for any aiokafka client (producer, consumer, admin)."""
        self.check()
        options: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "security_protocol": self.security_protocol}
        context = self.ssl_context()
        if context is not None:
            options["ssl_context"] = context
        if self.security_protocol in SASL_PROTOCOLS:
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                           sasl_plain_password=self.sasl_password)
        return options

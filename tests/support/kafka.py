"""Real Apache Kafka for the tests (millimetric.kafka): the session's three-node cluster with its
SASL_SSL and SSL listeners, the stack of services on it, and TLS contexts for clients."""

from __future__ import annotations

import logging
import secrets
import ssl
import time
from pathlib import Path
from typing import Final

from millimetric.kafka import KafkaCluster, Security

from tests.support.stack import Stack, make_stack

logger = logging.getLogger(__name__)

SASL_USER: Final = "millimetric"
BROKERS: Final = 3


def start_kafka_cluster(base_dir: Path) -> KafkaCluster:
    """Three nodes with PLAINTEXT, SASL_SSL (user SASL_USER, a password new each session) and SSL
    listeners; raises millimetric.kafka.KafkaSetupError when Java or Maven is missing."""
    cluster = KafkaCluster(base_dir, BROKERS, security=Security({SASL_USER: secrets.token_urlsafe(18)}, ssl=True))
    started = time.monotonic()
    cluster.start()
    logger.info("%d Kafka nodes ready in %.1fs", BROKERS, time.monotonic() - started)
    return cluster


def sasl_password(cluster: KafkaCluster) -> str:
    assert cluster.security is not None
    return cluster.security.users[SASL_USER]


def make_kafka_stack(dsn: str, cluster: KafkaCluster, log_dir: Path, topic: str) -> Stack:
    """The services' environment on `cluster`, with the idempotent producer on (as in production)."""
    stack = make_stack(dsn, cluster.bootstrap, log_dir, topic)
    stack.env.update({"GATEWAY_KAFKA_IDEMPOTENCE": "true", "INGEST_KAFKA_IDEMPOTENCE": "true"})
    return stack


def client_tls(ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None) -> ssl.SSLContext:
    """What a Kafka client would use: trust `ca_file` (hostname checked), present a certificate if given."""
    context = ssl.create_default_context(cafile=str(ca_file))
    if cert_file is not None:
        context.load_cert_chain(str(cert_file), str(key_file) if key_file else None)
    return context

"""Every Prometheus metric name the services expose, declared once.

Our naming style is dotted (`gateway.requests`); Prometheus allows only `[a-zA-Z_:][a-zA-Z0-9_:]*`,
so the dots become underscores and every name carries the `millimetric_<service>_` prefix, a unit
suffix (`_seconds`) and, for counters, `_total` — the Prometheus naming conventions. The `Literal`
types make a typo fail type-checking where a service registers a collector; the README's
"Observability" table lists the same names.

Pure: no prometheus-client import here (the protocol library stays msgspec-only).
"""

from __future__ import annotations

from typing import Final, Literal, get_args

GatewayMetric = Literal[
    "millimetric_gateway_http_requests_total",
    "millimetric_gateway_http_request_duration_seconds",
    "millimetric_gateway_rpc_requests_total",
    "millimetric_gateway_rpc_duration_seconds",
    "millimetric_gateway_events_produced_total",
    "millimetric_gateway_produce_failures_total",
    "millimetric_gateway_batch_events",
    "millimetric_gateway_key_cache_lookups_total",
    "millimetric_gateway_key_cache_entries",
    "millimetric_gateway_ready",
]
QueryMetric = Literal[
    "millimetric_query_http_requests_total",
    "millimetric_query_http_request_duration_seconds",
    "millimetric_query_reads_total",
    "millimetric_query_read_duration_seconds",
    "millimetric_query_db_pool_connections",
    "millimetric_query_ready",
]

IngestMetric = Literal[
    "millimetric_ingest_events_written_total",
    "millimetric_ingest_events_dead_lettered_total",
    "millimetric_ingest_batch_retries_total",
    "millimetric_ingest_consumer_lag",
    "millimetric_ingest_paused",
    "millimetric_ingest_ready",
]

GATEWAY_METRICS: Final[tuple[GatewayMetric, ...]] = get_args(GatewayMetric)
QUERY_METRICS: Final[tuple[QueryMetric, ...]] = get_args(QueryMetric)
INGEST_METRICS: Final[tuple[IngestMetric, ...]] = get_args(IngestMetric)

LATENCY_BUCKETS_S: Final = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Histogram buckets for request and read latency: 2 ms (a cached ping) … 30 s (past every deadline)."""
BATCH_SIZE_BUCKETS: Final = (1, 2, 5, 10, 25, 50, 100, 250, 500)
"""Histogram buckets for events per `/v1/batch` request (up to `limits.MAX_BATCH_EVENTS`)."""

HTTP_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""HTTP methods kept as label values; anything else is counted as `other` (bounded cardinality)."""


def http_method_label(method: str) -> str:
    return method if method in HTTP_METHODS else "other"

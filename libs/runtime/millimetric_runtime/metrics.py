"""Every Prometheus metric name the services expose, declared once, and the helpers that register them.

Our naming style is dotted (`gateway.requests`); Prometheus allows only `[a-zA-Z_:][a-zA-Z0-9_:]*`,
so the dots become underscores and every name carries the `millimetric_<service>_` prefix, a unit
suffix (`_seconds`) and, for counters, `_total` — the Prometheus naming conventions. The `Literal`
types make a typo fail type-checking where a service registers a collector; the README's
"Observability" table lists the same names.

Each app has its own `CollectorRegistry`, so tests can build several apps in one process. Label
values are bounded: route templates, names we serve, outcomes from the error catalog; no label ever
carries a key, a project or a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

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
MetricName = GatewayMetric | QueryMetric | IngestMetric

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


def counter(name: MetricName, doc: str, labels: list[str], registry: CollectorRegistry) -> Counter:
    return Counter(name, doc, labels, registry=registry)


def histogram(name: MetricName, doc: str, labels: list[str], registry: CollectorRegistry,
              buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> Histogram:
    return Histogram(name, doc, labels, registry=registry, buckets=buckets)


def new_registry() -> CollectorRegistry:
    """A registry of its own with the `process_*` metrics (CPU, memory, open files) in it."""
    registry = CollectorRegistry(auto_describe=True)
    ProcessCollector(registry=registry)
    return registry


class HttpMetrics:
    """The HTTP request count and latency every HTTP service exports, by route template and method."""

    def __init__(self, registry: CollectorRegistry, requests: MetricName, duration: MetricName) -> None:
        self.requests = counter(requests, "HTTP requests by route template, HTTP method and status",
                                ["route", "method", "status"], registry)
        self.duration = histogram(duration, "HTTP request latency by route template and HTTP method", ["route", "method"],
                                  registry)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        label = http_method_label(method)
        self.requests.labels(route, label, str(status)).inc()
        self.duration.labels(route, label).observe(seconds)


class ScrapeCollector(Collector):
    """Metric families computed at scrape time from objects that keep their own state (a cache, a
    consumer, readiness): no bookkeeping on the hot path."""

    def __init__(self, read: Callable[[], Iterable[Metric]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        yield from self._read()


def ready_gauge(name: MetricName, ready: bool) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, "1 while /readyz answers 200 (dependencies usable, not shutting down)",
                             value=1.0 if ready else 0.0)

"""The query service's Prometheus metrics (prometheus-client), served on `GET /metrics`.

Names come from `millimetric_protocol.metric_names` (declared once, typed); one registry per app.
Label values are bounded: route templates, read names (`ReadName`), outcomes (`ok` or an error name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from millimetric_protocol.metric_names import LATENCY_BUCKETS_S, QueryMetric
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector


def _counter(name: QueryMetric, doc: str, labels: list[str], registry: CollectorRegistry) -> Counter:
    return Counter(name, doc, labels, registry=registry)


def _histogram(name: QueryMetric, doc: str, labels: list[str], registry: CollectorRegistry) -> Histogram:
    return Histogram(name, doc, labels, registry=registry, buckets=LATENCY_BUCKETS_S)


class _StateCollector(Collector):
    """The connection pool and readiness, read at scrape time."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        state = self._read()
        if "pool_size" in state:
            name: QueryMetric = "millimetric_query_db_pool_connections"
            pool = GaugeMetricFamily(name, "PostgreSQL connections of the pool, by state", labels=["state"])
            pool.add_metric(["idle"], state["pool_idle"])
            pool.add_metric(["busy"], state["pool_size"] - state["pool_idle"])
            yield pool
        ready: QueryMetric = "millimetric_query_ready"
        yield GaugeMetricFamily(ready, "1 while /readyz would answer 200 (database usable, not shutting down)",
                                value=1.0 if state.get("ready") else 0.0)


class QueryMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = _counter("millimetric_query_http_requests_total",
                                      "HTTP requests by route template, HTTP method and status", ["route", "method", "status"], r)
        self.http_duration = _histogram("millimetric_query_http_request_duration_seconds",
                                        "HTTP request latency by route template and HTTP method", ["route", "method"], r)
        self.reads = _counter("millimetric_query_reads_total", "Reads by read name and outcome (ok or an error name)",
                              ["read", "outcome"], r)
        self.read_duration = _histogram("millimetric_query_read_duration_seconds", "Read latency by read name", ["read"], r)
        ProcessCollector(registry=r)

    def watch_state(self, read: Callable[[], dict[str, Any]]) -> None:
        self.registry.register(_StateCollector(read))

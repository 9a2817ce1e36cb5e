"""The query service's Prometheus metrics, served on `GET /metrics` (names: millimetric_runtime.metrics).

Label values are bounded: route templates, read names (`ReadName`), outcomes (`ok` or an error name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from millimetric_runtime.metrics import HttpMetrics, QueryMetric, ScrapeCollector, counter, histogram, new_registry, ready_gauge
from prometheus_client.core import GaugeMetricFamily, Metric


class QueryMetrics:
    def __init__(self) -> None:
        self.registry = r = new_registry()
        self.http = HttpMetrics(r, "millimetric_query_http_requests_total", "millimetric_query_http_request_duration_seconds")
        self.reads = counter("millimetric_query_reads_total", "Reads by read name and outcome (ok or an error name)",
                             ["read", "outcome"], r)
        self.read_duration = histogram("millimetric_query_read_duration_seconds", "Read latency by read name", ["read"], r)

    def watch(self, pool: Callable[[], tuple[int, int] | None], ready: Callable[[], bool]) -> None:
        """Register the scrape-time view: the connection pool (size, idle) and readiness."""

        def read() -> Iterator[Metric]:
            sizes = pool()
            if sizes is not None:
                size, idle = sizes
                name: QueryMetric = "millimetric_query_db_pool_connections"
                family = GaugeMetricFamily(name, "PostgreSQL connections of the pool, by state", labels=["state"])
                family.add_metric(["idle"], idle)
                family.add_metric(["busy"], size - idle)
                yield family
            yield ready_gauge("millimetric_query_ready", ready())

        self.registry.register(ScrapeCollector(read))

"""The gateway's Prometheus metrics (prometheus-client), served on `GET /metrics`.

Names come from `millimetric_protocol.metric_names` (declared once, typed). Each app has its own
registry, so tests can build several apps in one process. Label values are bounded: routes are the
app's route templates, JSON-RPC methods and tool names only the ones we serve (anything else is
`unknown`), outcomes are error names from the catalog. No label carries a key, a project or a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final, Literal, get_args

from millimetric_protocol.metric_names import BATCH_SIZE_BUCKETS, LATENCY_BUCKETS_S, GatewayMetric
from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

Via = Literal["mcp", "track", "batch"]
"""How an event reached the producer: `mcp` (track_event), `track` (/v1/track), `batch` (/v1/batch)."""
VIAS: Final[tuple[Via, ...]] = get_args(Via)


def _counter(name: GatewayMetric, doc: str, labels: list[str], registry: CollectorRegistry) -> Counter:
    return Counter(name, doc, labels, registry=registry)


def _histogram(name: GatewayMetric, doc: str, labels: list[str], registry: CollectorRegistry,
               buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> Histogram:
    return Histogram(name, doc, labels, registry=registry, buckets=buckets)


class _StateCollector(Collector):
    """Values read at scrape time from objects that keep their own counts (the key cache, the producer)."""

    def __init__(self, read: Callable[[], dict[str, Any]]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        state = self._read()
        if "key_cache_hits" in state:
            name: GatewayMetric = "millimetric_gateway_key_cache_lookups_total"
            lookups = CounterMetricFamily(name, "API key lookups, answered from the cache (hit) or the database (miss)",
                                          labels=["result"])
            lookups.add_metric(["hit"], state["key_cache_hits"])
            lookups.add_metric(["miss"], state["key_cache_misses"])
            yield lookups
            entries: GatewayMetric = "millimetric_gateway_key_cache_entries"
            yield GaugeMetricFamily(entries, "API keys (and misses) in the cache now", value=state["key_cache_entries"])
        ready: GatewayMetric = "millimetric_gateway_ready"
        yield GaugeMetricFamily(ready, "1 while /readyz would answer 200 (broker and key database usable)",
                                value=1.0 if state.get("ready") else 0.0)


class GatewayMetrics:
    """Every collector of one gateway app, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = _counter("millimetric_gateway_http_requests_total",
                                      "HTTP requests by route template, HTTP method and status", ["route", "method", "status"], r)
        self.http_duration = _histogram("millimetric_gateway_http_request_duration_seconds",
                                        "HTTP request latency by route template and HTTP method", ["route", "method"], r)
        self.rpc_requests = _counter("millimetric_gateway_rpc_requests_total",
                                     "Dispatched MCP requests by endpoint, JSON-RPC method, tool and outcome (ok or an error name)",
                                     ["endpoint", "method", "tool", "outcome"], r)
        self.rpc_duration = _histogram("millimetric_gateway_rpc_duration_seconds",
                                       "Dispatched MCP request latency by endpoint, JSON-RPC method and tool", ["endpoint", "method", "tool"], r)
        self.events_produced = _counter("millimetric_gateway_events_produced_total",
                                        "Events the broker acknowledged, by way in (mcp, track, batch)", ["via"], r)
        self.produce_failures = _counter("millimetric_gateway_produce_failures_total",
                                         "Events the broker did not acknowledge (answered with a retryable error)", ["via"], r)
        self.batch_events = _histogram("millimetric_gateway_batch_events", "Events per accepted /v1/batch request", [], r,
                                       buckets=tuple(float(b) for b in BATCH_SIZE_BUCKETS))
        for via in VIAS:  # exported at 0 from the start, so rates and alerts work before the first event
            self.events_produced.labels(via)
            self.produce_failures.labels(via)
        ProcessCollector(registry=r)

    def watch_state(self, read: Callable[[], dict[str, Any]]) -> None:
        """Register the scrape-time view of the key cache and readiness (called once the app has them)."""
        self.registry.register(_StateCollector(read))

    def produced(self, via: Via, count: int = 1) -> None:
        self.events_produced.labels(via).inc(count)

    def produce_failed(self, via: Via, count: int = 1) -> None:
        self.produce_failures.labels(via).inc(count)

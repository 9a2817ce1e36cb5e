"""The gateway's Prometheus metrics, served on `GET /metrics` (names: millimetric_runtime.metrics).

Label values are bounded: routes are the app's route templates, JSON-RPC methods and tool names only
the ones we serve (anything else is `unknown`), outcomes are error names from the catalog. No label
carries a key, a project or a payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Final, Literal, get_args

from millimetric_runtime.metrics import (
    BATCH_SIZE_BUCKETS,
    GatewayMetric,
    HttpMetrics,
    ScrapeCollector,
    counter,
    histogram,
    new_registry,
    ready_gauge,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

Via = Literal["mcp", "track", "batch"]
"""How an event reached the producer: `mcp` (track_event), `track` (/v1/track), `batch` (/v1/batch)."""
VIAS: Final[tuple[Via, ...]] = get_args(Via)


class GatewayMetrics:
    """Every collector of one gateway app, registered in its own registry."""

    def __init__(self) -> None:
        self.registry = r = new_registry()
        self.http = HttpMetrics(r, "millimetric_gateway_http_requests_total", "millimetric_gateway_http_request_duration_seconds")
        self.rpc_requests = counter("millimetric_gateway_rpc_requests_total",
                                    "Dispatched MCP requests by endpoint, JSON-RPC method, tool and outcome (ok or an error name)",
                                    ["endpoint", "method", "tool", "outcome"], r)
        self.rpc_duration = histogram("millimetric_gateway_rpc_duration_seconds",
                                      "Dispatched MCP request latency by endpoint, JSON-RPC method and tool",
                                      ["endpoint", "method", "tool"], r)
        self.events_produced = counter("millimetric_gateway_events_produced_total",
                                       "Events the broker acknowledged, by way in (mcp, track, batch)", ["via"], r)
        self.produce_failures = counter("millimetric_gateway_produce_failures_total",
                                        "Events the broker did not acknowledge (answered with a retryable error)", ["via"], r)
        self.batch_events = histogram("millimetric_gateway_batch_events", "Events per accepted /v1/batch request", [], r,
                                      buckets=tuple(float(b) for b in BATCH_SIZE_BUCKETS))
        for via in VIAS:  # exported at 0 from the start, so rates and alerts work before the first event
            self.events_produced.labels(via)
            self.produce_failures.labels(via)

    def watch(self, key_cache: Callable[[], tuple[int, int, int] | None], ready: Callable[[], bool]) -> None:
        """Register the scrape-time view: key cache (hits, misses, entries) and readiness."""

        def read() -> Iterator[Metric]:
            cache = key_cache()
            if cache is not None:
                hits, misses, entries = cache
                name: GatewayMetric = "millimetric_gateway_key_cache_lookups_total"
                lookups = CounterMetricFamily(name, "API key lookups, answered from the cache (hit) or the database (miss)",
                                              labels=["result"])
                lookups.add_metric(["hit"], hits)
                lookups.add_metric(["miss"], misses)
                yield lookups
                size: GatewayMetric = "millimetric_gateway_key_cache_entries"
                yield GaugeMetricFamily(size, "API keys (and misses) in the cache now", value=entries)
            yield ready_gauge("millimetric_gateway_ready", ready())

        self.registry.register(ScrapeCollector(read))

    def produced(self, via: Via, count: int = 1) -> None:
        self.events_produced.labels(via).inc(count)

    def produce_failed(self, via: Via, count: int = 1) -> None:
        self.produce_failures.labels(via).inc(count)

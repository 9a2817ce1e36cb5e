"""The worker's /healthz, /readyz and Prometheus /metrics, on INGEST_HTTP_PORT (0: off).

Metrics are read from the worker at scrape time (no bookkeeping on the hot path): events written,
dead-lettered, batch retries, consumer lag per partition, paused (retrying an outage), ready.
Ready means: a member of the consumer group and not paused by a dependency outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aiohttp import web
from millimetric_runtime.http import Health, add_health_routes
from millimetric_runtime.metrics import IngestMetric, ScrapeCollector, new_registry, ready_gauge
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from .consumer import IngestWorker
from .settings import Settings


def _name(name: IngestMetric) -> str:
    return name


def _collect(w: IngestWorker) -> Iterator[Metric]:
    yield CounterMetricFamily(_name("millimetric_ingest_events_written_total"), "Events newly stored", value=w.written)
    yield CounterMetricFamily(_name("millimetric_ingest_events_dead_lettered_total"),
                              "Records sent to the dead-letter topic", value=w.dead_lettered)
    yield CounterMetricFamily(_name("millimetric_ingest_batch_retries_total"),
                              "Batch retries after transient failures", value=w.retries)
    lag = GaugeMetricFamily(_name("millimetric_ingest_consumer_lag"), "Records behind the partition end", labels=["partition"])
    for partition, behind in sorted(w.current_lag().items()):
        lag.add_metric([str(partition)], behind)
    yield lag
    yield GaugeMetricFamily(_name("millimetric_ingest_paused"), "1 while fetching is paused by an outage",
                            value=1.0 if w.paused else 0.0)
    yield ready_gauge("millimetric_ingest_ready", w.ready)


def create_app(worker: IngestWorker) -> web.Application:
    registry = new_registry()
    registry.register(ScrapeCollector(lambda: _collect(worker)))

    async def probe() -> dict[str, Any]:
        return {"ready": worker.ready, "paused": worker.paused}

    app = web.Application()
    add_health_routes(app, Health(probe), registry)
    return app


async def serve(worker: IngestWorker, settings: Settings) -> web.AppRunner | None:
    """Start the HTTP server (None when INGEST_HTTP_PORT is 0); the caller cleans the runner up."""
    if not settings.http_port:
        return None
    runner = web.AppRunner(create_app(worker), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, settings.http_host, settings.http_port).start()
    return runner

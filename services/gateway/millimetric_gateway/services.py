"""The dependencies method handlers use, bundled so handlers stay plain functions."""

from __future__ import annotations

from dataclasses import dataclass

from .metrics import GatewayMetrics
from .producer import EventProducer
from .query_client import QueryClient
from .settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    producer: EventProducer
    query: QueryClient
    metrics: GatewayMetrics | None = None
    """None in unit tests that build Services by hand."""

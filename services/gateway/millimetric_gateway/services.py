"""The dependencies method handlers use, bundled so handlers stay plain functions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from millimetric_protocol.events import EventMessage
from millimetric_protocol.reads import ReadRequest, ReadResult

from .metrics import GatewayMetrics
from .settings import Settings


class Producer(Protocol):
    """Where accepted events go (`producer.EventProducer`): returns once the broker acknowledged
    the event, else raises a retryable ProtocolError."""

    async def send(self, message: EventMessage) -> None: ...


class Reader(Protocol):
    """Who answers reads (`query_client.QueryClient`): the result, or the ProtocolError the query service named."""

    async def read(self, request: ReadRequest) -> ReadResult: ...


@dataclass(frozen=True)
class Services:
    settings: Settings
    producer: Producer
    query: Reader
    metrics: GatewayMetrics

"""What the gateway produces for track_event decodes with the ingest worker's decoder, with every
field intact; and the message tolerates fields added by newer producers.

The tool runs with the gateway's real `Services`: real settings, metrics and query client (never
called here); only the producer is an in-memory one that keeps the encoded messages."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import msgspec
from millimetric_gateway.auth import KeyInfo
from millimetric_gateway.context import CallContext
from millimetric_gateway.methods import tools
from millimetric_gateway.metrics import GatewayMetrics
from millimetric_gateway.query_client import QueryClient
from millimetric_gateway.services import Services
from millimetric_gateway.settings import Settings
from millimetric_protocol.events import EventMessage, decode_event, encode_event


class CapturingProducer:
    def __init__(self) -> None:
        self.sent: list[bytes] = []

    async def send(self, message: EventMessage) -> None:
        self.sent.append(encode_event(message))


def services() -> tuple[Services, CapturingProducer]:
    settings = Settings()
    producer = CapturingProducer()
    return Services(settings, producer, QueryClient(settings.query_url, settings.query_timeout_s), GatewayMetrics()), producer


def produced_via_mcp(svc: Services) -> float:
    value = svc.metrics.registry.get_sample_value("millimetric_gateway_events_produced_total", {"via": "mcp"})
    assert value is not None
    return value


def _ctx() -> CallContext:
    key = KeyInfo(uuid.uuid4(), "sk", uuid.uuid4(), uuid.uuid4(), "pro")
    return CallContext("project", key, "handshake", "2025-11-25", "req1", client_ip="203.0.113.0", user_agent="ua/1")


async def test_track_event_message_decodes_in_ingest() -> None:
    svc, producer = services()
    ctx = _ctx()
    args = {"event": "signup", "anonymous_id": "a1", "user_id": "u1", "properties": {"plan": "pro", "n": 3, "nested": {"x": [1, 2]}},
            "timestamp": "2026-05-01T12:00:00+02:00", "event_id": "0193a3c4-5d6e-7f80-9a1b-2c3d4e5f6a7b"}
    params = msgspec.json.encode({"name": "track_event", "arguments": args})
    result = await tools.call_tool(svc, ctx, msgspec.Raw(params))
    assert not result.get("isError")
    assert produced_via_mcp(svc) == 1
    (raw,) = producer.sent
    message = decode_event(raw)
    assert message.project_id == ctx.key.project_id
    assert str(message.event_id) == args["event_id"]
    assert message.timestamp == datetime(2026, 5, 1, 10, 0, tzinfo=timezone.utc)
    assert message.properties == args["properties"]
    assert (message.event, message.anonymous_id, message.user_id) == ("signup", "a1", "u1")
    assert message.context.ip == "203.0.113.0" and message.context.library == "mcp"


async def test_gateway_makes_time_ordered_event_ids_when_none_given() -> None:
    svc, producer = services()
    params = msgspec.json.encode({"name": "track_event", "arguments": {"event": "x", "anonymous_id": "a"}})
    for _ in range(2):
        await tools.call_tool(svc, _ctx(), msgspec.Raw(params))
    first, second = (decode_event(raw) for raw in producer.sent)
    assert first.event_id.version == 7 and second.event_id.version == 7
    assert first.event_id != second.event_id


def test_event_message_ignores_fields_it_does_not_know() -> None:
    message = EventMessage(v=1, event_id=uuid.uuid4(), project_id=uuid.uuid4(), received_at=datetime.now(timezone.utc),
                           timestamp=datetime.now(timezone.utc), event="e", anonymous_id="a")
    data = msgspec.json.decode(encode_event(message))
    data["added_by_a_newer_gateway"] = {"anything": True}
    assert decode_event(msgspec.json.encode(data)) == message

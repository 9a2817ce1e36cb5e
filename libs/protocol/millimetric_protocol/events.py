"""The Kafka event message: what the gateway produces and the ingest worker consumes.

Versioned (`v`) and tolerant: unknown fields are ignored so producers can add fields before
consumers know them; a field's type never changes (a breaking change is a new version and topic).
The ingest worker re-validates every message with `check_event`, because anyone with access to the
topic can write to it.
"""

from __future__ import annotations

import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any, Final

import msgspec
from msgspec import Struct, field

from . import limits
from .validate import check_properties, check_text, check_timestamp

EVENT_MESSAGE_VERSION: Final = 1


class EventContext(Struct, omit_defaults=True):
    """Where the event came from, captured server-side. IP is stored only truncated (see README)."""

    ip: str | None = None
    user_agent: str | None = None
    library: str | None = None


class EventMessage(Struct, omit_defaults=True):
    v: int
    event_id: uuid.UUID
    project_id: uuid.UUID
    received_at: datetime
    timestamp: datetime
    event: str
    anonymous_id: str | None = None
    user_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    context: EventContext = field(default_factory=EventContext)

    def partition_key(self) -> bytes:
        """Kafka key: one visitor's events share a partition, so they are written in order."""
        visitor = self.anonymous_id if self.anonymous_id is not None else (self.user_id or "")
        return f"{self.project_id}:{visitor}".encode()


_encoder: Final = msgspec.json.Encoder()
_decoder: Final = msgspec.json.Decoder(EventMessage)


def encode_event(message: EventMessage) -> bytes:
    return _encoder.encode(message)


def decode_event(data: bytes) -> EventMessage:
    """Decode and re-validate a message from the topic. Raises `ValueError` (with the reason) for
    anything the ingest worker must dead-letter: undecodable bytes, wrong shape, unknown version,
    values PostgreSQL cannot store."""
    try:
        message = _decoder.decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"undecodable event message: {str(exc)[:200]}") from exc
    check_event(message, len(data))
    return message


def check_event(message: EventMessage, size: int) -> None:
    """The gateway's validation, run again on the consumer side."""
    if message.v != EVENT_MESSAGE_VERSION:
        raise ValueError(f"unsupported event message version {message.v}")
    if size > limits.MAX_EVENT_BYTES + 4096:  # the envelope adds ids and context to the event
        raise ValueError("event message too large")
    if message.timestamp.tzinfo is None or message.received_at.tzinfo is None:
        raise ValueError("timestamps must carry a UTC offset")
    if message.anonymous_id is None and message.user_id is None:
        raise ValueError("event has neither anonymous_id nor user_id")
    check_text(message.event, "event", max_chars=limits.MAX_EVENT_NAME_CHARS)
    for name in ("anonymous_id", "user_id"):
        value = getattr(message, name)
        if value is not None:
            check_text(value, name, max_chars=limits.MAX_ID_CHARS)
    check_timestamp(message.timestamp, message.received_at)
    if not limits.MIN_TIMESTAMP_YEAR <= message.received_at.year <= limits.MAX_TIMESTAMP_YEAR:
        raise ValueError("received_at out of range")
    for name in ("timestamp", "received_at"):
        try:
            getattr(message, name).astimezone(UTC)
        except OverflowError:
            # e.g. 9999-12-31T23:00:00-05:00: a valid RFC 3339 time that is year 10000 in UTC.
            raise ValueError(f"{name}: outside the storable range once converted to UTC") from None
    check_properties(message.properties)
    for name in ("ip", "user_agent", "library"):
        value = getattr(message.context, name)
        if value is not None:
            check_text(value, f"context.{name}", max_chars=1024, allow_empty=True)


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A time-ordered UUID (RFC 9562 version 7): 48-bit Unix milliseconds, then randomness."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    return uuid.UUID(int=value)

"""Opaque keyset cursors: base64url of the last row's sort key. Tampered cursors are refused."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import msgspec
from millimetric_protocol.errors import InvalidArguments


class _Position(msgspec.Struct, array_like=True):
    timestamp: datetime
    event_id: uuid.UUID


def encode_cursor(timestamp: datetime, event_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(_Position(timestamp, event_id))).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        pos = msgspec.json.decode(raw, type=_Position)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidArguments("cursor is not one this server issued; pass meta.next_cursor unchanged", "arguments.cursor") from None
    if pos.timestamp.tzinfo is None:
        raise InvalidArguments("cursor is not one this server issued", "arguments.cursor")
    return pos.timestamp, pos.event_id

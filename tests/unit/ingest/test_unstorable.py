"""Values PostgreSQL cannot store are refused deliberately, each with a reason, before the database:
the ingest worker re-runs the protocol's validation (`decode_event`), and `encode_row` is the last
check before the INSERT for messages built in code."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from millimetric_ingest.attribution import derive
from millimetric_ingest.failures import Poison
from millimetric_ingest.sink import COLUMNS, Row, encode_row
from millimetric_protocol import limits
from millimetric_protocol.events import EventMessage, decode_event

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def raw(**overrides: Any) -> dict[str, Any]:
    return {"v": 1, "event_id": str(uuid.uuid4()), "project_id": str(uuid.uuid4()), "received_at": NOW.isoformat(),
            "timestamp": NOW.isoformat(), "event": "e", "anonymous_id": "a", "properties": {}, **overrides}


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"d": value}
    return value


def dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(("data", "reason"), [
    (dumps(raw(event="a\u0000")), "event: contains a NUL character"),
    (dumps(raw(anonymous_id="a\u0000")), "anonymous_id: contains a NUL character"),
    (dumps(raw(user_id="\u0000")), "user_id: contains a NUL character"),
    (dumps(raw(properties={"k\u0000": 1})), "contains a NUL character"),
    (dumps(raw(properties={"k": ["ok", {"deep": "x\u0000"}]})), "contains a NUL character"),
    (dumps(raw(context={"user_agent": "\u0000"})), "context.user_agent: contains a NUL character"),
    (dumps(raw()).replace(b'"e"', b'"\\ud800"'), "undecodable"),  # lone surrogate, escaped
    (dumps(raw()).replace(b'"e"', b'"\xed\xa0\x80"'), "undecodable"),  # lone surrogate, raw (invalid UTF-8)
    (dumps(raw(properties={"k": limits.MAX_INT + 1})), "signed 64-bit"),
    (dumps(raw(properties={"k": limits.MIN_INT - 1})), "signed 64-bit"),
    (dumps(raw(properties={"k": 10**400})), "signed 64-bit"),
    (dumps(raw()).replace(b'"properties": {}', b'"properties": {"k": 1e999}'), "undecodable"),
    (dumps(raw(timestamp="10000-01-01T00:00:00Z")), "undecodable"),
    (dumps(raw(timestamp="1969-12-31T23:59:59Z")), "year must be between"),
    (dumps(raw(timestamp="9999-12-31T23:00:00-05:00", received_at="9999-12-31T23:00:00-05:00")), "storable range"),
    (dumps(raw(received_at="10000-01-01T00:00:00Z")), "undecodable"),
    (dumps(raw(properties=nested(limits.MAX_PROPERTY_DEPTH + 1))), "nested deeper"),
    (dumps(raw()).replace(b'"properties": {}', b'"properties": ' + b'{"a":' * 100_000 + b"1" + b"}" * 100_000), "undecodable"),
    (b"\xff\xfe", "undecodable"),
    (b"", "undecodable"),
    (dumps(raw(v=2)), "unsupported event message version 2"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_the_worker_refuses_what_postgresql_cannot_store_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError) as info:
        decode_event(data)
    assert reason in str(info.value)


@pytest.mark.parametrize("properties", [
    {"k": limits.MAX_INT, "j": limits.MIN_INT},
    nested(limits.MAX_PROPERTY_DEPTH),
    {"text": "é😀 \u200b", "f": 1e308, "tiny": 5e-324},
])
def test_values_just_inside_the_limits_are_accepted(properties: dict[str, Any]) -> None:
    assert decode_event(dumps(raw(properties=properties))).properties == properties


def test_a_timestamp_with_an_offset_at_the_edge_of_the_range_is_accepted_when_it_stays_in_range_in_utc() -> None:
    message = decode_event(dumps(raw(timestamp="9999-12-31T12:00:00-05:00", received_at="9999-12-31T12:00:00-05:00")))
    assert message.timestamp.astimezone(UTC).year == 9999


def _row(**fields: Any) -> Row:
    base: dict[str, Any] = {"received_at": NOW, "timestamp": NOW, "event": "e", "anonymous_id": "a"}
    message = EventMessage(v=1, event_id=uuid.uuid4(), project_id=uuid.uuid4(), **{**base, **fields})
    return Row(message, derive(message.properties, project_domains=()))


def test_encode_row_gives_every_column_in_order() -> None:
    values = encode_row(_row(properties={"k": 1}))
    assert len(values) == len(COLUMNS)
    assert values[2] == NOW and values[7] == '{"k":1}'


@pytest.mark.parametrize("fields", [
    {"event": "a\ud800"},  # a lone surrogate in a message built in code
    {"properties": {"k\udc00": 1}},
    {"timestamp": datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5)))},
])
def test_encode_row_turns_an_unencodable_value_into_poison(fields: dict[str, Any]) -> None:
    with pytest.raises(Poison):
        encode_row(_row(**fields))

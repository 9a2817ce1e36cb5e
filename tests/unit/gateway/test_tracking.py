"""The pure parts of the tracking endpoints: Segment payload decoding, event ids from messageIds,
clock-skew correction, what is stored, client addresses behind trusted proxies, the snippet file."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import msgspec
import pytest
from aiohttp.test_utils import make_mocked_request
from millimetric_gateway.settings import Settings
from millimetric_gateway.snippet import Snippet
from millimetric_gateway.transport import client_address, truncate_ip
from millimetric_ingest.attribution.tables import CLICK_IDS
from millimetric_protocol import limits
from millimetric_protocol.events import EventContext, decode_event, encode_event
from millimetric_protocol.methods import TrackEventArgs
from millimetric_protocol.tracking import (
    TRACKING_ERROR_STATUS,
    TrackingError,
    build_event,
    corrected_timestamp,
    decode_batch,
    decode_track,
    draft_of_arguments,
    event_id_for,
    key_in_body,
    merged_context,
    stored_properties,
)
from millimetric_runtime.settings import ConfigError

PROJECT = uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def refusal(fn: object, body: bytes) -> TrackingError:
    with pytest.raises(TrackingError) as info:
        fn(body)  # type: ignore[operator]
    return info.value


def test_segment_calls_decode_with_extras_ignored_and_both_id_spellings() -> None:
    call = decode_track(json.dumps({"event": "x", "anonymousId": "a", "userId": "u", "integrations": {"All": True},
                                    "_metadata": {}, "channel": "server", "version": 2}).encode())
    assert (call.event_name, call.visitor_anonymous_id, call.visitor_user_id) == ("x", "a", "u")
    snake = decode_track(b'{"event": "x", "anonymous_id": "a", "user_id": "u"}')
    assert (snake.visitor_anonymous_id, snake.visitor_user_id) == ("a", "u")
    same = decode_track(b'{"event": "x", "anonymousId": "a", "anonymous_id": "a"}')
    assert same.visitor_anonymous_id == "a"


@pytest.mark.parametrize(("body", "name", "needle"), [
    (b'{"event": "x", "anonymousId": "a", "anonymous_id": "b"}', "invalid_event", "differ"),
    (b'{"event": "x"}', "invalid_event", "anonymousId or userId"),
    (b'{"anonymousId": "a"}', "invalid_event", "event: required"),
    (b'{"type": "identify", "userId": "u"}', "invalid_event", "'identify' is not accepted"),
    (b'{"event": "x", "anonymousId": "a", "messageId": ""}', "invalid_event", "messageId"),
    (b'{"event": "x", "anonymousId": "a", "timestamp": "2026-05-01T00:00:00"}', "invalid_event", "UTC offset"),
    (b'{"event": "x", "anonymousId": "a\\u0000"}', "invalid_event", "NUL"),
    (b"[]", "invalid_request", "object"),
    (b"", "parse_error", "empty"),
    (b"\xff", "parse_error", "UTF-8"),
    (b"{", "parse_error", "malformed"),
])
def test_track_refusals(body: bytes, name: str, needle: str) -> None:
    error = refusal(decode_track, body)
    assert error.name == name
    assert needle in error.detail
    assert error.status == TRACKING_ERROR_STATUS[name]


def test_page_and_screen_calls_are_stored_as_views() -> None:
    page = decode_track(b'{"type": "page", "name": "Home", "anonymousId": "a"}')
    assert page.event_name == "page_view"
    assert stored_properties(page, {})["name"] == "Home"
    assert decode_track(b'{"type": "screen", "userId": "u"}').event_name == "screen_view"


def test_batch_count_limit_both_sides() -> None:
    one = {"event": "x", "anonymousId": "a"}
    assert len(decode_batch(json.dumps({"batch": [one] * limits.MAX_BATCH_EVENTS}).encode()).batch) == limits.MAX_BATCH_EVENTS
    error = refusal(decode_batch, json.dumps({"batch": [one] * (limits.MAX_BATCH_EVENTS + 1)}).encode())
    assert (error.name, error.status, error.data["max_events"]) == ("too_many_events", 413, limits.MAX_BATCH_EVENTS)


def test_batch_reports_the_first_invalid_call() -> None:
    body = {"batch": [{"event": "x", "anonymousId": "a"}, {"event": "x", "anonymousId": "a", "properties": {"n": 2**63}}]}
    error = refusal(decode_batch, json.dumps(body).encode())
    assert (error.name, error.data["index"], error.data["path"]) == ("invalid_event", 1, "batch[1]")
    assert "64-bit" in error.detail
    assert refusal(decode_batch, b'{"batch": []}').name == "invalid_request"
    assert refusal(decode_batch, b'{"calls": []}').name == "invalid_request"


def test_the_key_is_found_in_the_body_without_validating_it() -> None:
    assert key_in_body(b'{"writeKey": "pk_live_x", "event": 5}') == "pk_live_x"
    assert key_in_body(b'{"key": "sk_live_y"}') == "sk_live_y"
    assert key_in_body(b'{"batch": [], "writeKey": "pk_live_z"}') == "pk_live_z"
    assert key_in_body(b"not json") is None
    assert key_in_body(b'{"writeKey": 7}') is None
    assert key_in_body(b"[]") is None


def test_event_ids_from_message_ids() -> None:
    given = uuid.uuid4()
    assert event_id_for(str(given), PROJECT) == given
    assert event_id_for(given.hex, PROJECT) == given  # any spelling uuid.UUID accepts
    derived = event_id_for("ajs-next-123", PROJECT)
    assert derived == uuid.uuid5(PROJECT, "ajs-next-123") == event_id_for("ajs-next-123", PROJECT)
    assert derived.version == 5
    assert event_id_for("ajs-next-123", uuid.uuid4()) != derived  # per project
    assert event_id_for(None, PROJECT) != event_id_for(None, PROJECT)


def test_clock_skew_correction() -> None:
    fast = timedelta(hours=3)  # the client's clock runs 3 hours ahead
    happened, sent = NOW + fast - timedelta(seconds=30), NOW + fast
    assert corrected_timestamp(happened, sent, NOW) == NOW - timedelta(seconds=30)
    assert corrected_timestamp(happened, None, NOW) == happened
    assert corrected_timestamp(None, sent, NOW) == NOW
    assert corrected_timestamp(None, None, NOW) == NOW
    with pytest.raises(ValueError, match="out of range"):
        corrected_timestamp(datetime(9999, 12, 31, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC), NOW)


def test_segment_context_page_and_campaign_go_where_attribution_reads_them() -> None:
    call = decode_track(b'{"event": "x", "anonymousId": "a", "context": {"page": {"url": "u"}, "ip": "1.2.3.4"}}')
    context = merged_context(call, {"campaign": {"source": "s"}, "page": {"url": "batch"}})
    assert context["page"] == {"url": "u"}  # the call's own context wins over the batch's
    assert stored_properties(call, context)["context"] == {"page": {"url": "u"}, "campaign": {"source": "s"}}
    own = decode_track(b'{"event": "x", "anonymousId": "a", "properties": {"context": {"mine": 1}}, "context": {"page": {}}}')
    assert stored_properties(own, merged_context(own, None))["context"] == {"mine": 1}
    full = decode_track(json.dumps({"event": "x", "anonymousId": "a",
                                    "properties": {f"k{i}": i for i in range(limits.MAX_PROPERTIES - 1)},
                                    "context": {"page": {"url": "u", "path": "/"}}}).encode())
    with pytest.raises(ValueError, match="property keys"):
        stored_properties(full, merged_context(full, None))


def test_built_events_pass_the_ingest_workers_check() -> None:
    call = decode_track(b'{"event": "x", "anonymousId": "a", "timestamp": "2026-05-01T14:00:00+02:00", "properties": {"p": 1}}')
    message = build_event(call.draft(call.properties, None), project_id=PROJECT, received_at=NOW,
                          context=EventContext(ip="203.0.113.0", user_agent="ua", library="http"))
    assert message.timestamp == NOW and message.timestamp.utcoffset() == timedelta(0)
    assert decode_event(encode_event(message)) == message
    future = decode_track(b'{"event": "x", "anonymousId": "a", "timestamp": "2026-05-03T12:00:01Z"}')
    with pytest.raises(ValueError, match="future"):
        build_event(future.draft({}, None), project_id=PROJECT, received_at=NOW, context=EventContext())
    big = decode_track(json.dumps({"event": "x", "anonymousId": "a",
                                   "properties": {f"k{i}": "v" * 8000 for i in range(5)}}).encode())
    with pytest.raises(ValueError, match="larger than"):
        build_event(big.draft(big.properties, None), project_id=PROJECT, received_at=NOW, context=EventContext())


def test_track_event_and_a_segment_call_build_the_same_message() -> None:
    """One builder for both ways in: the same event sent as track_event arguments and as a
    /v1/track call (its messageId = the tool's event_id) becomes the same Kafka message."""
    event_id = uuid.uuid4()
    arguments = msgspec.json.decode(json.dumps({
        "event": "signup", "anonymous_id": "a", "user_id": "u", "properties": {"plan": "pro"},
        "timestamp": "2026-05-01T14:00:00+02:00", "event_id": str(event_id)}).encode(), type=TrackEventArgs)
    call = decode_track(json.dumps({
        "event": "signup", "anonymousId": "a", "userId": "u", "properties": {"plan": "pro"},
        "timestamp": "2026-05-01T14:00:00+02:00", "messageId": str(event_id)}).encode())
    context = EventContext(ip="203.0.113.0", library="mcp")
    from_tool = build_event(draft_of_arguments(arguments), project_id=PROJECT, received_at=NOW, context=context)
    from_call = build_event(call.draft(call.properties, None), project_id=PROJECT, received_at=NOW, context=context)
    assert from_tool == from_call
    assert from_tool.event_id == event_id and from_tool.timestamp == datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def request(remote: str, forwarded: list[str] | None = None) -> object:
    headers = [("X-Forwarded-For", value) for value in forwarded or []]
    return make_mocked_request("POST", "/v1/track", headers=headers).clone(remote=remote)


@pytest.mark.parametrize(("remote", "forwarded", "trusted", "client"), [
    ("198.51.100.7", ["203.0.113.5"], (), "198.51.100.7"),  # no trusted proxies: the peer, always
    ("198.51.100.7", ["203.0.113.5"], ("10.0.0.0/8",), "198.51.100.7"),  # the peer is not a proxy of ours
    ("10.0.0.2", ["203.0.113.5"], ("10.0.0.0/8",), "203.0.113.5"),
    ("10.0.0.2", ["1.1.1.1, 203.0.113.5, 10.0.0.9"], ("10.0.0.0/8",), "203.0.113.5"),  # the client's own entry is not believed
    ("10.0.0.2", ["1.1.1.1", "203.0.113.5"], ("10.0.0.0/8",), "203.0.113.5"),  # several headers
    ("10.0.0.2", ["[2001:db8::7]:443"], ("10.0.0.2",), "2001:db8::7"),
    ("10.0.0.2", ["203.0.113.5:8080"], ("10.0.0.2",), "203.0.113.5"),
    ("10.0.0.2", ["garbage, 10.0.0.3"], ("10.0.0.0/8",), None),
    ("10.0.0.2", [], ("10.0.0.0/8",), "10.0.0.2"),
    ("10.0.0.2", ["10.0.0.7"], ("10.0.0.0/8",), "10.0.0.7"),  # only proxies: the leftmost
])
def test_client_address_believes_forwarded_for_only_from_trusted_proxies(
        remote: str, forwarded: list[str], trusted: tuple[str, ...], client: str | None) -> None:
    assert client_address(request(remote, forwarded), trusted) == client  # type: ignore[arg-type]


@pytest.mark.parametrize(("address", "stored"), [
    ("203.0.113.77", "203.0.113.0"), ("2001:db8:1234:5678::1", "2001:db8:1234::"), ("::ffff:203.0.113.77", "203.0.113.0"),
    ("not an ip", None), (None, None),
])
def test_addresses_are_stored_truncated(address: str | None, stored: str | None) -> None:
    assert truncate_ip(address) == stored


def test_trusted_proxies_are_validated_at_startup() -> None:
    settings = Settings.from_env({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8, 192.0.2.1,fd00::/8"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.1", "fd00::/8")
    with pytest.raises(ConfigError, match="GATEWAY_TRUSTED_PROXIES"):
        Settings.from_env({"GATEWAY_TRUSTED_PROXIES": "10.0.0.0/8,proxy.internal"})


def test_the_snippet_is_small_has_no_cookies_and_sends_every_attribution_parameter() -> None:
    text = Snippet.load().body.decode()
    assert len(text.encode()) < 6 * 1024
    assert "cookie" not in text.lower().replace("no cookies", "")
    assert "sendBeacon" in text and "keepalive" in text and "localStorage" in text
    assert "/v1/track" in text and "writeKey" in text and "messageId" in text and "sentAt" in text
    params = set(json.loads(text.split("var PARAMS = ", 1)[1].split(";", 1)[0]))
    utm = {"utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term"}
    assert params == utm | {click_id.name.lower() for click_id in CLICK_IDS}

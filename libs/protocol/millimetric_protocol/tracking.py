"""Segment-compatible tracking payloads: `POST /v1/track` (one call) and `POST /v1/batch`.

Field names are Segment's (`event`, `anonymousId`, `userId`, `properties`, `timestamp`, `sentAt`,
`messageId`, `context`), and the snake_case spellings `anonymous_id` / `user_id` are accepted too.
Unlike the MCP tool arguments, unknown top-level fields are ignored: Segment libraries send
`integrations`, `_metadata`, `channel`, `version`, `writeKey` and more, and refusing them would
refuse every such library. Everything that is stored is validated as strictly as `track_event`
(`validate.py`): lengths, NULs, property counts and depth, integer range, timestamp range.

Call types: `track` (the default when `type` is absent), and `page` / `screen`, stored as the events
`page_view` / `screen_view` (a Segment `name` goes to `properties.name`). Other types (`identify`,
`group`, `alias`) are refused: there is nowhere to store them yet.

`build_event` is the one place an event message is made, for both ways in: a Segment call becomes an
`EventDraft` with `TrackCall.draft`, `track_event`'s arguments with `draft_of_arguments`.

Pure: decoding, event ids and clock-skew correction; no I/O. The gateway turns `TrackingError`
into `{"error": name, "detail": …}` with the HTTP status of `TRACKING_ERROR_STATUS`.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
from msgspec import Meta, Struct, field

from . import limits
from .codec import _expectation, _nested_too_deep, _split_path
from .events import EVENT_MESSAGE_VERSION, EventContext, EventMessage, check_event, encode_event, uuid7
from .methods import AwareDatetime, EventName, TrackEventArgs, VisitorId
from .validate import check_properties, check_text, check_timestamp

TrackingErrorName = Literal[
    "parse_error", "invalid_request", "invalid_event", "invalid_key", "key_kind_not_allowed",
    "payload_too_large", "too_many_events", "unsupported_media_type", "rate_limited", "unavailable",
    "method_not_allowed", "internal_error",
]
TRACKING_ERROR_STATUS: Final[dict[TrackingErrorName, int]] = {
    "parse_error": 400,
    "invalid_request": 400,
    "invalid_event": 400,
    "invalid_key": 401,
    "key_kind_not_allowed": 403,
    "payload_too_large": 413,
    "too_many_events": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "unavailable": 503,
    "method_not_allowed": 405,
    "internal_error": 500,
}
"""Every error a tracking endpoint answers, with its HTTP status (the README's table)."""

CALL_EVENTS: Final[dict[str, str | None]] = {"track": None, "page": "page_view", "screen": "screen_view"}
"""Accepted call types → the event name they are stored under (None: the call's own `event`)."""
ATTRIBUTION_CONTEXT_KEYS: Final = ("page", "campaign")
"""Members of a Segment `context` copied into `properties.context`, where attribution reads them."""

MessageId = Annotated[str, Meta(min_length=1, max_length=limits.MAX_MESSAGE_ID_CHARS)]
WriteKey = Annotated[str, Meta(max_length=200)]
T = TypeVar("T")


class TrackingError(Exception):
    """A refusal of a tracking request: `name` and `detail` go on the wire, `data` is added to them."""

    def __init__(self, name: TrackingErrorName, detail: str, data: Mapping[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.name: TrackingErrorName = name
        self.detail = detail
        self.data = dict(data or {})

    @property
    def status(self) -> int:
        return TRACKING_ERROR_STATUS[self.name]

    def body(self) -> dict[str, Any]:
        return {"error": self.name, "detail": self.detail, **self.data}


class TrackCall(Struct, kw_only=True):
    """One Segment call. Unknown fields are ignored (see the module docstring)."""

    type: str | None = None
    event: EventName | None = None
    name: Annotated[str, Meta(max_length=limits.MAX_PROPERTY_STRING_CHARS)] | None = None
    anonymousId: VisitorId | None = None  # noqa: N815 - Segment's spelling is the wire name
    anonymous_id: VisitorId | None = None
    userId: VisitorId | None = None  # noqa: N815
    user_id: VisitorId | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    timestamp: AwareDatetime | None = None
    sentAt: AwareDatetime | None = None  # noqa: N815
    messageId: MessageId | None = None  # noqa: N815
    context: dict[str, Any] | None = None
    writeKey: WriteKey | None = None  # noqa: N815
    key: WriteKey | None = None

    def __post_init__(self) -> None:
        kind = "track" if self.type is None else self.type
        if kind not in CALL_EVENTS:
            raise ValueError(f"type: {kind[:40]!r} is not accepted; send track (the default), page or screen calls")
        if kind == "track":
            if self.event is None:
                raise ValueError("event: required in a track call")
            check_text(self.event, "event", max_chars=limits.MAX_EVENT_NAME_CHARS)
        for camel, snake in (("anonymousId", "anonymous_id"), ("userId", "user_id")):
            a, b = getattr(self, camel), getattr(self, snake)
            if a is not None and b is not None and a != b:
                raise ValueError(f"{camel} and {snake} differ; send one of them")
            value = a if a is not None else b
            if value is not None:
                check_text(value, camel, max_chars=limits.MAX_ID_CHARS)
        if self.visitor_anonymous_id is None and self.visitor_user_id is None:
            raise ValueError("give anonymousId or userId (or both)")
        if self.messageId is not None:
            check_text(self.messageId, "messageId", max_chars=limits.MAX_MESSAGE_ID_CHARS)
        if self.name is not None:
            check_text(self.name, "name", max_chars=limits.MAX_PROPERTY_STRING_CHARS, allow_empty=True)
        check_properties(self.properties)

    def draft(self, properties: dict[str, Any], batch_sent_at: datetime | None) -> EventDraft:
        """This call as `build_event` input: `properties` as stored (`stored_properties`), and the
        batch's `sentAt` unless the call has its own."""
        return EventDraft(
            event=self.event_name, anonymous_id=self.visitor_anonymous_id, user_id=self.visitor_user_id,
            properties=properties, timestamp=self.timestamp, sent_at=self.sentAt or batch_sent_at, message_id=self.messageId,
        )

    @property
    def event_name(self) -> str:
        stored = CALL_EVENTS["track" if self.type is None else self.type]
        return stored if stored is not None else self.event or ""

    @property
    def visitor_anonymous_id(self) -> str | None:
        return self.anonymousId if self.anonymousId is not None else self.anonymous_id

    @property
    def visitor_user_id(self) -> str | None:
        return self.userId if self.userId is not None else self.user_id


class TrackBatch(Struct, kw_only=True):
    """A Segment batch: `batch` holds the calls; `sentAt` and `context` apply to every call that has
    none of its own. Unknown fields are ignored."""

    batch: list[TrackCall]
    sentAt: AwareDatetime | None = None  # noqa: N815
    context: dict[str, Any] | None = None
    writeKey: WriteKey | None = None  # noqa: N815
    key: WriteKey | None = None


class _KeyCarrier(Struct):
    """Only the key members of a body (sendBeacon cannot set headers), read before anything is validated."""

    writeKey: str | None = None  # noqa: N815
    key: str | None = None


_key_decoder: Final = msgspec.json.Decoder(_KeyCarrier)


def key_in_body(body: bytes) -> str | None:
    """The `writeKey` (or `key`) member of a JSON object body; None when absent or the body is not
    such an object. Never raises: the full decode reports what is wrong with the body."""
    try:
        carrier = _key_decoder.decode(body)
    except (msgspec.DecodeError, RecursionError):
        return None
    return carrier.writeKey or carrier.key


_track_decoder: Final = msgspec.json.Decoder(TrackCall)
_batch_decoder: Final = msgspec.json.Decoder(TrackBatch)


def decode_track(body: bytes) -> TrackCall:
    """The body of `POST /v1/track`. Raises `TrackingError` (parse_error, invalid_request, invalid_event)."""
    return _decode(body, _track_decoder, TrackCall)


def decode_batch(body: bytes) -> TrackBatch:
    """The body of `POST /v1/batch`: all or nothing — the first invalid call refuses the whole batch,
    naming its index and field path. Raises `TrackingError`; too many calls → `too_many_events`."""
    batch = _decode(body, _batch_decoder, TrackBatch)
    if not batch.batch:
        raise TrackingError("invalid_request", "batch is empty: send 1 or more calls in `batch`")
    if len(batch.batch) > limits.MAX_BATCH_EVENTS:
        raise TrackingError("too_many_events", f"at most {limits.MAX_BATCH_EVENTS} calls per batch",
                            {"max_events": limits.MAX_BATCH_EVENTS, "got": len(batch.batch)})
    return batch


def _decode(body: bytes, decoder: msgspec.json.Decoder[T], type_: type[Any]) -> T:
    if not body.strip():
        raise TrackingError("parse_error", "body is empty: send a JSON object")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TrackingError("parse_error", f"body is not valid UTF-8 (byte {exc.start})") from None
    if _nested_too_deep(body):
        raise TrackingError("invalid_request", f"body is nested deeper than {limits.MAX_JSON_DEPTH} levels",
                            {"max_depth": limits.MAX_JSON_DEPTH})
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        text, path, raw_path = _split_path(str(exc), "")
        text += _expectation(type_, text, raw_path)
        where = f" (at {path})" if path else ""
        in_call = path is not None and path.startswith("batch[") if type_ is TrackBatch else raw_path or not text.startswith("Expected `")
        if not in_call:  # the body's shape, not one call, is wrong
            raise TrackingError("invalid_request", text + where, {"path": path} if path else None) from None
        data: dict[str, Any] = {"path": path} if path else {}
        if path is not None and path.startswith("batch["):
            data["index"] = int(path[6:path.index("]")])
        raise TrackingError("invalid_event", text + where, data) from None
    except (msgspec.DecodeError, RecursionError) as exc:
        raise TrackingError("parse_error", f"malformed JSON: {str(exc)[:200]}") from None


def event_id_for(message_id: str | None, project_id: uuid.UUID, new_id: Callable[[], uuid.UUID] = uuid7) -> uuid.UUID:
    """The stored event id. A `messageId` that is a UUID is used as it is; any other string maps to
    a UUIDv5 in the project's namespace (`uuid5(project_id, messageId)`), so a retry with the same
    messageId always gets the same id and is stored once. Without a messageId every call is new."""
    if message_id is None:
        return new_id()
    try:
        return uuid.UUID(message_id)
    except ValueError:
        return uuid.uuid5(project_id, message_id)


def corrected_timestamp(timestamp: datetime | None, sent_at: datetime | None, received_at: datetime) -> datetime:
    """When the event happened, on the server's clock. With both `timestamp` and `sentAt` (the
    client's clock when it sent the request) the client's clock error cancels out:
    `timestamp + (received_at - sentAt)`. With `timestamp` alone it is taken as it is; without it
    the event happened when it was received. Raises ValueError when the result is out of range."""
    if timestamp is None:
        return received_at
    if sent_at is None:
        return timestamp
    try:
        return timestamp + (received_at - sent_at)
    except OverflowError:
        raise ValueError("timestamp: out of range once corrected by sentAt") from None


def merged_context(call: TrackCall, batch_context: Mapping[str, Any] | None) -> dict[str, Any]:
    """The call's Segment `context`, over the batch's (shallow: the call's members win)."""
    return {**(batch_context or {}), **(call.context or {})}


def stored_properties(call: TrackCall, context: Mapping[str, Any]) -> dict[str, Any]:
    """`properties` as stored: plus `context.page` / `context.campaign` under `properties.context`
    (where attribution reads Segment's campaign and page values) unless the caller set
    `properties.context` itself, and a page/screen call's `name`. Raises ValueError when the
    result breaks a property limit."""
    props = dict(call.properties)
    extra = {k: context[k] for k in ATTRIBUTION_CONTEXT_KEYS if isinstance(context.get(k), dict)}
    if extra and "context" not in props:
        props["context"] = extra
    if call.type in ("page", "screen") and call.name is not None and "name" not in props:
        props["name"] = call.name
    if len(props) != len(call.properties):
        check_properties(props)
    return props


def context_text(context: Mapping[str, Any], name: str, max_chars: int) -> str | None:
    """A string member of a Segment `context` (`ip`, `userAgent`), cut to `max_chars`; None otherwise."""
    value = context.get(name)
    return value[:max_chars] if isinstance(value, str) and value and "\x00" not in value else None


def library_of(context: Mapping[str, Any]) -> str | None:
    """`context.library.name` (e.g. `millimetric.js`, `analytics-python`), cut to MAX_LIBRARY_CHARS."""
    library = context.get("library")
    if isinstance(library, dict):
        return context_text(library, "name", limits.MAX_LIBRARY_CHARS)
    return None


@dataclass(frozen=True, kw_only=True)
class EventDraft:
    """One event as a way in received it, already decoded and validated by its own struct: the
    input of `build_event`. Neither a Segment call nor tool arguments."""

    event: str
    anonymous_id: str | None = None
    user_id: str | None = None
    properties: dict[str, Any]
    timestamp: datetime | None = None
    """When it happened, on the client's clock (None: when it was received)."""
    sent_at: datetime | None = None
    """The client's clock when it sent the request (Segment `sentAt`), for clock-skew correction."""
    message_id: str | None = None
    """The caller's idempotency key: a UUID is the event id itself, any other string maps to one
    (`event_id_for`); None makes a new, time-ordered id."""


def draft_of_arguments(args: TrackEventArgs) -> EventDraft:
    """`track_event`'s arguments as `build_event` input (its `event_id` is the message id)."""
    return EventDraft(
        event=args.event, anonymous_id=args.anonymous_id, user_id=args.user_id, properties=args.properties,
        timestamp=args.timestamp, message_id=None if args.event_id is None else str(args.event_id),
    )


def build_event(draft: EventDraft, *, project_id: uuid.UUID, received_at: datetime, context: EventContext,
                new_id: Callable[[], uuid.UUID] = uuid7) -> EventMessage:
    """The Kafka message for one event, from either way in (`track_event`, `/v1/track`,
    `/v1/batch`): timestamp corrected for clock skew and converted to UTC, id derived from the
    message id, then validated as the ingest worker will validate it (`check_event`), so nothing
    accepted here is dead-lettered there. Raises ValueError whose message starts with the field
    (`timestamp: …`) when there is one."""
    timestamp = corrected_timestamp(draft.timestamp, draft.sent_at, received_at)
    try:
        timestamp = timestamp.astimezone(UTC)
    except OverflowError:
        raise ValueError("timestamp: outside the storable range once converted to UTC") from None
    check_timestamp(timestamp, received_at)
    message = EventMessage(
        v=EVENT_MESSAGE_VERSION,
        event_id=event_id_for(draft.message_id, project_id, new_id),
        project_id=project_id,
        received_at=received_at,
        timestamp=timestamp,
        event=draft.event,
        anonymous_id=draft.anonymous_id,
        user_id=draft.user_id,
        properties=draft.properties,
        context=context,
    )
    size = len(encode_event(message))
    if size > limits.MAX_EVENT_BYTES:
        raise ValueError(f"event larger than {limits.MAX_EVENT_BYTES} bytes once encoded")
    check_event(message, size)
    return message

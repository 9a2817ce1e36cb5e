"""Bytes in, typed structs out (and back). Decoders are built once.

This is the only place that catches msgspec decode errors: every failure (malformed JSON, bad
UTF-8, too deep, wrong shape) becomes a `ProtocolError` whose detail carries the JSON path and,
where the type says it, what was expected (the valid values of an enum-like field, the field
names of an object, the date-time form).
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeVar

import msgspec
import msgspec.inspect as mi

from . import limits
from .envelope import ErrorObject, Message, Request, Response
from .errors import ErrorName, InvalidArguments, ProtocolError

T = TypeVar("T")

_message_decoder: Final = msgspec.json.Decoder(Message)
_batch_decoder: Final = msgspec.json.Decoder(list[msgspec.Raw])
_encoder: Final = msgspec.json.Encoder()
_PATH_RE: Final = re.compile(r" - at `\$(.*)`$")
_PATH_TOKEN_RE: Final = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_LONE_SURROGATE_RE: Final = re.compile(
    rb"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"  # high surrogate not followed by a low one
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"  # low surrogate without a high one
)
_JSON_STRING_RE: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS: Final = bytes(sorted(set(range(256)) - set(b"[]{}")))
_MAX_LISTED: Final = 30
"""Most valid values / field names an error message lists."""


def _split_path(message: str, root: str) -> tuple[str, str | None, str]:
    """msgspec says 'Expected `int`, got `str` - at `$.limit`' → ('Expected `int`, got `str`', 'limit', '.limit').
    The third item is msgspec's own path below the decoded type (empty at its top level)."""
    match = _PATH_RE.search(message)
    if not match:
        return message, root or None, ""  # msgspec names no path for errors at the top level
    raw = match.group(1)
    rest = raw.lstrip(".")
    path = f"{root}.{rest}" if root and rest else (root or rest or None)
    return message[: match.start()], path, raw


def _type_at(info: mi.Type, raw_path: str) -> mi.Type | None:
    """The msgspec type found by following a msgspec error path (`.steps[0].order`) from `info`."""
    current: mi.Type = info
    for name, index in _PATH_TOKEN_RE.findall(raw_path):
        found: mi.Type | None = None
        for option in _options(current):
            if name and isinstance(option, mi.StructType):
                found = next((f.type for f in option.fields if f.encode_name == name), None)
            elif index == "..." and isinstance(option, mi.DictType):
                found = option.value_type
            elif index and index != "..." and isinstance(option, (mi.ListType, mi.SetType, mi.FrozenSetType, mi.VarTupleType)):
                found = option.item_type
            if found is not None:
                break
        if found is None:
            return None
        current = found
    return current


def _options(info: mi.Type) -> tuple[mi.Type, ...]:
    return info.types if isinstance(info, mi.UnionType) else (info,)


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:_MAX_LISTED])
    return shown + (", …" if len(values) > _MAX_LISTED else "")


_type_infos: dict[Any, mi.Type] = {}
_decoders: dict[Any, msgspec.json.Decoder[Any]] = {}


def _type_info(type_: Any) -> mi.Type:
    """msgspec's description of `type_`, built once per type (only on the error path)."""
    info = _type_infos.get(type_)
    if info is None:
        info = _type_infos[type_] = mi.type_info(type_)
    return info


def _expectation(type_: type[Any], text: str, raw_path: str) -> str:
    """What the field at `raw_path` accepts, for the messages where msgspec does not say it:
    the values of an enum-like field, the field names of an object, the date-time and UUID forms."""
    target = _type_at(_type_info(type_), raw_path)
    if target is None:
        return ""
    options = _options(target)
    if text.startswith("Object contains unknown field"):
        fields = [f.encode_name for o in options if isinstance(o, mi.StructType) for f in o.fields]
        return f"; valid fields: {_listed(fields)}" if fields else ""
    values = [repr(v) for o in options if isinstance(o, mi.LiteralType) for v in o.values]
    values += [repr(m.value) for o in options if isinstance(o, mi.EnumType) for m in o.cls]
    if values:
        return f"; expected one of: {_listed(values)}"
    if any(isinstance(o, mi.DateTimeType) for o in options):
        return "; expected an ISO 8601 date-time with a UTC offset, e.g. 2026-05-01T00:00:00Z"
    if any(isinstance(o, mi.UUIDType) for o in options):
        return "; expected a UUID, e.g. 0f8fad5b-d9cb-469f-a165-70867728950e"
    return ""


BATCH_PROTOCOL_VERSIONS: Final = ("2025-03-26",)
"""MCP versions whose POSTs may carry a JSON-RPC batch: 2025-06-18 removed batches, 2026-07-28 forbids them."""


def is_batch(body: bytes) -> bool:
    """True when the body is a JSON array (a JSON-RPC batch), judged by its first non-blank byte."""
    return body.lstrip(b" \t\r\n")[:1] == b"["


def _check_body(body: bytes) -> None:
    """What holds for every body before it is decoded: valid UTF-8, nesting within MAX_JSON_DEPTH."""
    try:
        # msgspec checks UTF-8 only where it builds a str; `params` stays raw, so check the whole body.
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProtocolError(ErrorName.PARSE_ERROR, f"body is not valid UTF-8 (byte {exc.start})") from None
    if _nested_too_deep(body):
        raise ProtocolError(ErrorName.INVALID_REQUEST, _TOO_DEEP, {"max_depth": limits.MAX_JSON_DEPTH})


def decode_message(body: bytes) -> Message:
    """One JSON-RPC object from an HTTP body. Raises PARSE_ERROR / INVALID_REQUEST (a batch is
    refused here: callers that serve batches check `is_batch` first and call `decode_batch`)."""
    _check_body(body)
    try:
        parsed = _message_decoder.decode(body)
    except msgspec.ValidationError as exc:
        if is_batch(body):
            raise ProtocolError(
                ErrorName.INVALID_REQUEST,
                f"JSON-RPC batches exist only in MCP {', '.join(BATCH_PROTOCOL_VERSIONS)} (MCP-Protocol-Version: "
                f"{BATCH_PROTOCOL_VERSIONS[0]}, or no header): send one JSON-RPC object per POST",
                {"batch_versions": list(BATCH_PROTOCOL_VERSIONS)},
            ) from exc
        text, path, _ = _split_path(str(exc), "")
        raise ProtocolError(ErrorName.INVALID_REQUEST, text + (f" at {path}" if path else ""), {"path": path} if path else None) from exc
    except RecursionError as exc:  # unreachable after the depth check; kept as the last line of defence
        raise ProtocolError(ErrorName.INVALID_REQUEST, _TOO_DEEP, {"max_depth": limits.MAX_JSON_DEPTH}) from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorName.PARSE_ERROR, _parse_detail(exc, body)) from exc
    return parsed


def decode_batch(body: bytes) -> list[Message | ProtocolError]:
    """A JSON-RPC 2.0 batch (MCP 2025-03-26): per element, in order, its `Message` or the
    INVALID_REQUEST error that element is answered with (path `[i]…`). Raises PARSE_ERROR (not
    JSON, not UTF-8) or INVALID_REQUEST (too deep, an empty array, more than MAX_RPC_BATCH_CALLS
    elements) for the batch as a whole."""
    _check_body(body)
    try:
        elements = _batch_decoder.decode(body)
    except msgspec.ValidationError as exc:
        raise ProtocolError(ErrorName.INVALID_REQUEST, "a batch is a JSON array of JSON-RPC objects") from exc
    except msgspec.DecodeError as exc:
        raise ProtocolError(ErrorName.PARSE_ERROR, _parse_detail(exc, body)) from exc
    if not elements:
        raise ProtocolError(ErrorName.INVALID_REQUEST, "the batch is empty: send 1 or more JSON-RPC objects")
    if len(elements) > limits.MAX_RPC_BATCH_CALLS:
        raise ProtocolError(ErrorName.INVALID_REQUEST, f"at most {limits.MAX_RPC_BATCH_CALLS} messages per batch",
                            {"max_calls": limits.MAX_RPC_BATCH_CALLS, "got": len(elements)})
    decoded: list[Message | ProtocolError] = []
    for i, element in enumerate(elements):
        try:
            decoded.append(_message_decoder.decode(element))
        except msgspec.ValidationError as exc:
            text, path, _ = _split_path(str(exc), f"[{i}]")
            decoded.append(ProtocolError(ErrorName.INVALID_REQUEST, f"{text} at {path}", {"path": path}))
    return decoded


_TOO_DEEP: Final = f"body is nested deeper than {limits.MAX_JSON_DEPTH} levels of arrays/objects"


def _nested_too_deep(body: bytes) -> bool:
    """True when arrays/objects nest deeper than MAX_JSON_DEPTH anywhere in the body (brackets inside
    strings do not count). Linear; the common case returns after two counts."""
    if body.count(b"[") + body.count(b"{") <= limits.MAX_JSON_DEPTH:
        return False
    depth = 0
    for byte in _JSON_STRING_RE.sub(b"", body).translate(None, _NOT_BRACKETS):
        if byte in b"[{":
            depth += 1
            if depth > limits.MAX_JSON_DEPTH:
                return True
        else:
            depth -= 1
    return False


def _parse_detail(exc: BaseException, body: bytes) -> str:
    if not body.strip():
        return "body is empty: send one JSON-RPC object"
    if _LONE_SURROGATE_RE.search(body):
        return "a string holds an unpaired UTF-16 surrogate escape (e.g. \\ud800); JSON text must be valid Unicode"
    return f"malformed JSON: {str(exc)[:200]}"


def as_request(message: Message) -> Request | None:
    """The request/notification in a message, or None when it is a response (client → server
    responses are acknowledged and ignored). Raises INVALID_REQUEST for anything else."""
    has_result = message.result is not msgspec.UNSET or message.error is not msgspec.UNSET
    if message.method is msgspec.UNSET:
        if has_result and message.id is not msgspec.UNSET:
            return None
        raise ProtocolError(ErrorName.INVALID_REQUEST, "a request needs a `method` string")
    if has_result:
        raise ProtocolError(ErrorName.INVALID_REQUEST, "a request must not carry `result` or `error`")
    if message.id is None:
        raise ProtocolError(ErrorName.INVALID_REQUEST, "`id` must be a string or an integer, not null")
    assert isinstance(message.method, str)
    return Request(method=message.method, id=message.id, params=message.params)


def _decoder_for(type_: Any) -> msgspec.json.Decoder[Any]:
    """One decoder per type, built on first use (the set of types is fixed: the protocol structs)."""
    decoder = _decoders.get(type_)
    if decoder is None:
        decoder = _decoders[type_] = msgspec.json.Decoder(type_)
    return decoder


def decode_params(raw: msgspec.Raw | Any, type_: type[T]) -> T:
    """A method's params (raw JSON, or UNSET for none) → struct. Raises INVALID_PARAMS."""
    data = bytes(raw) if isinstance(raw, msgspec.Raw) else b"{}"
    try:
        return _decoder_for(type_).decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text, path, raw_path = _split_path(str(exc), "params")
        text += _expectation(type_, text, raw_path)
        raise ProtocolError(ErrorName.INVALID_PARAMS, f"{text} at {path}", {"path": path}) from exc
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise ProtocolError(ErrorName.INVALID_PARAMS, "params are not a JSON object") from exc


def decode_arguments(raw: msgspec.Raw | None | Any, type_: type[T]) -> T:
    """Tool arguments → struct. Raises `InvalidArguments` naming the field path (`arguments.limit`)
    and what it expects (an enum-like field's valid values, an object's field names)."""
    data = bytes(raw) if isinstance(raw, msgspec.Raw) else b"{}"
    if data.strip() == b"null":
        data = b"{}"
    try:
        return _decoder_for(type_).decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text, path, raw_path = _split_path(str(exc), "arguments")
        hint = _expectation(type_, text, raw_path)
        raise InvalidArguments(f"{text}" + (f" (at {path})" if path else "") + hint, path) from exc
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
        raise InvalidArguments("arguments must be a JSON object", "arguments") from exc


def encode(value: Any) -> bytes:
    return _encoder.encode(value)


def encode_result(request_id: Any, result: Any) -> bytes:
    return _encoder.encode(Response(jsonrpc="2.0", id=request_id, result=result))


def error_object(error: ProtocolError) -> ErrorObject:
    return ErrorObject(code=error.code, message=error.name.value, data=error.wire_data())


def encode_error(request_id: Any, error: ProtocolError) -> bytes:
    """`message` is the error name (`insufficient_scope`), as the public doc shows."""
    return _encoder.encode(Response(jsonrpc="2.0", id=request_id, error=error_object(error)))

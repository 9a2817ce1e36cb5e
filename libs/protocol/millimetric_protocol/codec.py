"""Bytes in, typed structs out (and back). Decoders are built once.

This is the only place that catches msgspec decode errors: every failure (malformed JSON, bad
UTF-8, too deep, wrong shape) becomes a `ProtocolError` whose detail carries the JSON path.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Final, TypeVar

import msgspec

from .envelope import ErrorObject, Message, Request, Response
from .errors import ErrorName, InvalidArguments, ProtocolError

T = TypeVar("T")

_message_decoder: Final = msgspec.json.Decoder(Message)
_encoder: Final = msgspec.json.Encoder()
_PATH_RE: Final = re.compile(r" - at `\$(.*)`$")


def _split_path(message: str, root: str) -> tuple[str, str | None]:
    """msgspec says 'Expected `int`, got `str` - at `$.limit`' → ('Expected `int`, got `str`', 'limit')."""
    match = _PATH_RE.search(message)
    if not match:
        return message, root or None  # msgspec names no path for errors at the top level
    rest = match.group(1).lstrip(".")
    path = f"{root}.{rest}" if root and rest else (root or rest or None)
    return message[: match.start()], path


def decode_message(body: bytes) -> Message:
    """One JSON-RPC object from an HTTP body. Raises PARSE_ERROR / INVALID_REQUEST."""
    try:
        parsed = _message_decoder.decode(body)
    except msgspec.ValidationError as exc:
        if body.lstrip()[:1] == b"[":
            raise ProtocolError(ErrorName.INVALID_REQUEST, "batches are not accepted: send one JSON-RPC object per POST") from exc
        text, path = _split_path(str(exc), "")
        raise ProtocolError(ErrorName.INVALID_REQUEST, text + (f" at {path}" if path else ""), {"path": path} if path else None) from exc
    except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ProtocolError(ErrorName.PARSE_ERROR, _parse_detail(exc)) from exc
    return parsed


def _parse_detail(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "body is nested too deeply"
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


@lru_cache(maxsize=None)
def _decoder_for(type_: type[Any]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_)


def decode_params(raw: msgspec.Raw | Any, type_: type[T]) -> T:
    """A method's params (raw JSON, or UNSET for none) → struct. Raises INVALID_PARAMS."""
    data = bytes(raw) if isinstance(raw, msgspec.Raw) else b"{}"
    try:
        return _decoder_for(type_).decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text, path = _split_path(str(exc), "params")
        raise ProtocolError(ErrorName.INVALID_PARAMS, f"{text} at {path}", {"path": path}) from exc
    except (msgspec.DecodeError, RecursionError) as exc:
        raise ProtocolError(ErrorName.INVALID_PARAMS, "params are not a JSON object") from exc


def decode_arguments(raw: msgspec.Raw | None | Any, type_: type[T]) -> T:
    """Tool arguments → struct. Raises `InvalidArguments` naming the field path (`arguments.limit`)."""
    data = bytes(raw) if isinstance(raw, msgspec.Raw) else b"{}"
    if data.strip() == b"null":
        data = b"{}"
    try:
        return _decoder_for(type_).decode(data)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        text, path = _split_path(str(exc), "arguments")
        raise InvalidArguments(f"{text}" + (f" (at {path})" if path else ""), path) from exc
    except (msgspec.DecodeError, RecursionError) as exc:
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

"""decode_message / decode_params / decode_arguments: every decode failure becomes one protocol error
that names the path and says what was expected (the fix for msgspec's bare "Invalid enum value")."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from millimetric_protocol import limits, methods
from millimetric_protocol.codec import decode_arguments, decode_batch, decode_message, decode_params, is_batch
from millimetric_protocol.envelope import CallToolParams, Message
from millimetric_protocol.errors import ErrorName, InvalidArguments, ProtocolError


def arguments_error(type_: type[Any], arguments: Any) -> InvalidArguments:
    with pytest.raises(InvalidArguments) as info:
        decode_arguments(msgspec.Raw(json.dumps(arguments).encode()), type_)
    return info.value


@pytest.mark.parametrize(("type_", "arguments", "path", "listed"), [
    (methods.GetStatsArgs, {"metric": "sessions"}, "arguments.metric", "'count', 'uniques', 'users'"),
    (methods.GetStatsArgs, {"metric": None}, "arguments.metric", "'count', 'uniques', 'users'"),
    (methods.GetStatsArgs, {"interval": "year"}, "arguments.interval", "'day', 'hour', 'month', 'week'"),
    (methods.GetStatsArgs, {"compare": "yoy"}, "arguments.compare", "'previous_period'"),
    (methods.TopSourcesArgs, {"breakdown": 1}, "arguments.breakdown", "'source', 'source_medium'"),
    (methods.FunnelArgs, {"steps": ["a", "b"], "order": "x"}, "arguments.order", "'any', 'ordered', 'strict'"),
    (methods.FunnelArgs, {"steps": ["a", "b"], "group_by": "event"}, "arguments.group_by", "'channel', 'medium', 'source'"),
    (methods.AccountGetStatsArgs, {"interval": "year"}, "arguments.interval", "'day', 'hour', 'month', 'week'"),
    (methods.CompareProjectsArgs, {"metric": "revenue"}, "arguments.metric", "'count', 'uniques', 'users'"),
])
def test_enum_like_field_errors_list_the_valid_values(type_: type[Any], arguments: Any, path: str, listed: str) -> None:
    error = arguments_error(type_, arguments)
    assert error.data["path"] == path
    assert error.detail is not None
    assert f"(at {path}); expected one of: {listed}" in error.detail


def test_unknown_field_errors_list_the_valid_fields() -> None:
    error = arguments_error(methods.TrackEventArgs, {"event": "x", "anonymous_id": "a", "colour": "red"})
    assert error.detail == ("Object contains unknown field `colour` (at arguments); valid fields: event, anonymous_id, "
                            "user_id, properties, timestamp, event_id")
    nested = arguments_error(methods.FunnelArgs, {"steps": ["a", {"event": "b", "x": 1}]})
    assert nested.data["path"] == "arguments.steps[1]"
    assert nested.detail is not None and nested.detail.endswith("valid fields: event, properties")


@pytest.mark.parametrize(("type_", "arguments", "path", "hint"), [
    (methods.QueryEventsArgs, {"from": "yesterday"}, "arguments.from", "ISO 8601 date-time with a UTC offset"),
    (methods.QueryEventsArgs, {"to": "2026-05-01T00:00:00"}, "arguments.to", "ISO 8601 date-time with a UTC offset"),
    (methods.TrackEventArgs, {"event": "x", "anonymous_id": "a", "event_id": "nope"}, "arguments.event_id", "expected a UUID"),
    (methods.AccountQueryEventsArgs, {"project_ids": ["nope"]}, "arguments.project_ids[0]", "expected a UUID"),
])
def test_date_time_and_uuid_errors_show_the_form(type_: type[Any], arguments: Any, path: str, hint: str) -> None:
    error = arguments_error(type_, arguments)
    assert error.data["path"] == path
    assert error.detail is not None and hint in error.detail


def test_errors_msgspec_already_explains_get_no_hint() -> None:
    error = arguments_error(methods.QueryEventsArgs, {"limit": limits.MAX_QUERY_LIMIT + 1})
    assert error.detail == f"Expected `int` <= {limits.MAX_QUERY_LIMIT} (at arguments.limit)"


def test_params_errors_name_the_path_too() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_params(msgspec.Raw(b'{"name": 5}'), CallToolParams)
    assert info.value.name is ErrorName.INVALID_PARAMS
    assert info.value.data == {"path": "params.name"}


@pytest.mark.parametrize(("body", "name", "detail"), [
    (b"", ErrorName.PARSE_ERROR, "body is empty"),
    (b"   \n", ErrorName.PARSE_ERROR, "body is empty"),
    (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":"\xff"}}', ErrorName.PARSE_ERROR, "not valid UTF-8 (byte 55)"),
    (b'{"jsonrpc":"2.0","id":1,"method":"\\ud800"}', ErrorName.PARSE_ERROR, "unpaired UTF-16 surrogate"),
    (b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":"\\udc00"}}', ErrorName.PARSE_ERROR, "unpaired UTF-16 surrogate"),
    (b'{"jsonrpc":"2.0","id":1,"method":"x",', ErrorName.PARSE_ERROR, "malformed JSON"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]', ErrorName.INVALID_REQUEST, "batches exist only in MCP 2025-03-26"),
    (b"[" * 100_000, ErrorName.INVALID_REQUEST, f"deeper than {limits.MAX_JSON_DEPTH}"),
    (b'{"a":' * 100_000, ErrorName.INVALID_REQUEST, f"deeper than {limits.MAX_JSON_DEPTH}"),
])
def test_undecodable_bodies(body: bytes, name: ErrorName, detail: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_message(body)
    assert info.value.name is name
    assert info.value.detail is not None and detail in info.value.detail


def test_a_paired_surrogate_escape_is_fine() -> None:
    message = decode_message(b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"emoji":"\\ud83d\\ude00"}}')
    assert message.method == "x"


def _nested_body(depth: int) -> bytes:
    """A request whose nesting depth is exactly `depth` (the body object is level 1)."""
    inner = depth - 2  # body object and params object
    return b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + b"[" * inner + b"]" * inner + b"}}"


def test_json_depth_limit_on_both_sides() -> None:
    assert decode_message(_nested_body(limits.MAX_JSON_DEPTH)).method == "ping"
    with pytest.raises(ProtocolError) as info:
        decode_message(_nested_body(limits.MAX_JSON_DEPTH + 1))
    assert info.value.data == {"max_depth": limits.MAX_JSON_DEPTH}


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = json.dumps("[{" * 1000 + '\\"[')
    body = b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"x":' + text.encode() + b"}}"
    assert decode_message(body).method == "ping"


def test_a_batch_decodes_member_by_member() -> None:
    first, second, third = decode_batch(b' [{"jsonrpc":"2.0","id":1,"method":"ping"}, 7, {"jsonrpc":"2.0","method":5}]')
    assert isinstance(first, Message) and first.method == "ping"
    assert isinstance(second, ProtocolError) and second.name is ErrorName.INVALID_REQUEST and second.data == {"path": "[1]"}
    assert isinstance(third, ProtocolError) and third.data == {"path": "[2].method"}
    assert is_batch(b"\r\n\t [") and not is_batch(b'{"a": []}')


@pytest.mark.parametrize(("body", "name", "detail"), [
    (b"[]", ErrorName.INVALID_REQUEST, "the batch is empty"),
    (b"[" + b",".join([b'{"jsonrpc":"2.0","method":"x"}'] * (limits.MAX_RPC_BATCH_CALLS + 1)) + b"]",
     ErrorName.INVALID_REQUEST, f"at most {limits.MAX_RPC_BATCH_CALLS} messages"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"ping"}', ErrorName.PARSE_ERROR, "malformed JSON"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"\xff"}]', ErrorName.PARSE_ERROR, "not valid UTF-8"),
    (b"[" * (limits.MAX_JSON_DEPTH + 1) + b"]" * (limits.MAX_JSON_DEPTH + 1), ErrorName.INVALID_REQUEST, "deeper than"),
    (b'{"jsonrpc":"2.0"}', ErrorName.INVALID_REQUEST, "a JSON array"),
])
def test_a_batch_that_is_not_one_is_refused_as_a_whole(body: bytes, name: ErrorName, detail: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode_batch(body)
    assert info.value.name is name
    assert info.value.detail is not None and detail in info.value.detail


def test_a_batch_of_max_rpc_batch_calls_is_accepted() -> None:
    body = b"[" + b",".join([b'{"jsonrpc":"2.0","method":"x"}'] * limits.MAX_RPC_BATCH_CALLS) + b"]"
    assert len(decode_batch(body)) == limits.MAX_RPC_BATCH_CALLS

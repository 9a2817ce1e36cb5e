"""tools/list and tools/call: track_event goes to Kafka, every read to the query service."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from millimetric_protocol.codec import decode_arguments, decode_params, encode
from millimetric_protocol.envelope import BareParams, CallToolParams, CallToolResult, TextContent
from millimetric_protocol.errors import ErrorName, InvalidArguments, ProtocolError
from millimetric_protocol.events import EventContext
from millimetric_protocol.methods import TrackEventArgs
from millimetric_protocol.reads import ReadRequest, ReadScope
from millimetric_protocol.tracking import build_event, draft_of_arguments

from ..catalog import ENDPOINT_PATHS, find_tool, serving_endpoint, tool_listing, tool_names
from ..context import CallContext
from ..services import Services
from .paging import check_cursor


async def list_tools(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    check_cursor(decode_params(raw, BareParams))
    return {"tools": list(tool_listing(ctx.endpoint, ctx.scope, ctx.structured))}


async def call_tool(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    params = decode_params(raw, CallToolParams)
    tool = find_tool(ctx.endpoint, params.name)
    if tool is None:
        elsewhere = serving_endpoint(params.name, ctx.endpoint)
        if elsewhere is not None:
            path = ENDPOINT_PATHS[elsewhere]
            raise ProtocolError(ErrorName.UNHANDLED_TOOL, f"{params.name} is served on {path}, not here",
                                {"name": params.name, "endpoint": path})
        raise ProtocolError(
            ErrorName.UNKNOWN_TOOL, f"no tool named {params.name[:100]!r} on this endpoint",
            {"name": params.name[:100], "available": list(tool_names(ctx.endpoint, ctx.scope))},
        )
    ctx.trace.tool = tool.name
    if tool.scope == "ingest" and ctx.scope != "ingest":
        raise ProtocolError(ErrorName.INSUFFICIENT_SCOPE, "track_event needs an sk_ key", {"required": "ingest", "got": ctx.scope})
    arguments = params.arguments
    try:
        if tool.name == "track_event":
            data: Any = await _track(svc, ctx, decode_arguments(arguments, TrackEventArgs))
            return tool_result(data, None, ctx.structured)
        decode_arguments(arguments, tool.args)  # refuse bad arguments here, before a network hop
        result = await svc.query.read(ReadRequest(
            read=tool.name,  # type: ignore[arg-type]
            scope=ReadScope(account_id=ctx.key.account_id, project_id=ctx.key.project_id),
            arguments=arguments,
            request_id=ctx.request_id,
        ))
    except InvalidArguments as exc:
        ctx.trace.outcome = "invalid_arguments"
        return error_result(exc)
    except ProtocolError as exc:
        if exc.name is ErrorName.INVALID_PARAMS:
            ctx.trace.outcome = "invalid_arguments"
            return error_result(exc)
        raise
    return tool_result(result.rows, result.meta, ctx.structured)


async def _track(svc: Services, ctx: CallContext, args: TrackEventArgs) -> dict[str, Any]:
    assert ctx.key.project_id is not None  # track_event is listed for sk_ keys only, which belong to a project
    try:
        message = build_event(draft_of_arguments(args), project_id=ctx.key.project_id, received_at=datetime.now(UTC),
                              context=EventContext(ip=ctx.client_ip, user_agent=ctx.user_agent, library="mcp"))
    except ValueError as exc:
        detail = str(exc)
        raise InvalidArguments(detail, "arguments.timestamp" if detail.startswith("timestamp") else "arguments") from None
    try:
        await svc.producer.send(message)
    except ProtocolError:
        svc.metrics.produce_failed("mcp")
        raise
    svc.metrics.produced("mcp")
    return {"event_id": str(message.event_id), "status": "accepted"}


def tool_result(data: Any, meta: dict[str, Any] | None, structured: bool) -> dict[str, Any]:
    """The doc's shape: `content[0].text` is the JSON-stringified data (rows for reads). Reads add a
    second text block with `meta`; `structuredContent` (2025-06-18+) holds {rows, meta}."""
    content = [TextContent(text=encode(data).decode())]
    if meta is not None:
        content.append(TextContent(text=encode({"meta": meta}).decode()))
    result = CallToolResult(content=content)
    if structured:
        result.structuredContent = data if meta is None else {"rows": data, "meta": meta}
    return msgspec.to_builtins(result)  # type: ignore[no-any-return]


def error_result(exc: ProtocolError) -> dict[str, Any]:
    """Invalid arguments are tool errors (`isError`) so the model can correct itself (MCP 2025-11-25)."""
    text = f"invalid arguments: {exc.detail or exc.name.value}"
    return msgspec.to_builtins(CallToolResult(content=[TextContent(text=text)], isError=True))  # type: ignore[no-any-return]

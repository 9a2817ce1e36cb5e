"""resources/list, resources/templates/list and resources/read (answered by the query service)."""

from __future__ import annotations

from typing import Any

from millimetric_protocol.codec import decode_params, encode
from millimetric_protocol.envelope import BareParams, ReadResourceParams
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.reads import ReadRequest, ReadScope

from ..catalog import RESOURCES, find_resource
from ..context import CallContext
from ..services import Services
from .paging import check_cursor


async def list_resources(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    check_cursor(decode_params(raw, BareParams))
    return {"resources": list(RESOURCES[ctx.endpoint])}


async def list_templates(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    check_cursor(decode_params(raw, BareParams))
    return {"resourceTemplates": []}


async def read_resource(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    params = decode_params(raw, ReadResourceParams)
    read = find_resource(ctx.endpoint, params.uri)
    if read is None:
        available = [r["uri"] for r in RESOURCES[ctx.endpoint]]
        raise ProtocolError(ErrorName.UNKNOWN_RESOURCE, f"no resource {params.uri[:200]!r}; available: {', '.join(available)}",
                            {"uri": params.uri[:200], "available": available})
    result = await svc.query.read(ReadRequest(
        read=read,  # type: ignore[arg-type]
        scope=ReadScope(account_id=ctx.key.account_id, project_id=ctx.key.project_id),
        request_id=ctx.request_id,
    ))
    return {"contents": [{"uri": params.uri, "mimeType": "application/json", "text": encode(result.rows).decode()}]}

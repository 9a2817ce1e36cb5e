"""initialize (handshake era), server/discover (2026-07-28), ping."""

from __future__ import annotations

from typing import Any, Final

from millimetric_protocol import __version__
from millimetric_protocol.codec import decode_params
from millimetric_protocol.envelope import BareParams, InitializeParams

from ..context import CallContext
from ..services import Services
from ..versions import ALL_VERSIONS, negotiate

SERVER_INFO: Final = {"name": "millimetric", "version": __version__}
CAPABILITIES: Final = {
    "tools": {"listChanged": False},
    "resources": {"subscribe": False, "listChanged": False},
    "prompts": {"listChanged": False},
}
INSTRUCTIONS: Final = {
    "project": (
        "Millimetric product analytics for one project. Read resource schema://events first to learn the event names "
        "and property keys, then use get_stats / top_sources / funnel for numbers and query_events for raw rows. "
        "Times are ISO 8601 with offset; `to` is exclusive; buckets follow the project's time zone unless you pass `timezone`."
    ),
    "account": (
        "Millimetric product analytics across every project of an account. Call list_projects first; every read tool "
        "takes project_id / project_slug / project_ids (omit for all projects). compare_projects ranks projects by a metric."
    ),
}


async def initialize(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    params = decode_params(raw, InitializeParams)
    return {
        "protocolVersion": negotiate(params.protocolVersion),
        "capabilities": CAPABILITIES,
        "serverInfo": SERVER_INFO,
        "instructions": INSTRUCTIONS[ctx.endpoint],
    }


async def discover(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    decode_params(raw, BareParams)
    return {
        "supportedVersions": list(ALL_VERSIONS),
        "capabilities": CAPABILITIES,
        "instructions": INSTRUCTIONS[ctx.endpoint],
    }  # serverInfo travels in the modern `_meta` stamp, not here


async def ping(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    return {}

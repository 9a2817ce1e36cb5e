"""prompts/list and prompts/get: ready-made analyses that drive the tools."""

from __future__ import annotations

from typing import Any, Final

from millimetric_protocol.codec import decode_params
from millimetric_protocol.envelope import BareParams, GetPromptParams
from millimetric_protocol.errors import ErrorName, ProtocolError

from ..context import CallContext
from ..services import Services
from .paging import check_cursor

PROMPTS: Final[dict[str, dict[str, Any]]] = {
    "weekly-traffic-summary": {
        "title": "Weekly traffic summary",
        "description": "Summarise the last 7 days against the 7 before: visitors, top sources, notable changes.",
        "arguments": [{"name": "timezone", "description": "IANA time zone for day boundaries (optional)", "required": False}],
        "template": (
            "Summarise this project's traffic for the last 7 days{tz}. Call get_stats with metric='uniques', "
            "interval='day', compare='previous_period'; then top_sources with breakdown='source_medium'. Report total "
            "visitors and the change against the previous 7 days, the top 5 sources with their share, and any day or "
            "source that moved more than 20%. Quote numbers exactly as returned."
        ),
    },
    "traffic-drop-investigation": {
        "title": "Investigate a traffic drop",
        "description": "Find which sources, mediums or events explain a drop in traffic on a given day.",
        "arguments": [{"name": "date", "description": "The day of the drop, YYYY-MM-DD", "required": True}],
        "template": (
            "Traffic dropped on {date}. Call get_stats with metric='uniques', interval='day' over the 14 days up to "
            "and including that day, then get_stats grouped by 'source,medium' for that day with compare='previous_period', "
            "and grouped by 'event'. Identify which source/medium or event accounts for most of the drop and say how sure you are."
        ),
    },
    "campaign-audit": {
        "title": "Campaign / UTM audit",
        "description": "Check campaign tagging: untagged paid traffic, inconsistent utm spellings, unassigned traffic.",
        "arguments": [],
        "template": (
            "Audit campaign tagging for the last 30 days. Call get_stats with group_by='source,medium,campaign' and "
            "top_sources with breakdown='source_medium'. List traffic with medium 'unassigned', campaigns that appear under "
            "several sources, and paid traffic without a campaign. Suggest corrected utm_source/utm_medium values."
        ),
    },
}


async def list_prompts(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    check_cursor(decode_params(raw, BareParams))
    return {"prompts": [
        {"name": name, "title": p["title"], "description": p["description"], "arguments": p["arguments"]}
        for name, p in PROMPTS.items()
    ]}


async def get_prompt(svc: Services, ctx: CallContext, raw: Any) -> dict[str, Any]:
    params = decode_params(raw, GetPromptParams)
    prompt = PROMPTS.get(params.name)
    if prompt is None:
        raise ProtocolError(ErrorName.UNKNOWN_PROMPT, f"no prompt named {params.name[:100]!r}", {"available": list(PROMPTS)})
    args = params.arguments if isinstance(params.arguments, dict) else {}
    for spec in prompt["arguments"]:
        if spec["required"] and not args.get(spec["name"]):
            raise ProtocolError(ErrorName.INVALID_PARAMS, f"prompt argument {spec['name']!r} is required")
    tz = args.get("timezone")
    text = prompt["template"].format(tz=f" in time zone {tz}" if tz else "", date=args.get("date", "")[:40])
    return {"description": prompt["description"], "messages": [{"role": "user", "content": {"type": "text", "text": text}}]}

"""The shared read filters as SQL: one place that turns `ReadArgs` into a WHERE clause."""

from __future__ import annotations

from typing import Any

import msgspec

from .window import Window

_SOURCE_ALIASES = {"direct": "(direct)", "none": "(none)", "not set": "(not set)"}


class Sql:
    """A WHERE clause under construction with numbered asyncpg parameters."""

    def __init__(self) -> None:
        self.clauses: list[str] = []
        self.params: list[Any] = []

    def param(self, value: Any) -> str:
        self.params.append(value)
        return f"${len(self.params)}"

    def where(self, clause: str) -> None:
        self.clauses.append(clause)

    @property
    def sql(self) -> str:
        return " AND ".join(self.clauses) if self.clauses else "TRUE"


def normalize_label(value: str) -> str:
    """Filters on source/medium/campaign match the stored, cleaned (lowercase) values; `direct` means `(direct)`."""
    folded = " ".join(value.split()).casefold()
    return _SOURCE_ALIASES.get(folded, folded)


def event_filters(sql: Sql, args: Any, project_ids: list[Any], window: Window, *, column_prefix: str = "") -> None:
    """project, window, event, source, medium, campaign, property equality (and visitor ids when present)."""
    p = column_prefix
    sql.where(f"{p}project_id = ANY({sql.param(project_ids)}::uuid[])")
    sql.where(f"{p}timestamp >= {sql.param(window.start)}")
    sql.where(f"{p}timestamp < {sql.param(window.end)}")
    if args.event is not None:
        sql.where(f"{p}event = {sql.param(args.event)}")
    for name in ("source", "medium", "campaign"):
        value = getattr(args, name)
        if value is not None:
            sql.where(f"{p}{name} = {sql.param(normalize_label(value))}")
    if args.properties:
        sql.where(f"{p}properties @> {sql.param(msgspec.json.encode(args.properties).decode())}::jsonb")
    for name in ("anonymous_id", "user_id"):
        value = getattr(args, name, None)
        if value is not None:
            sql.where(f"{p}{name} = {sql.param(value)}")

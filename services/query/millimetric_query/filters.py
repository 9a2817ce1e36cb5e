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


def event_filters(sql: Sql, args: Any, project_ids: list[Any], window: Window, *, column_prefix: str = "",
                  time_column: str = "timestamp") -> None:
    """project, window, and every filter the arguments carry."""
    p = column_prefix
    if len(project_ids) == 1:  # lets PostgreSQL use index order on (project_id, timestamp)
        sql.where(f"{p}project_id = {sql.param(project_ids[0])}")
    else:
        sql.where(f"{p}project_id = ANY({sql.param(project_ids)}::uuid[])")
    sql.where(f"{p}{time_column} >= {sql.param(window.start)}")
    sql.where(f"{p}{time_column} < {sql.param(window.end)}")
    for clause in filter_clauses(sql, args, column_prefix=p):
        sql.where(clause)


def filter_clauses(sql: Sql, args: Any, *, column_prefix: str = "", include_event: bool = True) -> list[str]:
    """event, source, medium, campaign, property equality and visitor ids, when the arguments carry them."""
    p = column_prefix
    clauses = []
    event = getattr(args, "event", None)
    if include_event and event is not None:
        clauses.append(f"{p}event = {sql.param(event)}")
    for name in ("source", "medium", "campaign"):
        value = getattr(args, name, None)
        if value is not None:
            clauses.append(f"{p}{name} = {sql.param(normalize_label(value))}")
    properties = getattr(args, "properties", None)
    if properties:
        clauses.append(properties_clause(sql, properties, column_prefix=p))
    for name in ("anonymous_id", "user_id"):
        value = getattr(args, name, None)
        if value is not None:
            clauses.append(f"{p}{name} = {sql.param(value)}")
    return clauses


def properties_clause(sql: Sql, properties: dict[str, Any], *, column_prefix: str = "") -> str:
    """Each key equals its value; jsonb containment compares numbers by value (1 matches 1.0)."""
    return f"{column_prefix}properties @> {sql.param(msgspec.json.encode(properties).decode())}::jsonb"

"""What a read handler gets: a connection, the caller's scope, the raw arguments, settings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import msgspec
from millimetric_protocol.codec import decode_arguments
from millimetric_protocol.reads import ReadScope

from .settings import Settings

T = TypeVar("T")


@dataclass(frozen=True)
class ReadContext:
    pool: asyncpg.Pool
    scope: ReadScope
    arguments: msgspec.Raw
    settings: Settings
    request_id: str

    @property
    def account_level(self) -> bool:
        return self.scope.project_id is None

    def args(self, project_type: type[T], account_type: Any) -> T:
        """Decode the arguments with the same struct the gateway validated them with."""
        return decode_arguments(self.arguments, account_type if self.account_level else project_type)  # type: ignore[no-any-return]

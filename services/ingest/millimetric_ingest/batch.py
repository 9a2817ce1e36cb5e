"""A pure accumulator of consumed records, bounded by count, bytes and age. No I/O.

The consumer adds records one at a time and flushes as soon as `full` (count or bytes reached) or
`due` (full, or the oldest record is `max_age_ms` old), so a batch never holds more than
`max_events` records and exceeds `max_bytes` by at most one record.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Record:
    """One consumed Kafka record (what the sink and the dead-letter queue need of it)."""

    topic: str
    partition: int
    offset: int
    value: bytes
    key: bytes | None = None


@dataclass
class Batch:
    max_events: int
    max_bytes: int
    max_age_ms: int
    clock: Callable[[], float] = time.monotonic
    records: list[Record] = field(default_factory=list)
    size_bytes: int = 0
    started_at: float | None = None

    def add(self, record: Record) -> bool:
        """Hold `record`; returns `full` so the caller can flush before adding more."""
        if not self.records:
            self.started_at = self.clock()
        self.records.append(record)
        self.size_bytes += len(record.value)
        return self.full

    @property
    def full(self) -> bool:
        return len(self.records) >= self.max_events or self.size_bytes >= self.max_bytes

    @property
    def due(self) -> bool:
        """Full, or holding records older than max_age_ms."""
        if not self.records:
            return False
        assert self.started_at is not None
        return self.full or (self.clock() - self.started_at) * 1000 >= self.max_age_ms

    def remaining_ms(self) -> int:
        """How long the next fetch may wait before the batch is due (max_age_ms when empty)."""
        if not self.records or self.started_at is None:
            return self.max_age_ms
        return max(0, int(self.max_age_ms - (self.clock() - self.started_at) * 1000))

    def room(self) -> int:
        """How many more records fit under the count cap."""
        return max(0, self.max_events - len(self.records))

    def __len__(self) -> int:
        return len(self.records)

    def take(self) -> list[Record]:
        """Hand over every held record (in arrival order) and start empty."""
        records, self.records, self.size_bytes, self.started_at = self.records, [], 0, None
        return records


def commit_offsets(records: list[Record]) -> dict[tuple[str, int], int]:
    """Per partition: the offset to commit = the highest processed offset + 1 (never "whatever was fetched")."""
    offsets: dict[tuple[str, int], int] = {}
    for r in records:
        tp = (r.topic, r.partition)
        if r.offset + 1 > offsets.get(tp, -1):
            offsets[tp] = r.offset + 1
    return offsets


def describe(records: list[Any]) -> str:
    """'p0:10-19 p3:4-4' — the partition/offset ranges of a batch, for logs."""
    ranges: dict[int, tuple[int, int]] = {}
    for r in records:
        lo, hi = ranges.get(r.partition, (r.offset, r.offset))
        ranges[r.partition] = (min(lo, r.offset), max(hi, r.offset))
    return " ".join(f"p{p}:{lo}-{hi}" for p, (lo, hi) in sorted(ranges.items()))

"""Benchmark sizes: three presets and per-size overrides. Pure: no I/O.

The default preset is sized so that `make bench` (all six) finishes within 15 minutes on the
2-core reference machine; `--quick` is a smoke run; `--full` is the issue's full size (10 M events
for the reads, 1 M for the drain), which needs a bigger or a more patient machine.
Every size can be overridden by a flag (`python -m bench --help`) or a BENCH_* variable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Scale:
    preset: str
    http_seconds: float
    """Length of one measured wrk run (ingest_http, peer)."""
    http_runs: int
    """Measured runs per side; the sides alternate and the median of each is reported."""
    http_warmup_seconds: float
    connections: int
    drain_events: int
    """Events pre-filled into the topic for the drain benchmark (same count for 1 and 2 workers)."""
    freshness_rate: float
    """track_event calls per second during the freshness benchmark."""
    freshness_seconds: float
    reads_events: int
    """Events loaded for the reads benchmark, across `reads_projects` projects over 30 days."""
    reads_projects: int
    reads_big_share: float
    """Share of the events that the one big project holds (the issue: 3 M of 10 M)."""
    reads_days: int
    reads_min_samples: int
    """Timed calls per read case at least (after warm-up), on each side (gateway, plain SQL); a case
    slower than reads_case_budget_s / 3 per call stops at 3."""
    reads_max_samples: int
    reads_case_budget_s: float
    """A side of a read case stops sampling after this long, once it has reads_min_samples."""

    def describe(self) -> str:
        return (f"{self.preset}: http {self.http_runs}×{self.http_seconds:g}s @ {self.connections} conns; "
                f"drain {self.drain_events:,} events; freshness {self.freshness_rate:g}/s × {self.freshness_seconds:g}s; "
                f"reads {self.reads_events:,} events / {self.reads_projects} projects / {self.reads_days} days "
                f"(big project {self.reads_big_share:.0%})")


PRESETS: Final[dict[str, Scale]] = {
    "quick": Scale("quick", http_seconds=2, http_runs=1, http_warmup_seconds=1, connections=50, drain_events=20_000,
                   freshness_rate=500, freshness_seconds=5, reads_events=200_000, reads_projects=100, reads_big_share=0.3,
                   reads_days=30, reads_min_samples=3, reads_max_samples=5, reads_case_budget_s=3),
    "default": Scale("default", http_seconds=5, http_runs=3, http_warmup_seconds=2, connections=50, drain_events=200_000,
                     freshness_rate=1000, freshness_seconds=20, reads_events=5_000_000, reads_projects=100,
                     reads_big_share=0.3, reads_days=30, reads_min_samples=5, reads_max_samples=30, reads_case_budget_s=6),
    "full": Scale("full", http_seconds=10, http_runs=5, http_warmup_seconds=3, connections=50, drain_events=1_000_000,
                  freshness_rate=1000, freshness_seconds=60, reads_events=10_000_000, reads_projects=100, reads_big_share=0.3,
                  reads_days=30, reads_min_samples=10, reads_max_samples=50, reads_case_budget_s=30),
}

ENV_OVERRIDES: Final[dict[str, str]] = {
    "BENCH_HTTP_SECONDS": "http_seconds",
    "BENCH_HTTP_RUNS": "http_runs",
    "BENCH_CONNECTIONS": "connections",
    "BENCH_DRAIN_EVENTS": "drain_events",
    "BENCH_FRESHNESS_RATE": "freshness_rate",
    "BENCH_FRESHNESS_SECONDS": "freshness_seconds",
    "BENCH_READS_EVENTS": "reads_events",
    "BENCH_READS_PROJECTS": "reads_projects",
}


def scale_for(preset: str, overrides: Mapping[str, float | int | None], environ: Mapping[str, str]) -> Scale:
    """The preset, then BENCH_* variables, then explicit overrides (None = not given)."""
    scale = PRESETS[preset]
    changes: dict[str, float | int] = {}
    for var, attr in ENV_OVERRIDES.items():
        if environ.get(var, "").strip():
            changes[attr] = _typed(scale, attr, environ[var])
    for attr, value in overrides.items():
        if value is not None:
            changes[attr] = _typed(scale, attr, value)
    if not changes:
        return scale
    return dataclasses.replace(scale, **changes)  # type: ignore[arg-type]


def _typed(scale: Scale, attr: str, value: object) -> float | int:
    current = getattr(scale, attr)
    try:
        return int(float(str(value))) if isinstance(current, int) else float(str(value))
    except ValueError:
        raise SystemExit(f"bench: {attr} must be a number, got {value!r}") from None

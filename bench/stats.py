"""Percentiles, medians and ratios. Pure: no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation between closest ranks; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ratio(value: float, reference: float) -> float:
    """value / reference; NaN when the reference is 0 or missing."""
    if not reference or math.isnan(reference) or math.isnan(value):
        return math.nan
    return value / reference


def fmt(value: float, digits: int = 0) -> str:
    """A number for a summary line or a table cell ('n/a' for NaN), thousands separated."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float) -> str:
    """Two decimals; two significant digits below 0.1 (so 0.0013× does not read as 0.00×)."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.2g}×"


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds with a sensible precision."""
    if seconds is None or math.isnan(seconds):
        return "n/a"
    ms = seconds * 1000
    return f"{ms:.1f} ms" if ms < 100 else f"{ms:,.0f} ms"

"""Per-key token-bucket rate limit (off when the rate is 0)."""

from __future__ import annotations

import time


class RateLimiter:
    def __init__(self, rate_per_s: float, burst: int, max_keys: int = 100_000) -> None:
        self._rate = rate_per_s
        self._burst = float(burst)
        self._max_keys = max_keys
        self._buckets: dict[object, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def retry_after_s(self, key: object) -> float:
        """0 when the request may proceed (and is counted), else seconds until a token is free."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            if len(self._buckets) >= self._max_keys and key not in self._buckets:
                self._buckets.clear()  # NOTE: crude bound; a full table only forgets partial buckets
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self._rate

"""The per-key token bucket."""

from __future__ import annotations

import pytest
from millimetric_gateway import ratelimit
from millimetric_gateway.ratelimit import RateLimiter


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [100.0]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: clock[0])
    return clock


def test_off_when_the_rate_is_zero(now: list[float]) -> None:
    limiter = RateLimiter(0, 1)
    assert not limiter.enabled
    assert all(limiter.retry_after_s("k") == 0 for _ in range(1000))


def test_burst_then_one_per_interval(now: list[float]) -> None:
    limiter = RateLimiter(2, 3)
    assert [limiter.retry_after_s("k") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after_s("k") == pytest.approx(0.5)
    assert limiter.retry_after_s("other") == 0  # buckets are per key
    now[0] += 0.5
    assert limiter.retry_after_s("k") == 0
    assert limiter.retry_after_s("k") > 0
    now[0] += 10
    assert [limiter.retry_after_s("k") for _ in range(3)] == [0, 0, 0]  # refills up to the burst, not beyond
    assert limiter.retry_after_s("k") > 0

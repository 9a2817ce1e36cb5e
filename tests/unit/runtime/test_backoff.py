"""Retries with backoff: the waits, giving up on what is not retryable, and stopping."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from millimetric_runtime.backoff import Backoff, pause, retry


def test_delays_double_up_to_the_cap() -> None:
    assert list(itertools.islice(Backoff(base_s=0.1, cap_s=1.0).delays(), 6)) == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    assert Backoff(base_s=1, cap_s=10).delay(10_000) == 10  # no overflow, however long the outage


def test_jitter_only_shortens_a_wait() -> None:
    policy = Backoff(base_s=1.0, cap_s=1.0, jitter=0.5)
    waits = [policy.delay(1) for _ in range(200)]
    assert all(0.5 <= w <= 1.0 for w in waits) and len(set(waits)) > 1


async def test_retry_returns_the_first_success_after_retryable_failures() -> None:
    attempts: list[int] = []
    seen: list[str] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise OSError("refused")
        return "ok"

    result = await retry(flaky, policy=Backoff(base_s=0.001, cap_s=0.001), retryable=lambda e: isinstance(e, OSError),
                         on_retry=lambda e, d: seen.append(type(e).__name__))
    assert result == "ok" and len(attempts) == 3 and seen == ["OSError", "OSError"]


async def test_a_failure_that_is_not_retryable_propagates_at_once() -> None:
    async def broken() -> None:
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        await retry(broken, policy=Backoff(), retryable=lambda e: isinstance(e, OSError), on_retry=lambda e, d: None)


async def test_a_stop_ends_the_retries_and_the_wait() -> None:
    stop = asyncio.Event()

    async def down() -> None:
        stop.set()
        raise OSError("refused")

    assert await retry(down, policy=Backoff(base_s=3600), retryable=lambda e: True, on_retry=lambda e, d: None, stop=stop) is None
    assert await pause(3600, stop) is True


async def test_a_cancelled_pause_stays_cancelled() -> None:
    task = asyncio.create_task(pause(3600, asyncio.Event()))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

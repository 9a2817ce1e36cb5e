"""Retries with exponential backoff, written once.

`Backoff` is the policy as data (base, cap, factor, jitter), as settings name it; `delays()` yields
the waits; `retry` runs an operation until it succeeds, the failure is not retryable, or a stop
event is set. Every "connect and keep trying" loop of the services is built from these.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    base_s: float = 0.2
    cap_s: float = 5.0
    factor: float = 2.0
    jitter: float = 0.0
    """Each wait is shortened by up to this fraction at random, so many clients do not retry in step."""

    def delay(self, attempt: int) -> float:
        """The wait before retry number `attempt` (1, 2, …): base·factor^(attempt-1), capped, jittered."""
        delay = min(self.base_s * self.factor ** min(max(0, attempt - 1), 64), self.cap_s)
        return delay * (1 - random.random() * self.jitter) if self.jitter else delay

    def delays(self) -> Iterator[float]:
        """delay(1), delay(2), … forever."""
        attempt = 1
        while True:
            yield self.delay(attempt)
            attempt += 1


async def pause(delay_s: float, stop: asyncio.Event | None = None) -> bool:
    """Wait `delay_s`, or less if `stop` is set meanwhile; True when stopped."""
    if stop is None:
        await asyncio.sleep(delay_s)
        return False
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that arrives
    # as the wait ends, leaving the caller's task running after it was cancelled.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(delay_s):
            await stop.wait()
    return stop.is_set()


async def retry(operation: Callable[[], Awaitable[T]], *, policy: Backoff, retryable: Callable[[BaseException], bool],
                on_retry: Callable[[BaseException, float], None], stop: asyncio.Event | None = None) -> T | None:
    """`await operation()` until it succeeds (its result) or `stop` is set (None). A failure that is
    not `retryable` propagates; a retryable one calls `on_retry(exc, delay_s)` (log it there) and
    waits before the next attempt."""
    for delay in policy.delays():
        if stop is not None and stop.is_set():
            return None
        try:
            return await operation()
        except Exception as exc:
            if not retryable(exc):
                raise
            on_retry(exc, delay)
        if await pause(delay, stop):
            return None
    raise AssertionError("unreachable: delays() never ends")

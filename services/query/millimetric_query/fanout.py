"""Account-level reads: run per-project work concurrently, bounded, under one deadline, and merge.

A part that fails or misses the deadline fails the whole call with an error naming the project(s):
never a silently partial answer. Errors that concern the caller's arguments (ProtocolError) pass
through unchanged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from millimetric_protocol.errors import ErrorName, ProtocolError

from .scope import Project

logger = logging.getLogger(__name__)
T = TypeVar("T")


async def fan_out(projects: tuple[Project, ...], work: Callable[[Project], Awaitable[T]], *,
                  concurrency: int, deadline_s: float) -> list[T]:
    """`work(project)` for every project, at most `concurrency` at once; results in project order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(project: Project) -> T:
        async with gate:
            return await work(project)

    tasks = [asyncio.create_task(one(p)) for p in projects]
    done, pending = await asyncio.wait(tasks, timeout=deadline_s)
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
        late = [p.slug for p, t in zip(projects, tasks) if t in pending]
        raise ProtocolError(ErrorName.TOOL_FAILED, f"timed out after {deadline_s:g}s waiting for project(s) {', '.join(late[:10])}",
                            {"retryable": True, "projects": late[:50]})
    failed = [(p, t.exception()) for p, t in zip(projects, tasks) if t.exception() is not None]
    if failed:
        for _, exc in failed:
            if isinstance(exc, ProtocolError):
                raise exc
        project, exc = failed[0]
        logger.error("part for project %s failed: %r", project.slug, exc)
        raise ProtocolError(ErrorName.TOOL_FAILED, f"the query for project {project.slug} failed",
                            {"retryable": True, "projects": [p.slug for p, _ in failed][:50]}) from exc
    return [t.result() for t in tasks]

"""Fixtures shared by integration tests: a raw HTTP client, and for the analytics model and isolation
tests the seeded dataset (loaded once through the real pipeline) and MCP clients kept open for the
synchronous hypothesis tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio

from tests.support.datagen import Dataset, McpRunner, load_dataset
from tests.support.stack import Stack


@pytest.fixture(scope="module")
def data(stack: Stack) -> Dataset:
    return load_dataset(stack)


@pytest.fixture(scope="module")
def mcp() -> Iterator[McpRunner]:
    runner = McpRunner()
    yield runner
    runner.close()


class World:
    """The stack, the dataset and the clients in one fixture that hypothesis prints in one line
    (it prints every fixture of a failing example; the stack's would be its whole environment)."""

    def __init__(self, stack: Stack, data: Dataset, mcp: McpRunner) -> None:
        self.stack, self.data, self.mcp = stack, data, mcp

    def __repr__(self) -> str:
        return f"<World: {self.data!r}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@pytest.fixture(scope="module")
def world(stack: Stack, data: Dataset, mcp: McpRunner) -> World:
    return World(stack, data, mcp)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One HTTP client per test module, for raw requests to the stack."""
    async with aiohttp.ClientSession() as session:
        yield session

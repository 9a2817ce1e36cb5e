"""HTTP client for the query service's internal read API (types from `millimetric_protocol.reads`).

A query service that cannot be reached is a retryable `tool_failed`; the outage is logged once when
it starts and once when it ends (not per request)."""

from __future__ import annotations

import logging

import aiohttp
import msgspec
from millimetric_protocol.errors import ErrorName, ProtocolError
from millimetric_protocol.reads import READ_PATH, ReadError, ReadRequest, ReadResponse, ReadResult
from millimetric_runtime.dependencies import Outage, is_unavailable

logger = logging.getLogger(__name__)
_decoder = msgspec.json.Decoder(ReadResponse)
_encoder = msgspec.json.Encoder()


class QueryClient:
    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._url = base_url + READ_PATH
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self.outage = Outage("query service", logger, "reads answer a retryable tool_failed")

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=self._timeout, connector=aiohttp.TCPConnector(limit=200))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def read(self, request: ReadRequest) -> ReadResult:
        """Send one read; return its result or raise the ProtocolError the query service named.
        Transport failures become a retryable UNAVAILABLE (never a partial answer)."""
        assert self._session is not None
        try:
            async with self._session.post(
                self._url, data=_encoder.encode(request),
                headers={"Content-Type": "application/json", "X-Request-Id": request.request_id},
            ) as resp:
                body = await resp.read()
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            self.outage.failed(exc)
            raise ProtocolError(ErrorName.TOOL_FAILED, "query service unavailable", {"retryable": True}) from exc
        self.outage.recovered()
        try:
            answer = _decoder.decode(body)
        except msgspec.DecodeError as exc:
            logger.error("query service answered HTTP %s with an undecodable body (request %s)", resp.status, request.request_id)
            raise ProtocolError(ErrorName.TOOL_FAILED, "query failed", {"request_id": request.request_id}) from exc
        if isinstance(answer.error, ReadError):
            try:
                name = ErrorName(answer.error.name)
            except ValueError:
                name = ErrorName.TOOL_FAILED
            data = dict(answer.error.data or {})
            if name is ErrorName.TOOL_FAILED:
                data["request_id"] = request.request_id
            raise ProtocolError(name, answer.error.detail, data)
        if not isinstance(answer.result, ReadResult):
            raise ProtocolError(ErrorName.TOOL_FAILED, "query failed", {"request_id": request.request_id})
        return answer.result

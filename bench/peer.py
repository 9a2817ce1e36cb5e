"""Benchmark 2, peer: the same read call through our gateway and through a server built on the
official MCP Python SDK (bench.servers.peer), over the same PostgreSQL data.

The call is handshake-era raw JSON-RPC `tools/call query_events {"limit": 1}`, POSTed by wrk (one
thread, 50 connections, closed loop) with the headers each server needs: both get MCP-Protocol-
Version and the Accept an MCP client sends; the gateway also gets an rk_ key (the peer has no auth).
Our path is gateway → query service → PostgreSQL; the peer's is SDK → PostgreSQL. Data: 50 000
demo events of one project over the last 7 days (the tool's default window). Runs alternate after a
warm-up of each; medians are reported.
"""

from __future__ import annotations

import asyncio
import socket
import sys
import time

import aiohttp
from millimetric.embedded import free_port

from . import rpc
from .config import Scale
from .dataset import ProjectSpec, load
from .infra import Infra, cpu_seconds, spawn
from .loadgen import HttpLoad, run_http_load
from .results import Outcome, Target
from .stats import fmt, fmt_ms, fmt_ratio, median, ratio
from .tenants import create_account

TARGET_RATIO = 5.0
EVENTS = 50_000
BODY = rpc.tool_call("query_events", {"limit": 1})


def wait_port(port: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port} after {timeout_s}s")


async def _same_answer(gateway: tuple[str, str], peer_url: str) -> None:
    """Both servers must answer the call with the same event before we time them."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        ours = rpc.result_of((await rpc.post(http, gateway[0], BODY, gateway[1]))[0])
        theirs_message, _ = await rpc.post(http, peer_url, BODY, None)
        theirs = rpc.result_of(theirs_message)
    our_ids = [r["event_id"] for r in ours["rows"]]
    rows = theirs.get("result", theirs.get("rows", []))
    their_ids = [r["event_id"] for r in rows]
    if our_ids != their_ids or not our_ids:
        raise RuntimeError(f"the gateway and the peer answer differently: {our_ids} vs {their_ids}")


async def run(infra: Infra, scale: Scale) -> Outcome:
    dsn = await infra.database("bench_peer")
    topic = await infra.topic("peer", partitions=1)
    account = await create_account(dsn, projects=1)
    project = account.projects[0]
    await load(dsn, [ProjectSpec(project.project_id, project.domain, EVENTS, seed=5)], days=7)
    stack = infra.stack(dsn, topic)
    stack.start_serving(ingest_workers=0)
    peer_port = free_port()
    peer = spawn("peer", [sys.executable, "-m", "bench.servers.peer", str(peer_port), dsn, str(project.project_id)],
                 stack.env, infra.log_dir)
    try:
        await asyncio.to_thread(wait_port, peer_port)
        peer_url = f"http://127.0.0.1:{peer_port}/mcp"
        await _same_answer((stack.mcp_url, project.rk), peer_url)
        sides = {"gateway": (stack.mcp_url, rpc.headers(project.rk)), "peer": (peer_url, rpc.headers(None))}

        def load_side(side: str, seconds: float) -> HttpLoad:
            url, headers = sides[side]
            return run_http_load(url, [BODY], headers, "event_id", connections=scale.connections, seconds=seconds)

        for side in sides:
            await asyncio.to_thread(load_side, side, scale.http_warmup_seconds)
        # CPU per request of our two processes (gateway + query) and of the peer's one; PostgreSQL's
        # share is left out of both.
        pids = {"gateway": [p.pid for p in stack.services if p.name in ("gateway", "query")], "peer": [peer.pid]}
        cpu_per_request: dict[str, list[float]] = {side: [] for side in sides}
        runs: dict[str, list[HttpLoad]] = {side: [] for side in sides}
        for _ in range(scale.http_runs):
            for side in sides:
                before = sum(cpu_seconds(pid) for pid in pids[side])
                result = await asyncio.to_thread(load_side, side, scale.http_seconds)
                if result.requests:
                    cpu_per_request[side].append((sum(cpu_seconds(pid) for pid in pids[side]) - before) / result.requests)
                runs[side].append(result)
    finally:
        peer.stop()
        stack.stop_all()

    def med(side: str, attr: str) -> float:
        return median([getattr(r, attr) for r in runs[side]])

    ours, theirs = med("gateway", "rps"), med("peer", "rps")
    r = ratio(ours, theirs)
    errors = {side: sum(x.errors for x in runs[side]) for side in runs}
    cpu_us = {side: median(v) * 1e6 for side, v in cpu_per_request.items()}
    summary = (f"peer: gateway {fmt(ours)} req/s (p50 {fmt_ms(med('gateway', 'p50_s'))}, p99 {fmt_ms(med('gateway', 'p99_s'))}) "
               f"vs MCP Python SDK {fmt(theirs)} req/s (p50 {fmt_ms(med('peer', 'p50_s'))}, p99 {fmt_ms(med('peer', 'p99_s'))}) "
               f"= {fmt_ratio(r)} [target ≥ {TARGET_RATIO:g}×]; CPU per request {fmt(cpu_us['gateway'])} µs (gateway+query) vs "
               f"{fmt(cpu_us['peer'])} µs; query_events limit 1; errors {errors['gateway']}/{errors['peer']}; "
               f"{runs['gateway'][0].tool}, {scale.connections} conns, median of {scale.http_runs}×{scale.http_seconds:g}s")
    notes = []
    for side, n in errors.items():
        if n:
            notes.append(f"{side}: {n} errors, e.g. {next((x.sample_error for x in runs[side] if x.sample_error), '')!r}")
    columns = {
        "gateway req/s": fmt(ours), "gateway p50": fmt_ms(med("gateway", "p50_s")), "gateway p99": fmt_ms(med("gateway", "p99_s")),
        "SDK req/s": fmt(theirs), "SDK p50": fmt_ms(med("peer", "p50_s")), "SDK p99": fmt_ms(med("peer", "p99_s")),
        "ratio": fmt_ratio(r), "CPU µs/req ours/SDK": f"{fmt(cpu_us['gateway'])} / {fmt(cpu_us['peer'])}",
        "errors": f"{errors['gateway']}/{errors['peer']}",
        "tool": f"{runs['gateway'][0].tool} {scale.connections}c {scale.http_runs}×{scale.http_seconds:g}s",
    }
    return Outcome(
        name="peer", summary=summary, columns=columns, notes=notes,
        targets=[Target("peer ≥ 5× the MCP Python SDK server", r >= TARGET_RATIO if r == r else None, fmt_ratio(r))],
        description=("`tools/call query_events {limit: 1}` (raw JSON-RPC, handshake era) through our gateway (rk_ key; "
                     "gateway → query → PostgreSQL) vs a server on the official MCP Python SDK (`MCPServer`, streamable "
                     "HTTP, stateless, JSON responses, uvicorn defaults; asyncpg over the same data). Target: ≥ 5×."),
    )

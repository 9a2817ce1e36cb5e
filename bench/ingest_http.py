"""Benchmark 1, ingest_http: `track_event` through the gateway vs a bare msgspec handler.

wrk (one thread, 50 connections, closed loop) POSTs handshake-era `tools/call track_event` bodies
with realistic arguments from `millimetric.demodata.generate` (no event_id, a fresh visitor id per
request: every request is a new event). The gateway answers only after the broker acknowledged
(acks=all). The whole pipeline runs meanwhile, as in `millimetric dev`: gateway, query and one
ingest worker writing PostgreSQL, so the figure is what the machine does while also storing the
events; after each gateway run the benchmark waits until ingest has stored that run's events, so
no run shares the CPU with an earlier run's backlog. The reference is `bench.servers.bare` on the
same bodies. Runs alternate (gateway, bare, gateway, …) after a warm-up of each; the medians are
reported, with the server process's CPU time per request (contention-independent). Peak RSS of each
service is sampled during the measured runs (the memory benchmark's "under benchmark 1" columns).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import logging
import sys
import time
from pathlib import Path

import aiohttp
from millimetric.demodata import generate
from millimetric.embedded import free_port

from . import rpc
from .config import Scale
from .infra import Infra, PeakRss, cpu_seconds, spawn, wait_for_count, wait_http_ready
from .loadgen import VISITOR_MARK, HttpLoad, run_http_load
from .results import Outcome, Target
from .stats import fmt, fmt_ms, fmt_ratio, median, ratio

logger = logging.getLogger(__name__)

TARGET_RATIO = 0.5
BODIES = 400
DRAIN_WAIT_S = 120.0


def track_bodies(domain: str, count: int = BODIES) -> list[str]:
    """`tools/call track_event` bodies with demo-data arguments, minus event_id and timestamp (the
    gateway assigns both), with the visitor id left as VISITOR_MARK for the load generator."""
    bodies = []
    for i, args in enumerate(generate(days=1, events=count, domain=domain, seed=11)):
        args.pop("event_id")
        args.pop("timestamp")
        args["anonymous_id"] = VISITOR_MARK
        bodies.append(rpc.tool_call("track_event", args, request_id=i + 1))
    return bodies


def gateway_uses_uvloop() -> bool:
    """Whether the gateway runs on uvloop (then the bare handler does too, to compare like with like)."""
    spec = importlib.util.find_spec("millimetric_gateway")
    if spec is None or spec.origin is None or importlib.util.find_spec("uvloop") is None:
        return False
    return any("uvloop" in p.read_text(errors="replace") for p in Path(spec.origin).parent.rglob("*.py"))


async def _check_one(url: str, body: str, key: str | None) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        for attempt in range(50):  # the producer may still be connecting right after /readyz
            message, _ = await rpc.post(http, url, body.replace(VISITOR_MARK, "bench-check"), key)
            try:
                data = rpc.result_of(message)
                text = json.dumps(data)
                if "accepted" in text:
                    return
            except rpc.CallFailed:
                if attempt == 49:
                    raise
            await asyncio.sleep(0.2)


def _summary_load(load: HttpLoad) -> str:
    return f"{fmt(load.rps)} req/s p50 {fmt_ms(load.p50_s)} p99 {fmt_ms(load.p99_s)}"


async def run(infra: Infra, scale: Scale) -> Outcome:
    dsn = await infra.database("bench_ingest_http")
    topic = await infra.topic("ingest_http")
    from .tenants import create_account

    account = await create_account(dsn, projects=1)
    project = account.projects[0]
    stack = infra.stack(dsn, topic)
    stack.start_serving(ingest_workers=1)
    uvloop = gateway_uses_uvloop()
    bare_port = free_port()
    bare = spawn("bare", [sys.executable, "-m", "bench.servers.bare", str(bare_port)] + (["--uvloop"] if uvloop else []),
                 stack.env, infra.log_dir)
    try:
        bare_url = f"http://127.0.0.1:{bare_port}/mcp"
        wait_http_ready(f"http://127.0.0.1:{bare_port}/readyz", process=bare)
        bodies = track_bodies(project.domain)
        sides = {
            "gateway": (stack.mcp_url, rpc.headers(project.sk)),
            "bare": (bare_url, rpc.headers(project.sk)),  # same headers; the bare handler ignores them
        }
        await _check_one(stack.mcp_url, bodies[0], project.sk)
        await _check_one(bare_url, bodies[0], None)

        def load(side: str, seconds: float) -> HttpLoad:
            url, headers = sides[side]
            return run_http_load(url, bodies, headers, "accepted", connections=scale.connections, seconds=seconds)

        acked = 1  # the check above
        server_pid = {"gateway": next(p.pid for p in stack.services if p.name == "gateway"), "bare": bare.pid}
        cpu_per_request: dict[str, list[float]] = {side: [] for side in sides}

        async def measure(side: str, seconds: float) -> HttpLoad:
            nonlocal acked
            cpu_before = cpu_seconds(server_pid[side])
            result = await asyncio.to_thread(load, side, seconds)
            if result.requests:
                cpu_per_request[side].append((cpu_seconds(server_pid[side]) - cpu_before) / result.requests)
            logger.info("%s: %.0f req/s over %.1fs, %d errors", side, result.rps, result.seconds, result.errors)
            if side == "gateway":
                # Let ingest store the backlog before the next run, so the reference never shares the
                # CPU with the gateway's leftovers (and the gateway never with its own earlier run).
                acked += result.requests - result.errors
                began = time.monotonic()
                stored, _ = await wait_for_count(dsn, acked, timeout_s=DRAIN_WAIT_S)
                logger.info("ingest stored the backlog (%d of %d) in %.1fs", stored, acked, time.monotonic() - began)
            return result

        for side in sides:
            await measure(side, scale.http_warmup_seconds)
        runs: dict[str, list[HttpLoad]] = {side: [] for side in sides}
        with PeakRss(stack.pids()) as rss:
            for _ in range(scale.http_runs):
                for side in sides:
                    runs[side].append(await measure(side, scale.http_seconds))
    finally:
        bare.stop()
        stack.stop_all()

    def med(side: str, attr: str) -> float:
        return median([getattr(r, attr) for r in runs[side]])

    gw_rps, bare_rps = med("gateway", "rps"), med("bare", "rps")
    r = ratio(gw_rps, bare_rps)
    errors = sum(x.errors for x in runs["gateway"])
    bare_errors = sum(x.errors for x in runs["bare"])
    peaks = rss.mib()
    mem = " ".join(f"{name} {mib:.0f}" for name, mib in sorted(peaks.items()))
    tool = runs["gateway"][0].tool
    cpu_us = {side: median(v[-scale.http_runs:]) * 1e6 for side, v in cpu_per_request.items()}
    summary = (f"ingest_http: gateway {fmt(gw_rps)} req/s (p50 {fmt_ms(med('gateway', 'p50_s'))}, p99 "
               f"{fmt_ms(med('gateway', 'p99_s'))}) vs bare {fmt(bare_rps)} req/s (p50 {fmt_ms(med('bare', 'p50_s'))}, p99 "
               f"{fmt_ms(med('bare', 'p99_s'))}) = {fmt_ratio(r)} [target ≥ {TARGET_RATIO}×]; server CPU per request "
               f"{fmt(cpu_us['gateway'])} µs vs {fmt(cpu_us['bare'])} µs; {errors} errors; "
               f"peak RSS MiB: {mem}; {tool}, {scale.connections} conns, median of {scale.http_runs}×{scale.http_seconds:g}s")
    notes = []
    if errors or bare_errors:
        notes.append(f"errors: gateway {errors} (e.g. {next((x.sample_error for x in runs['gateway'] if x.sample_error), '')!r}), "
                     f"bare {bare_errors}")
    if tool != "wrk":
        notes.append("wrk not installed: the aiohttp load generator ran, which may be slower than the bare handler")
    columns = {
        "gateway req/s": fmt(gw_rps), "gateway p50": fmt_ms(med("gateway", "p50_s")), "gateway p99": fmt_ms(med("gateway", "p99_s")),
        "bare req/s": fmt(bare_rps), "bare p50": fmt_ms(med("bare", "p50_s")), "bare p99": fmt_ms(med("bare", "p99_s")),
        "ratio": fmt_ratio(r), "CPU µs/req gateway/bare": f"{fmt(cpu_us['gateway'])} / {fmt(cpu_us['bare'])}",
        "errors": str(errors),
        **{f"RSS {name} MiB": f"{mib:.0f}" for name, mib in sorted(peaks.items())},
        "tool": f"{tool} {scale.connections}c {scale.http_runs}×{scale.http_seconds:g}s",
    }
    return Outcome(
        name="ingest_http", summary=summary, columns=columns, notes=notes,
        data={"rss_mib": peaks},
        targets=[Target("ingest_http ≥ 0.5× bare handler", r >= TARGET_RATIO if r == r else None, fmt_ratio(r))],
        description=("`track_event` through the gateway (broker ack included; gateway, query and one ingest worker "
                     "running) vs a bare aiohttp handler that only msgspec-decodes the same JSON-RPC body. "
                     "Target: ratio ≥ 0.5×. RSS = peak resident memory of each service during the measured runs."),
    )

"""Benchmark 4, freshness: how long after `track_event` is acknowledged `query_events` returns it.

One process (`python -m bench.loadgen rate`) sends `track_event` at a steady `freshness_rate` per
second (open loop: the schedule never waits for answers) for `freshness_seconds`; every 20th event
is a probe (event name `bench_probe`, its own event_id) whose acknowledgement time it records.
Another process (`python -m bench.loadgen probe`) calls `query_events {event: bench_probe, limit:
200}` every 10 ms and records when each probe id first appears. Freshness = first sighting −
acknowledgement (0 when the event was already visible when its acknowledgement arrived). The stack
runs with its default settings: gateway, query, one ingest worker. The poll interval (10 ms) plus
one query bounds the resolution.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from . import rpc
from .config import Scale
from .infra import Infra, wait_for_count
from .results import Outcome, Target
from .stats import fmt, fmt_ms, percentile
from .tenants import create_account

TARGET_P50_S = 0.100
TARGET_P99_S = 0.500
PROBE_EVERY = 20
POLL_MS = 10
SETTLE_S = 5.0
"""How long the probe keeps polling after the sender stopped, for the last probes to land."""


async def _send_one(url: str, key: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15)) as http:
        for _ in range(50):  # the producer may still be connecting right after /readyz
            message, _ = await rpc.post(http, url, rpc.tool_call("track_event", {"event": "warmup", "anonymous_id": "w"}), key)
            if "accepted" in json.dumps(message):
                return
            await asyncio.sleep(0.2)
    raise RuntimeError("track_event never accepted during warm-up")


async def run(infra: Infra, scale: Scale) -> Outcome:
    dsn = await infra.database("bench_freshness")
    topic = await infra.topic("freshness")
    account = await create_account(dsn, projects=1)
    project = account.projects[0]
    stack = infra.stack(dsn, topic)
    stack.start_serving(ingest_workers=1)
    tmp = Path(tempfile.mkdtemp(prefix="bench-fresh-", dir=infra.work_dir))
    acks_path, seen_path = tmp / "acks.json", tmp / "seen.json"
    try:
        await _send_one(stack.mcp_url, project.sk)
        # The ingest worker has joined its group and consumes once the warm-up event is stored.
        stored, _ = await wait_for_count(dsn, 1, timeout_s=60)
        if not stored:
            raise RuntimeError("the warm-up event was not stored within 60s")
        py = sys.executable
        probe = subprocess.Popen(
            [py, "-m", "bench.loadgen", "probe", "--url", stack.mcp_url, "--key", project.rk, "--interval-ms", str(POLL_MS),
             "--seconds", str(scale.freshness_seconds + SETTLE_S + 30), "--out", str(seen_path)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            sender = await asyncio.to_thread(
                subprocess.run,
                [py, "-m", "bench.loadgen", "rate", "--url", stack.mcp_url, "--key", project.sk, "--rate", str(scale.freshness_rate),
                 "--seconds", str(scale.freshness_seconds), "--probe-every", str(PROBE_EVERY), "--out", str(acks_path)],
                capture_output=True, text=True, timeout=scale.freshness_seconds + 120, check=False)
            if sender.returncode != 0:
                raise RuntimeError(f"sender failed: {sender.stderr[-2000:]}")
            await asyncio.sleep(SETTLE_S)
        finally:
            (Path(str(seen_path) + ".stop")).touch()
            probe_out, probe_err = await asyncio.to_thread(probe.communicate, timeout=60)
        if probe.returncode != 0:
            raise RuntimeError(f"probe failed: {probe_err[-2000:]}")
        sent = json.loads(sender.stdout.strip().splitlines()[-1])
        polled = json.loads(probe_out.strip().splitlines()[-1])
        acks: dict[str, float] = json.loads(acks_path.read_text())
        seen: dict[str, float] = json.loads(seen_path.read_text())
    finally:
        stack.stop_all()
        for path in (acks_path, seen_path):
            path.unlink(missing_ok=True)
        with_stop = Path(str(seen_path) + ".stop")
        with_stop.unlink(missing_ok=True)
        os.rmdir(tmp)
    delays = [max(0.0, seen[e] - t) for e, t in acks.items() if e in seen]
    missing = len(acks) - len(delays)
    p50, p99 = percentile(delays, 50), percentile(delays, 99)
    summary = (f"freshness: p50 {fmt_ms(p50)}, p99 {fmt_ms(p99)}, max {fmt_ms(max(delays, default=float('nan')))} from ack to "
               f"visible in query_events [targets ≤ 100 ms / ≤ 500 ms]; {len(delays)} probes, {missing} never seen; "
               f"sent {sent['sent']:,} at {fmt(sent['achieved_rate'])}/s ({sent['errors']} errors, track p50 "
               f"{fmt_ms(sent['p50_s'])}); {polled['polls']:,} polls every {POLL_MS} ms (p50 {fmt_ms(polled['poll_p50_s'])})")
    notes = []
    if sent["achieved_rate"] < 0.95 * scale.freshness_rate:
        notes.append(f"the sender fell behind: {fmt(sent['achieved_rate'])}/s of {scale.freshness_rate:g}/s "
                     f"({sent['late']} calls later than 50 ms after their slot)")
    if missing:
        notes.append(f"{missing} acknowledged probes were never returned by query_events within {SETTLE_S:g}s after the end")
    columns = {
        "rate": f"{fmt(sent['achieved_rate'])}/s for {scale.freshness_seconds:g}s", "p50": fmt_ms(p50), "p99": fmt_ms(p99),
        "max": fmt_ms(max(delays, default=float("nan"))), "probes": str(len(delays)), "missing": str(missing),
        "errors": str(sent["errors"]), "poll p50": fmt_ms(polled["poll_p50_s"]),
    }
    return Outcome(
        name="freshness", summary=summary, columns=columns, notes=notes,
        targets=[
            Target("freshness p50 ≤ 100 ms", None if not delays else p50 <= TARGET_P50_S, fmt_ms(p50)),
            Target("freshness p99 ≤ 500 ms", None if not delays else (p99 <= TARGET_P99_S and not missing), fmt_ms(p99)
                   + (f", {missing} probes never seen" if missing else "")),
        ],
        description=("Time from `track_event`'s acknowledgement until `query_events` returns the event, for 1 in 20 events "
                     "sent at a steady rate by one process while another polls every 10 ms (default stack settings, one "
                     "ingest worker). Targets: p50 ≤ 100 ms, p99 ≤ 500 ms."),
    )

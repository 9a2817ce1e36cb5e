"""`millimetric demo-data`: realistic synthetic traffic sent through the real ingest path.

Visits come from a realistic mix of sources (search, Facebook organic and paid, newsletters, direct,
referrals, AI assistants), land with the matching URL parameters or referrer, browse the site
(internal referrers, so later page views inherit the visit's source), and some convert through
signup → purchase. Visitors return over the days. Every event goes to the gateway as a
`track_event` call with an `sk_` key, exactly as an agent's would.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import aiohttp

# (weight, landing properties) — what a visit's first page view carries.
LANDINGS: Final[tuple[tuple[int, dict[str, str]], ...]] = (
    (30, {"referrer": "https://www.google.com/"}),
    (12, {"url_query": "utm_source=google&utm_medium=cpc&utm_campaign=brand&gclid=Cj0KCQ"}),
    (10, {"referrer": "https://l.facebook.com/l.php"}),
    (8, {"url_query": "utm_source=fb&utm_medium=paid_social&utm_campaign=spring_sale&fbclid=IwAR0abc"}),
    (4, {"url_query": "fbclid=IwAR0xyz"}),
    (8, {"url_query": "utm_source=newsletter&utm_medium=email&utm_campaign=weekly"}),
    (15, {}),
    (4, {"referrer": "https://news.ycombinator.com/item?id=1"}),
    (3, {"referrer": "https://chatgpt.com/"}),
    (3, {"referrer": "https://www.bing.com/"}),
    (3, {"referrer": "https://blog.partner.org/post/1"}),
)
PAGES: Final = ("/", "/pricing", "/docs", "/blog/launch", "/features", "/about")
PLANS: Final = (("free", 0), ("pro", 29), ("business", 99))


@dataclass(frozen=True)
class Target:
    url: str
    key: str
    domain: str


def _pick(rng: random.Random) -> dict[str, str]:
    total = sum(w for w, _ in LANDINGS)
    r = rng.uniform(0, total)
    for weight, landing in LANDINGS:
        r -= weight
        if r <= 0:
            return landing
    return LANDINGS[-1][1]


def generate(*, days: int, events: int, domain: str, seed: int = 7, now: datetime | None = None) -> Iterator[dict[str, Any]]:
    """`track_event` arguments (with timestamp and event_id), `events` of them, over the last `days` days."""
    rng = random.Random(seed)
    now = now or datetime.now(timezone.utc)
    start = now - timedelta(days=days)
    visitors = [f"anon-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}" for _ in range(max(1, events // 6))]
    made = 0
    while made < events:
        visitor = rng.choice(visitors)
        # Busier in the (UTC) afternoon; uniform over the days.
        day = start + timedelta(days=rng.uniform(0, days))
        at = day.replace(hour=min(23, max(0, int(rng.gauss(15, 4)))), minute=rng.randrange(60), second=rng.randrange(60))
        at = min(max(at, start), now - timedelta(seconds=1))
        landing = _pick(rng)
        page = rng.choice(PAGES)
        query = landing.get("url_query")
        props: dict[str, Any] = {"url": f"https://{domain}{page}" + (f"?{query}" if query else ""), "path": page}
        if "referrer" in landing:
            props["referrer"] = landing["referrer"]
        steps = [("page_view", props)]
        for _ in range(rng.choice((0, 0, 1, 2, 3, 5))):
            nxt = rng.choice(PAGES)
            steps.append(("page_view", {"url": f"https://{domain}{nxt}", "path": nxt, "referrer": f"https://{domain}{page}"}))
            page = nxt
        if rng.random() < 0.12:
            plan, price = rng.choice(PLANS)
            steps.append(("signup", {"plan": plan, "referrer": f"https://{domain}{page}"}))
            if price and rng.random() < 0.35:
                steps.append(("purchase", {"plan": plan, "price": price, "currency": "USD", "referrer": f"https://{domain}/checkout"}))
        for name, properties in steps:
            if made >= events:
                return
            at = min(at + timedelta(seconds=rng.randint(5, 240)), now - timedelta(seconds=1))
            yield {"event": name, "anonymous_id": visitor, "timestamp": at.isoformat(), "properties": properties,
                   "event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4))}
            made += 1


def _progress(done: int, total: int, started: float, final: bool = False) -> None:
    width = 30
    filled = int(width * done / total) if total else width
    rate = done / max(time.monotonic() - started, 1e-9)
    end = "\n" if final else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} events, {rate:,.0f} events/s{end}")
    sys.stderr.flush()


async def send(target: Target, batch: Iterator[dict[str, Any]], total: int, *, concurrency: int = 32,
               show_progress: bool = True) -> tuple[int, float]:
    """POST every event as a track_event call; retry retryable errors. Returns (sent, seconds)."""
    queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=concurrency * 4)
    sent = 0
    started = time.monotonic()
    headers = {"Authorization": f"Bearer {target.key}", "Content-Type": "application/json", "Accept": "application/json"}

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal sent
        while (args := await queue.get()) is not None:
            body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "track_event", "arguments": args}})
            for attempt in range(10):
                async with http.post(target.url, data=body, headers=headers) as resp:
                    answer = await resp.json(content_type=None)
                error = answer.get("error") if isinstance(answer, dict) else {"data": {}}
                if not error:
                    break
                if not (error.get("data") or {}).get("retryable"):
                    raise RuntimeError(f"track_event refused: {error}")
                await asyncio.sleep(0.2 * (attempt + 1))
            else:
                raise RuntimeError("track_event kept failing with retryable errors")
            sent += 1

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
        workers = [asyncio.create_task(worker(http)) for _ in range(concurrency)]
        last = 0.0
        for args in batch:
            await queue.put(args)
            if show_progress and time.monotonic() - last > 0.5:
                _progress(sent, total, started)
                last = time.monotonic()
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    seconds = time.monotonic() - started
    if show_progress:
        _progress(sent, total, started, final=True)
    return sent, seconds


def target_from_dev_json(path: Path, slug: str) -> Target:
    """The gateway URL and an sk_ key for the project `slug`, from `millimetric dev`'s dev.json."""
    info = json.loads(path.read_text())
    for account in info["accounts"]:
        for project in account["projects"]:
            if project["slug"] == slug:
                if account["plan"] == "free":
                    raise SystemExit(f"project {slug!r} is on the free plan, which has no MCP access; pick another")
                domains = project.get("domains") or [f"{slug}.example"]
                return Target(info["mcp_url"], project["sk"], domains[0])
    slugs = [p["slug"] for a in info["accounts"] for p in a["projects"]]
    raise SystemExit(f"no project {slug!r} in {path}; known: {', '.join(slugs)}")

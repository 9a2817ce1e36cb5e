"""A fast loader of realistic events straight into PostgreSQL, through the ingest worker's own sink.

Events look like `millimetric demo-data`'s (its landing mix, pages and plans; visits that land with
UTM tags, click ids or a search/social referrer, browse the site — internal navigation carrying the
visit's attribution, as the ingest worker's session resolution gives it — and sometimes sign up and
buy), spread over `days` days with an afternoon peak. Attribution comes from the worker's own
`derive`, computed once per distinct landing and cached, so millions of events cost no more than a
few thousand `derive` calls. Event ids are UUIDv7 of the event's time, as the gateway assigns them.

Rows are written with `millimetric_ingest.sink.write_rows` — the same SQL, in the same kind of
transaction, that the ingest worker runs — in large batches, by one process per core (each
generates its share of the events and writes it on its own connection). So whatever the worker
maintains next to `events` (rollups, visitor sets) is filled here too, for as long as the worker
does it inside `write_rows`.
NOTE: if that maintenance moves out of `write_rows` (e.g. into the consumer), call it here as well.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import asyncpg
import msgspec
from millimetric.demodata import LANDINGS, PAGES, PLANS
from millimetric_ingest.attribution import Attribution, derive
from millimetric_ingest.sink import Row, write_rows
from millimetric_protocol.events import EVENT_MESSAGE_VERSION, EventContext, EventMessage, uuid7

logger = logging.getLogger(__name__)

BATCH_ROWS: Final = 5000
"""Rows per write_rows call (one transaction)."""
PART_EVENTS: Final = 250_000
"""A project is generated in parts of at most this many events (each its own seed, one visitor
pool per project) so the parts can be shared out evenly among the loader processes."""
_CONTEXT: Final = EventContext(ip="127.0.0.0", user_agent="bench/1.0")
_WEIGHTS: Final = tuple(w for w, _ in LANDINGS)
_INTERNAL_STEPS: Final = (0, 0, 1, 2, 3, 5)


@dataclass(frozen=True)
class ProjectSpec:
    project_id: uuid.UUID
    domain: str
    events: int
    seed: int
    visitors: int = 0
    """Size of the project's visitor pool (default: events / 6, as demo-data has it)."""
    visitor_prefix: str = ""

    def parts(self) -> list[ProjectSpec]:
        """This project as parts of at most PART_EVENTS events sharing one visitor pool."""
        visitors = self.visitors or max(1, self.events // 6)
        prefix = self.visitor_prefix or f"{self.seed:x}"
        count = max(1, -(-self.events // PART_EVENTS))
        sizes = [self.events // count + (1 if i < self.events % count else 0) for i in range(count)]
        return [ProjectSpec(self.project_id, self.domain, n, self.seed * 1000 + i, visitors, prefix)
                for i, n in enumerate(sizes)]


class _Attributions:
    """derive() once per distinct properties shape; inherit rows get their visit's values."""

    def __init__(self) -> None:
        self._cache: dict[tuple[Any, ...], Attribution] = {}

    def of(self, key: tuple[Any, ...], properties: dict[str, Any], domain: str) -> Attribution:
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = derive(properties, project_domains=(domain,))
        return found

    def inherited(self, own: Attribution, visit: Attribution) -> Attribution:
        key = ("inherit", id(own), id(visit))
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = msgspec.structs.replace(
                own, source=visit.source, medium=visit.medium, campaign=visit.campaign, channel=visit.channel,
                is_paid=visit.is_paid, explain=(*own.explain, "session value inherited"))
        return found


def rows_for(spec: ProjectSpec, *, days: int, end: datetime, attributions: _Attributions) -> Iterator[Row]:
    """`spec.events` rows for one project over the `days` days before `end`, visit by visit."""
    rng = random.Random(spec.seed)
    start = end - timedelta(days=days)
    span_s = days * 86400
    domain = spec.domain
    visitors = spec.visitors or max(1, spec.events // 6)
    prefix = spec.visitor_prefix or f"{spec.seed:x}"
    made = 0
    while made < spec.events:
        visitor = f"anon-{prefix}-{rng.randrange(visitors)}"
        day = start + timedelta(seconds=rng.randrange(span_s))
        at = day.replace(hour=min(23, max(0, int(rng.gauss(15, 4)))), minute=rng.randrange(60), second=rng.randrange(60))
        at = min(max(at, start), end - timedelta(seconds=300))
        landing_i = rng.choices(range(len(LANDINGS)), _WEIGHTS)[0]
        landing = LANDINGS[landing_i][1]
        page = rng.choice(PAGES)
        query = landing.get("url_query")
        props: dict[str, Any] = {"url": f"https://{domain}{page}" + (f"?{query}" if query else ""), "path": page}
        if "referrer" in landing:
            props["referrer"] = landing["referrer"]
        visit = attributions.of(("landing", landing_i, page, domain), props, domain)
        steps: list[tuple[str, dict[str, Any], Attribution]] = [("page_view", props, visit)]
        for _ in range(rng.choice(_INTERNAL_STEPS)):
            nxt = rng.choice(PAGES)
            p = {"url": f"https://{domain}{nxt}", "path": nxt, "referrer": f"https://{domain}{page}"}
            own = attributions.of(("internal", domain), p, domain)
            steps.append(("page_view", p, attributions.inherited(own, visit) if own.inherit else own))
            page = nxt
        user_id = None
        if rng.random() < 0.12:
            plan, price = rng.choice(PLANS)
            p = {"plan": plan, "referrer": f"https://{domain}{page}"}
            own = attributions.of(("signup", domain), p, domain)
            steps.append(("signup", p, attributions.inherited(own, visit) if own.inherit else own))
            user_id = f"user-{visitor}"
            if price and rng.random() < 0.35:
                p = {"plan": plan, "price": price, "currency": "USD", "referrer": f"https://{domain}/checkout"}
                own = attributions.of(("purchase", domain), p, domain)
                steps.append(("purchase", p, attributions.inherited(own, visit) if own.inherit else own))
        for name, properties, attribution in steps:
            if made >= spec.events:
                return
            at = min(at + timedelta(seconds=rng.randint(5, 240)), end - timedelta(seconds=1))
            ms = int(at.timestamp() * 1000)
            message = EventMessage(
                v=EVENT_MESSAGE_VERSION, event_id=uuid7(ms), project_id=spec.project_id,
                received_at=at + timedelta(milliseconds=50), timestamp=at, event=name, anonymous_id=visitor,
                user_id=user_id if name != "page_view" else None, properties=properties, context=_CONTEXT,
            )
            yield Row(message, attribution)
            made += 1


def _batches(specs: Sequence[ProjectSpec], days: int, end: datetime) -> Iterator[list[Row]]:
    attributions = _Attributions()
    batch: list[Row] = []
    for spec in specs:
        for row in rows_for(spec, days=days, end=end, attributions=attributions):
            batch.append(row)
            if len(batch) >= BATCH_ROWS:
                yield batch
                batch = []
    if batch:
        yield batch


async def _write(dsn: str, specs: Sequence[ProjectSpec], days: int, end: datetime) -> int:
    conn = await asyncpg.connect(dsn)
    written = 0
    try:
        # Only the loader's own transactions: a crash mid-load just means loading again.
        await conn.execute("SET synchronous_commit = off")
        for batch in _batches(specs, days, end):
            written += await write_rows(conn, batch)
    finally:
        await conn.close()
    return written


def _write_part(dsn: str, specs: list[ProjectSpec], days: int, end: datetime) -> int:
    """One loader process: generate `specs` and write them (runs in a child process)."""
    return asyncio.run(_write(dsn, specs, days, end))


def share_out(specs: Sequence[ProjectSpec], processes: int) -> list[list[ProjectSpec]]:
    """Every project's parts, dealt to `processes` lists with (nearly) equal event counts."""
    parts = sorted((p for s in specs for p in s.parts()), key=lambda p: -p.events)
    shares: list[list[ProjectSpec]] = [[] for _ in range(processes)]
    sizes = [0] * processes
    for part in parts:
        i = sizes.index(min(sizes))
        shares[i].append(part)
        sizes[i] += part.events
    return [s for s in shares if s]


async def load(dsn: str, specs: Sequence[ProjectSpec], *, days: int, end: datetime | None = None,
               processes: int | None = None) -> dict[str, float]:
    """Generate and write every project's events; then VACUUM ANALYZE events (as autovacuum would
    after a bulk load, so the first timed reads don't pay for hint bits). Returns timings."""
    end = end or datetime.now(UTC).replace(microsecond=0)
    total = sum(s.events for s in specs)
    processes = processes or max(1, min(os.cpu_count() or 1, 4))
    started = time.monotonic()
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        counts = await asyncio.gather(*(loop.run_in_executor(pool, _write_part, dsn, share, days, end)
                                        for share in share_out(specs, processes)))
    written = sum(counts)
    load_s = time.monotonic() - started
    conn = await asyncpg.connect(dsn)
    try:
        began = time.monotonic()
        await conn.execute("VACUUM (ANALYZE) events")
        vacuum_s = time.monotonic() - began
    finally:
        await conn.close()
    if written != total:
        raise RuntimeError(f"loaded {written} of {total} events (duplicate event ids?)")
    logger.info("loaded %d events in %.0fs (%.0f/s), vacuum %.0fs", total, load_s, total / load_s, vacuum_s)
    return {"events": total, "load_s": load_s, "rate": total / load_s, "vacuum_s": vacuum_s}

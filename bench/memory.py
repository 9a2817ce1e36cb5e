"""Benchmark 6, memory: peak RSS of each service under benchmark 1 (ingest_http: gateway, query and
one ingest worker while wrk drives track_event at 50 connections) and benchmark 3 (drain: each
ingest worker while it drains the pre-filled topic, alone and as one of two).

The samples are taken by those benchmarks (psutil, every 100 ms, the whole measured phase); this
one gathers them into one summary line and one row. Run alone, it runs both first.
"""

from __future__ import annotations

from collections.abc import Mapping

from .config import Scale
from .infra import Infra
from .results import Outcome


async def run(infra: Infra, scale: Scale, done: Mapping[str, Outcome] | None = None) -> Outcome:
    done = dict(done or {})
    if "ingest_http" not in done:
        from . import ingest_http

        done["ingest_http"] = await ingest_http.run(infra, scale)
    if "drain" not in done:
        from . import drain

        done["drain"] = await drain.run(infra, scale)
    http = done["ingest_http"].data["rss_mib"]
    one = done["drain"].data["rss_mib_1"]
    two = done["drain"].data["rss_mib_2"]
    columns = {
        "gateway (1)": f"{http.get('gateway', 0):.0f}",
        "query (1)": f"{http.get('query', 0):.0f}",
        "ingest (1)": f"{max((v for k, v in http.items() if k.startswith('ingest')), default=0):.0f}",
        "ingest, 1 worker (3)": f"{max(one.values(), default=0):.0f}",
        "ingest, each of 2 (3)": " / ".join(f"{v:.0f}" for _, v in sorted(two.items())),
    }
    summary = ("memory: peak RSS MiB under ingest_http: gateway {gateway (1)}, query {query (1)}, ingest {ingest (1)}; "
               "under drain: 1 worker {ingest, 1 worker (3)}, 2 workers {ingest, each of 2 (3)}").format(**columns)
    return Outcome(
        name="memory", summary=summary, columns={f"{k} MiB": v for k, v in columns.items()},
        description=("Peak resident memory (MiB, psutil every 100 ms) of each service during benchmark 1 (ingest_http) "
                     "and of each ingest worker during benchmark 3 (drain)."),
    )

"""Millimetric's benchmark suite (issue 6): `make bench`, or `python -m bench [NAME …] [--quick|--full]`.

Every benchmark starts real processes on 127.0.0.1 — the embedded PostgreSQL 18 server and the
Tansu broker (one of each per run; a fresh database and topic per benchmark), the services as
`python -m millimetric gateway|query|ingest` — and drives them from a separate process (wrk with a
generated Lua script, or an aiohttp client). Because the machines are shared and noisy, every
figure comes with a reference measured in the same run, alternating with it, and is reported as a
ratio next to the absolute numbers. Each benchmark prints one summary line and appends one row to
bench/RESULTS.md (date, machine, commit, preset, figures); the run ends with every target, met or
MISSED.

| name | what | reference | target |
| --- | --- | --- | --- |
| ingest_http | `track_event` req/s, p50/p99, 50 connections, broker ack included, whole pipeline running | bare aiohttp + msgspec handler (`bench.servers.bare`) | ≥ 0.5× |
| peer | `tools/call query_events {limit: 1}` req/s through the gateway | `MCPServer` of the official MCP Python SDK, streamable HTTP, stateless JSON (`bench.servers.peer`) | ≥ 5× |
| drain | events/s from a pre-filled topic into PostgreSQL, 1 and 2 ingest workers | COPY into a staging table + INSERT … ON CONFLICT DO NOTHING of the same rows | 1 worker ≥ 0.5× |
| freshness | ack → visible in `query_events`, p50/p99, at a steady 1 000 events/s | — | ≤ 100 ms / ≤ 500 ms |
| reads | p50/p95 of get_stats (count, uniques, by day × source,medium, ± compare), top_sources, a 3-step funnel, query_events pages, schema://events, compare_projects over 100 projects | the same answer by plain SQL over the raw events table (answers compared) | ≤ 100 ms; funnel ≤ 1 s; compare_projects ≤ 300 ms |
| memory | peak RSS of each service under ingest_http and drain | — | — |

Presets (bench/config.py; each size also a flag or BENCH_* variable):
- default (`make bench`, about 9 minutes on the 2-core machine): wrk 3 × 5 s per side; drain
  200 000 events; freshness 20 s at 1 000/s; reads 5 M events / 100 projects / 30 days, the big
  project 1.5 M — half the issue's 10 M: loading through the ingest sink runs at about 28 000
  events/s on 2 cores, so 10 M (about 6 minutes of loading, then reads whose plain-SQL references
  scan 3 M rows) does not fit in the 15-minute budget with other benchmarks and a margin for a
  shared machine. The output and RESULTS.md say when the dataset is scaled down.
- `--full`: the issue's sizes (reads 10 M with a 3 M project, drain 1 M); about 25 minutes.
- `--quick`: a smoke run of every benchmark in about 2 minutes.

Loading: the reads dataset goes through `millimetric_ingest.sink.write_rows` (bench.dataset), so
whatever the ingest worker maintains in that transaction (rollups) is filled too.
"""

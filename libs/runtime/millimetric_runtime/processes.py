"""The process supervisor used by `millimetric dev`, the tests and the benchmarks.

- `ServiceProcess`: one child process (a service, a broker, a reference server) in a session of its
  own, its output in a log file (or the terminal), stopped with SIGTERM and killed when it does not
  stop in time.
- `wait_http_ready` / `wait_http_ready_async`: poll a readiness URL until it answers 200, failing
  early, with the log's tail, when the process exits.
- `Supervisor`: restarts children that die, with backoff, and gives up (stopping everything) when
  one keeps dying; stops children in a given order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import aiohttp

from .backoff import Backoff, pause

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S: Final = 30.0
READY_TIMEOUT_S: Final = 60.0


def millimetric_command(service: str) -> list[str]:
    """The command line that runs one service of this installation, as containers run it."""
    return [sys.executable, "-m", "millimetric", service]


@dataclass
class ServiceProcess:
    """A child process. `log_path` None: it writes to this process's terminal."""

    name: str
    argv: list[str]
    env: Mapping[str, str]
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    restarts: list[float] = field(default_factory=list)

    def start(self) -> ServiceProcess:
        log = open(self.log_path, "ab") if self.log_path is not None else None  # noqa: SIM115 - the child owns it
        try:
            self.process = subprocess.Popen(
                self.argv, env=dict(self.env), stdout=log, stderr=subprocess.STDOUT if log else None,
                start_new_session=True,  # signals go to it on purpose only: the parent stops children in order
            )
        finally:
            if log is not None:
                log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def send(self, sig: int) -> None:
        if self.running:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = STOP_TIMEOUT_S) -> int | None:
        """Send `sig`, wait up to `timeout_s`, then kill. Returns the exit code (None if never started)."""
        if self.process is None:
            return None
        self.send(sig)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            logger.error("%s did not stop within %.0fs; killing it", self.name, timeout_s)
            self.process.kill()
            self.process.wait()
        return self.process.returncode

    def kill(self) -> int | None:
        return self.stop(signal.SIGKILL, timeout_s=STOP_TIMEOUT_S)

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]


def _exited(process: ServiceProcess | None, url: str) -> RuntimeError | None:
    if process is None or process.running or process.process is None:
        return None
    tail = process.log_tail()
    return RuntimeError(f"{process.name} exited with code {process.returncode} before {url} was ready"
                        + (f"\n--- last lines of {process.log_path}\n{tail}" if tail else ""))


def wait_http_ready(url: str, timeout_s: float = READY_TIMEOUT_S, process: ServiceProcess | None = None) -> None:
    """Poll `url` until it answers 200; raise early if `process` exits, and TimeoutError at the deadline."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if (exited := _exited(process, url)) is not None:
            raise exited
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as resp:
            if resp.status == 200:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{url} not ready within {timeout_s:.0f}s")


async def wait_http_ready_async(url: str, timeout_s: float, *, stop: asyncio.Event | None = None,
                                process: ServiceProcess | None = None) -> bool:
    """Poll `url` until it answers 200 (True); False at the deadline, when `stop` is set or `process` exits."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            if _exited(process, url) is not None:
                return False
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return True
            await asyncio.sleep(0.1)
    return False


class Supervisor:
    """Keeps children running: a child that dies is reported loudly and restarted with backoff; one
    that dies more than `max_restarts` times within `window_s` stops the whole group (`failure` says why)."""

    def __init__(self, children: Sequence[ServiceProcess], *, max_restarts: int = 5, window_s: float = 60.0,
                 backoff: Backoff = Backoff(base_s=0.5, cap_s=10.0)) -> None:
        self.children = list(children)
        self.stopping = asyncio.Event()
        self.failure: str | None = None
        self._max_restarts = max_restarts
        self._window_s = window_s
        self._backoff = backoff
        self._watchers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        for child in self.children:
            child.start()
        self._watchers = [asyncio.create_task(self._watch(child)) for child in self.children]

    async def _watch(self, child: ServiceProcess) -> None:
        while not self.stopping.is_set():
            while child.running:
                if await pause(0.2, self.stopping):
                    return
            code = child.returncode
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < self._window_s] + [now]
            if len(child.restarts) > self._max_restarts:
                self.failure = f"{child.name} exited with code {code} {len(child.restarts)} times within {self._window_s:.0f}s"
                logger.error("!!! %s; stopping the stack (see its log lines above)", self.failure)
                self.stopping.set()
                return
            delay = self._backoff.delay(len(child.restarts))
            logger.error("!!! %s exited unexpectedly with code %s; restarting in %.1fs (restart %d)",
                         child.name, code, delay, len(child.restarts))
            if await pause(delay, self.stopping):
                return
            child.start()

    async def stop_all(self, order: Sequence[str], timeout_s: float = 25.0) -> None:
        """Stop every child, those whose name starts with order[0] first, then order[1] …"""
        self.stopping.set()
        for task in self._watchers:
            task.cancel()

        def rank(child: ServiceProcess) -> int:
            return next((i for i, prefix in enumerate(order) if child.name.startswith(prefix)), len(order))

        for child in sorted(self.children, key=rank):
            await asyncio.to_thread(child.stop, signal.SIGTERM, timeout_s)

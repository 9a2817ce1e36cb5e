"""The process supervisor: children stop in order, a stubborn one is killed, a dying one is
restarted with backoff, and one that keeps dying stops the group."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from pathlib import Path

import pytest
from millimetric_runtime.backoff import Backoff
from millimetric_runtime.processes import ServiceProcess, Supervisor, wait_http_ready


def python(name: str, code: str, log_dir: Path) -> ServiceProcess:
    return ServiceProcess(name, [sys.executable, "-c", code], {"PATH": "/usr/bin:/bin"}, log_dir / f"{name}.log")


def test_stop_terminates_and_reports_the_exit_code(tmp_path: Path) -> None:
    child = python("sleeper", "import time; time.sleep(60)", tmp_path).start()
    assert child.running
    assert child.stop() == -signal.SIGTERM
    assert not child.running


def test_a_child_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = python("stubborn", code, tmp_path).start()
    deadline = time.monotonic() + 10
    while "up" not in child.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert child.stop(timeout_s=0.5) == -signal.SIGKILL


def test_waiting_for_readiness_fails_early_with_the_log_when_the_process_exits(tmp_path: Path) -> None:
    child = python("crasher", "import sys; print('no config'); sys.exit(3)", tmp_path).start()
    with pytest.raises(RuntimeError, match="crasher exited with code 3") as info:
        wait_http_ready("http://127.0.0.1:9/readyz", 30, process=child)
    assert "no config" in str(info.value)


async def test_a_dying_child_is_restarted_and_one_that_keeps_dying_stops_the_group(tmp_path: Path) -> None:
    marker = tmp_path / "starts"
    code = f"open({str(marker)!r}, 'a').write('x'); import sys; sys.exit(1)"
    steady = python("steady", "import time; time.sleep(60)", tmp_path)
    dying = python("dying", code, tmp_path)
    supervisor = Supervisor([steady, dying], max_restarts=3, window_s=60, backoff=Backoff(base_s=0.01, cap_s=0.05))
    supervisor.start()
    await asyncio.wait_for(supervisor.stopping.wait(), 30)
    assert supervisor.failure is not None and supervisor.failure.startswith("dying exited with code 1 4 times")
    assert marker.read_text() == "xxxx"  # the first start and three restarts
    await supervisor.stop_all(["steady", "dying"])
    assert not steady.running

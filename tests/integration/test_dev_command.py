"""`millimetric dev` as a new user runs it: the stack comes up, dev.json describes it, a killed
service is restarted, and SIGINT stops every process cleanly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest
from millimetric.embedded import free_port


def _post(url: str, key: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _service(proc: psutil.Process) -> str:
    """The service a child runs ('gateway', …), or '' for one that is exiting or is not ours."""
    try:
        cmdline = proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return ""
    return cmdline[-1] if cmdline else ""


def _wait(predicate: object, timeout_s: float = 60) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            if predicate():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.slow
def test_dev_runs_the_stack_restarts_a_dead_service_and_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    tmp_path.chmod(0o755)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MILLIMETRIC_")}
    proc = subprocess.Popen([sys.executable, "-m", "millimetric", "dev", "--data-dir", str(data_dir), "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(lambda: (data_dir / "dev.json").exists() and urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200)
        info = json.loads((data_dir / "dev.json").read_text())
        assert info["mcp_url"] == f"http://127.0.0.1:{port}/mcp"
        assert info["mcp_account_url"] == f"http://127.0.0.1:{port}/mcp/account"
        plans = sorted(a["plan"] for a in info["accounts"])
        assert plans == ["business", "free", "pro"]
        business = next(a for a in info["accounts"] if a["plan"] == "business")
        assert len(business["projects"]) == 2 and business["ak"].startswith("ak_live_")
        project = business["projects"][0]
        assert all(project[k].startswith(f"{k}_live_") for k in ("pk", "sk", "rk"))

        tracked = _post(info["mcp_url"], project["sk"], {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                        "params": {"name": "track_event", "arguments": {"event": "hello", "anonymous_id": "dev"}}})
        event_id = json.loads(tracked["result"]["content"][0]["text"])["event_id"]  # type: ignore[index]

        def found() -> bool:
            answer = _post(info["mcp_url"], project["rk"], {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                           "params": {"name": "query_events", "arguments": {"event": "hello"}}})
            assert "result" in answer, answer
            return any(r["event_id"] == event_id for r in json.loads(answer["result"]["content"][0]["text"]))  # type: ignore[index]
        _wait(found)

        children = psutil.Process(proc.pid).children(recursive=False)
        gateway = next(c for c in children if _service(c) == "gateway")
        gateway.kill()
        _wait(lambda: any(_service(c) == "gateway" and c.pid != gateway.pid
                          for c in psutil.Process(proc.pid).children()) and
              urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1).status == 200)
        spawned = [c.pid for c in psutil.Process(proc.pid).children(recursive=True)]

        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text[-3000:]
    assert "Millimetric is running." in text and '"mcpServers"' in text
    assert "gateway exited unexpectedly" in text
    assert not [pid for pid in spawned if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE]
    assert not (data_dir / "pg" / "postmaster.pid").exists(), "PostgreSQL still running"

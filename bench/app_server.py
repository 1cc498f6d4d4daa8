"""Start the app on a free loopback port for a benchmark (``streamlit run app.py``), and stop it after."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from lab.serve import free_port  # noqa: F401 - the benchmarks import it from here

ROOT = Path(__file__).resolve().parents[1]


def server_env() -> dict[str, str]:
    """Return the environment the app's servers run with, as ``make app`` and ``lab.serve`` start them."""
    from lab.serve import SERVER_ENV

    return {**SERVER_ENV, **os.environ, "PYTHONUNBUFFERED": "1"}


def start_server(port: int, log: Path | None = None) -> subprocess.Popen:
    """Start the app on ``port`` (its output to ``log``, else discarded); return its process once it accepts
    connections. Raises ``TimeoutError`` after 60 s."""
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
    out = log.open("w") if log is not None else subprocess.DEVNULL
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, env=server_env())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc
        time.sleep(0.3)
    proc.kill()
    raise TimeoutError("streamlit did not start within 60 s")

"""Serve the app to a classroom from several Streamlit processes behind one address.

One Streamlit server is one Python process: every student's session is a thread in it, and the figure
building and page code they run share one interpreter lock, so a server never uses much more than one core
however many the machine has (``bench/classroom.py`` measured 0.7-0.9 cores busy while 30 students waited).
``python -m lab.serve --workers N`` starts N servers on private loopback ports and a small TCP proxy on the
public port that sends every connection from one student's machine (one IP address) to the same server, so a
student's page, its websocket and its images always meet the same session, while the class spreads over N
interpreters. Results are cached per server; each server's background jobs and device slots are its own, so
with N workers use at most as many as there are cores.

    python -m lab.serve --workers 2 [--port 8501] [--address 0.0.0.0]

Ctrl-C stops the proxy and every server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Every session is a thread, and glibc gives busy threads their own malloc arenas that are rarely handed back:
# with two arenas the server's memory stayed flat under 30 students (bench.classroom: last-quarter RSS 1166 MiB
# against 1571 in the second quarter) where the default grew by 2-25 % in two minutes. The environment wins.
SERVER_ENV = {"MALLOC_ARENA_MAX": "2"}


class StickyRouter:
    """Assigns each client address to one of ``n`` backends, the least-loaded one on its first connection."""

    def __init__(self, n: int) -> None:
        if n < 1:
            raise ValueError(f"workers={n}: need at least one server")
        self.n = n
        self.assigned: dict[str, int] = {}
        self.load: Counter[int] = Counter({i: 0 for i in range(n)})

    def backend_for(self, client: str) -> int:
        """Return the backend index of ``client`` (an IP address), assigning one if it is new."""
        if client not in self.assigned:
            backend = min(range(self.n), key=lambda i: (self.load[i], i))
            self.assigned[client] = backend
            self.load[backend] += 1
        return self.assigned[client]


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(1 << 16):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def proxy(address: str, port: int, backends: list[int], router: StickyRouter) -> None:
    """Accept connections on ``address:port`` forever and splice each to its client's backend port."""

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        client_ip = client_writer.get_extra_info("peername")[0]
        try:
            server_reader, server_writer = await asyncio.open_connection("127.0.0.1", backends[router.backend_for(client_ip)])
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, server_writer), _pipe(server_reader, client_writer))

    server = await asyncio.start_server(handle, address, port, reuse_address=True)
    async with server:
        await server.serve_forever()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_workers(n: int, extra: list[str] | None = None) -> tuple[list[subprocess.Popen], list[int]]:
    """Start ``n`` Streamlit servers of the app on free loopback ports; return the processes and ports."""
    ports = [free_port() for _ in range(n)]
    procs = [subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
                               "--server.address", "127.0.0.1", "--server.port", str(p), *(extra or [])],
                              cwd=ROOT, env={**SERVER_ENV, **os.environ, "PYTHONUNBUFFERED": "1"}) for p in ports]
    return procs, ports


def _wait_for(port: int, timeout: float = 60.0) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"a server on port {port} did not start within {timeout:.0f} s")


def main(argv: list[str] | None = None) -> int:
    """Start the servers and the proxy; return the exit code once stopped."""
    parser = argparse.ArgumentParser(prog="python -m lab.serve", description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2, help="Streamlit processes (default 2; at most one per core)")
    parser.add_argument("--port", type=int, default=8501, help="the port students open (default 8501)")
    parser.add_argument("--address", default="0.0.0.0", help="where to listen (default every interface)")
    args, extra = parser.parse_known_args(argv)
    if not 1 <= args.workers <= 64:
        print(f"{parser.prog}: error: --workers {args.workers}; choose 1 to 64 (one per core is best)", file=sys.stderr)
        return 2
    procs, ports = start_workers(args.workers, extra)
    try:
        for port in ports:
            _wait_for(port)
        print(f"NeuroMeta Lab: {args.workers} servers behind http://{args.address}:{args.port}", flush=True)
        asyncio.run(proxy(args.address, args.port, ports, StickyRouter(args.workers)))
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        print(f"{parser.prog}: error: {exc.strerror or exc}; choose another --port", file=sys.stderr)
        return 2
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

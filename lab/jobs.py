"""Long jobs (evaluations of many episodes) run in the background, shared by everyone who asks for the same one.

In the app, a student's page must not sit inside a minute-long evaluation: the page asks the
:class:`JobBoard` for the job keyed by its inputs and gets the one already running or finished if any session
asked before (so thirty students asking for the same curve cost one evaluation), otherwise a new one. Each job
runs on its own thread holding one of the device's *long* slots (:func:`lab.compute.device_lock` with
``long=True``), so jobs queue behind each other and behind slider moves, never oversubscribing the device.

A job reports progress through :meth:`Job.progress`, which is also where a requested stop takes effect: the
job ends as ``"stopped"``, keeping how far it got. Finished jobs are kept (the newest ``keep`` of them) as a
cache; failed and stopped ones are replaced by the next request.
"""

from __future__ import annotations

import atexit
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import torch

from lab.compute import device_lock

_LIVE: set[Job] = set()  # jobs whose threads are running, for the exit hook at the end of this module
_LIVE_LOCK = threading.Lock()


class JobStopped(Exception):
    """Raised inside a job by :meth:`Job.progress` once someone asked it to stop."""


class Job:
    """One background computation: its state, progress, result or error. Thread-safe to read."""

    def __init__(self, key: Hashable, label: str) -> None:
        self.key, self.label = key, label
        self.state = "queued"  # queued -> running -> done | failed | stopped
        self.done, self.total = 0, 0
        self.result: Any = None
        self.error: BaseException | None = None
        self.submitted, self.finished_at = time.monotonic(), None
        self._stop = threading.Event()
        self._finished = threading.Event()

    @property
    def finished(self) -> bool:
        """Return whether the job has ended (done, failed or stopped)."""
        return self._finished.is_set()

    @property
    def fraction(self) -> float:
        """Return the share of the work done, 0..1 (0 while the total is unknown)."""
        return min(1.0, self.done / self.total) if self.total else 0.0

    def progress(self, done: int, total: int) -> None:
        """Record progress (``done`` of ``total`` units); raise :class:`JobStopped` if a stop was requested."""
        self.done, self.total = done, total
        if self._stop.is_set():
            raise JobStopped(f"{self.label}: stopped after {done} of {total}")

    def stop(self) -> None:
        """Ask the job to stop at its next progress report (a queued job never starts)."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds for the job to end; return whether it has."""
        return self._finished.wait(timeout)

    def outcome(self) -> Any:
        """Return the result of a finished job; re-raise its error if it failed. Raises ``RuntimeError`` if it
        has not finished or was stopped."""
        if self.state == "done":
            return self.result
        if self.state == "failed" and self.error is not None:
            raise self.error
        raise RuntimeError(f"{self.label} is {self.state}")

    def _run(self, fn: Callable[[Job], Any], device: torch.device | str) -> None:
        with _LIVE_LOCK:
            _LIVE.add(self)
        try:
            if self._stop.is_set():
                raise JobStopped(f"{self.label}: stopped before it started")
            with device_lock(device, long=True):
                self.state = "running"
                self.result = fn(self)
            self.state = "done"
        except JobStopped:
            self.state = "stopped"
        except Exception as exc:  # noqa: BLE001 - handed to whoever reads the outcome
            self.error, self.state = exc, "failed"
        finally:
            self.finished_at = time.monotonic()
            self._finished.set()
            with _LIVE_LOCK:
                _LIVE.discard(self)


class JobBoard:
    """The background jobs of one process, keyed by their inputs (see the module docstring)."""

    def __init__(self, keep: int = 128) -> None:
        self.keep = keep
        self._jobs: OrderedDict[Hashable, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, key: Hashable, fn: Callable[[Job], Any], device: torch.device | str = "cpu",
               label: str = "job") -> Job:
        """Return the job for ``key``: the one queued, running or done if there is one, else a new job that
        runs ``fn(job)`` on a background thread holding a long slot of ``device``."""
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and job.state not in ("failed", "stopped") and not job._stop.is_set():
                self._jobs.move_to_end(key)
                return job
            job = Job(key, label)
            self._jobs[key] = job
            self._evict()
        threading.Thread(target=job._run, args=(fn, device), name=f"job:{label}", daemon=True).start()
        return job

    def _evict(self) -> None:
        finished = [k for k, j in self._jobs.items() if j.finished]
        for key in finished[: max(0, len(finished) - self.keep)]:
            del self._jobs[key]

    def queued_before(self, job: Job) -> int:
        """Return how many unfinished jobs were submitted before ``job`` (where it stands in the queue)."""
        with self._lock:
            return sum(1 for j in self._jobs.values() if not j.finished and j.submitted < job.submitted)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)


BOARD = JobBoard()  # the app server's one board: every session's long jobs


@atexit.register
def stop_running_jobs(timeout: float = 10.0) -> bool:
    """Ask every running job of this process to stop, wait up to ``timeout`` seconds in all; return whether
    all ended. Runs at interpreter exit: a job thread still inside a torch op when the interpreter finalises
    aborts the whole process ("terminate called without an active exception", exit status 134)."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for job in live:
        job.stop()
    deadline = time.monotonic() + timeout
    return all(job.wait(max(0.0, deadline - time.monotonic())) for job in live)

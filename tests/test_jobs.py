"""Background jobs: one evaluation per set of inputs however many ask, progress, stop, failure, eviction."""

from __future__ import annotations

import threading

import pytest

from lab.compute import slot_queue
from lab.jobs import Job, JobBoard, stop_running_jobs


def test_the_same_inputs_share_one_job_and_one_computation():
    board, calls, gate = JobBoard(), [], threading.Event()

    def work(job: Job) -> int:
        calls.append(1)
        gate.wait(5)
        return 42

    first = board.submit(("curve", 5), work)
    second = board.submit(("curve", 5), work)  # a second student asks while it runs
    assert second is first
    gate.set()
    assert first.wait(5) and first.outcome() == 42
    assert board.submit(("curve", 5), work) is first and calls == [1]  # and after it finished: the cache
    assert board.submit(("curve", 6), lambda job: 7).wait(5)
    assert len(board) == 2


def test_a_job_runs_holding_a_long_slot_of_its_device():
    seen = []
    job = JobBoard().submit("k", lambda job: seen.append(slot_queue("cpu").in_use()))
    assert job.wait(5) and job.state == "done" and seen == [1]
    assert slot_queue("cpu").in_use() == 0


def test_stop_ends_the_job_at_its_next_progress_report_and_keeps_how_far_it_got():
    reached, gate = threading.Event(), threading.Event()

    def work(job: Job) -> None:
        for done in range(1, 101):
            job.progress(done, 100)
            if done == 30:
                reached.set()
                gate.wait(5)

    board = JobBoard()
    job = board.submit("long", work)
    assert reached.wait(5)
    job.stop()
    gate.set()
    assert job.wait(5) and job.state == "stopped" and (job.done, job.total) == (31, 100)
    assert job.fraction == pytest.approx(0.31)
    with pytest.raises(RuntimeError, match="stopped"):
        job.outcome()
    assert board.submit("long", lambda job: "again") is not job  # a stopped job is not served from the cache


def test_a_failed_job_raises_its_error_for_the_reader_and_is_retried_on_the_next_request():
    board = JobBoard()

    def fail(job: Job) -> None:
        raise ValueError("n_way=30 but the held-out alphabets have 20 characters")

    job = board.submit("bad", fail)
    assert job.wait(5) and job.state == "failed"
    with pytest.raises(ValueError, match="n_way=30"):
        job.outcome()
    retry = board.submit("bad", lambda job: "fixed")
    assert retry is not job and retry.wait(5) and retry.outcome() == "fixed"


def test_only_the_newest_finished_jobs_are_kept():
    board = JobBoard(keep=3)
    for i in range(6):
        assert board.submit(i, lambda job, i=i: i).wait(5)
    assert len(board) <= 4  # three kept plus the one that was running when the last eviction ran
    assert board.submit(5, lambda job: "recomputed").outcome() == 5  # the newest is still cached


def test_queue_position_counts_the_unfinished_jobs_submitted_before():
    board, gate = JobBoard(), threading.Event()
    first = board.submit("a", lambda job: gate.wait(5))
    second = board.submit("b", lambda job: None)
    assert board.queued_before(first) == 0 and board.queued_before(second) == 1
    gate.set()
    assert first.wait(5) and second.wait(5) and board.queued_before(second) == 0


def test_stop_running_jobs_stops_every_running_job_and_waits_for_it():
    board = JobBoard()
    started = threading.Event()

    def endless(job: Job) -> None:
        for i in range(10**9):
            started.set()
            job.progress(i, 10**9)

    job = board.submit("endless", endless)
    assert started.wait(10)
    assert stop_running_jobs(timeout=10) and job.state == "stopped"


def test_a_process_exits_cleanly_while_a_job_is_inside_torch():
    """Without the exit hook, a job thread still in a torch op at interpreter exit aborts the process (134)."""
    import subprocess
    import sys

    script = (
        "import threading, torch\n"
        "from lab.jobs import JobBoard\n"
        "inside = threading.Event()\n"
        "def work(job):\n"
        "    for i in range(10**6):\n"
        "        inside.set()\n"
        "        torch.randn(300, 300) @ torch.randn(300, 300)\n"
        "        job.progress(i, 10**6)\n"
        "JobBoard().submit('k', work)\n"
        "inside.wait(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-500:]

"""The device's job slots: slider moves before long jobs, long jobs never hold every slot, make_way hands over."""

from __future__ import annotations

import threading
import time

import pytest

from lab.job_slots import SlotQueue


def _start(target, *args) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def _wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def test_rejects_impossible_slot_counts():
    with pytest.raises(ValueError, match="long_slots"):
        SlotQueue(2, 3)
    with pytest.raises(ValueError, match="long_slots"):
        SlotQueue(0, 0)


def test_long_jobs_never_take_the_last_slot():
    queue = SlotQueue(2, 1)
    queue.acquire(long=True)
    second_long_started = threading.Event()

    def second_long() -> None:
        queue.acquire(long=True)
        second_long_started.set()
        queue.release(long=True)

    thread = _start(second_long)
    time.sleep(0.1)
    assert not second_long_started.is_set()  # a slot is free, but only for slider moves
    queue.acquire(long=False)  # ...which get it at once
    assert queue.in_use() == 2
    queue.release(long=False)
    queue.release(long=True)
    thread.join(5)
    assert second_long_started.is_set() and queue.in_use() == 0


def test_a_waiting_slider_move_goes_before_an_earlier_long_job():
    queue = SlotQueue(1, 1)
    queue.acquire(long=False)
    order: list[str] = []

    def job(name: str, long: bool) -> None:
        queue.acquire(long)
        order.append(name)
        queue.release(long)

    long_thread = _start(job, "long", True)
    time.sleep(0.05)  # the long job queues first
    move_thread = _start(job, "move", False)
    _wait_until(queue.interactive_waiting)
    queue.release(long=False)
    long_thread.join(5), move_thread.join(5)
    assert order == ["move", "long"]


def test_make_way_hands_the_slot_to_a_waiting_move_and_gets_it_back():
    queue = SlotQueue(1, 1)
    queue.acquire(long=True)
    assert queue.make_way() is False  # nobody waits: keep going
    served = threading.Event()

    def move() -> None:
        queue.acquire(long=False)
        served.set()
        time.sleep(0.05)
        queue.release(long=False)

    thread = _start(move)
    _wait_until(queue.interactive_waiting)
    assert queue.make_way() is True  # blocks until the move is done and the slot is back
    assert served.is_set() and queue.in_use() == 1
    queue.release(long=True)
    thread.join(5)


def test_release_without_acquire_is_an_error():
    queue = SlotQueue(1, 1)
    with pytest.raises(RuntimeError, match="never taken"):
        queue.release()


def test_device_lock_marks_long_jobs_and_make_way_is_a_no_op_outside_them():
    from lab.compute import device_lock, make_way, slot_queue

    queue = slot_queue("cpu")
    make_way("cpu")  # holds nothing: returns at once
    with device_lock("cpu", long=True):
        assert queue.in_use() >= 1
        make_way("cpu")  # nobody waits: keeps the slot
        with device_lock("cpu"):  # re-entrant: no second slot, no deadlock
            pass
    assert queue.in_use() == 0

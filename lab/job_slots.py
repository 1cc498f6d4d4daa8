"""Job slots of one device, shared fairly by interactive requests and long jobs.

An app server runs every student's session as a thread of one process. A slider move must not wait behind
another student's 600-episode evaluation, and the device must never run more jobs than it has room for, so
each device has a :class:`SlotQueue`:

* it hands out ``slots`` slots (one per core on the CPU, one on a GPU);
* an *interactive* request (a slider's recomputation, well under a second) is served before any waiting
  long job, first come first served among themselves;
* a *long* job (an evaluation over many episodes) may hold at most ``long_slots`` slots at once — one less
  than there are, so on a 2-core machine one core always stays free for slider moves — and it calls
  :meth:`SlotQueue.make_way` between its chunks (a batch of episodes), which hands its slot to a waiting
  interactive request and queues up again behind it.

``lab.compute.device_lock`` is the way in; this module only holds the bookkeeping.
"""

from __future__ import annotations

import heapq
import itertools
import threading

INTERACTIVE, LONG = 0, 1  # queue priorities: lower is served first


class SlotQueue:
    """``slots`` job slots handed out by priority (interactive before long), then arrival order."""

    def __init__(self, slots: int, long_slots: int) -> None:
        if slots < 1 or not 1 <= long_slots <= slots:
            raise ValueError(f"slots={slots}, long_slots={long_slots}: need 1 <= long_slots <= slots")
        self.slots, self.long_slots = slots, long_slots
        self._cond = threading.Condition()
        self._free, self._long_free = slots, long_slots
        self._waiting: list[tuple[int, int]] = []  # heap of (priority, ticket)
        self._tickets = itertools.count()

    def _can_start(self, entry: tuple[int, int]) -> bool:
        # Interactive entries sort before every long one, so a long job at the head means none is waiting,
        # and a long job that must wait for a long slot never blocks a slider move queued behind it.
        return self._waiting[0] == entry and self._free > 0 and (entry[0] != LONG or self._long_free > 0)

    def acquire(self, long: bool = False) -> None:
        """Block until this caller's turn comes, then take a slot (a long job also takes a long slot)."""
        entry = (LONG if long else INTERACTIVE, next(self._tickets))
        with self._cond:
            heapq.heappush(self._waiting, entry)
            while not self._can_start(entry):
                self._cond.wait()
            self._waiting.remove(entry)
            heapq.heapify(self._waiting)
            self._free -= 1
            if long:
                self._long_free -= 1
            self._cond.notify_all()

    def release(self, long: bool = False) -> None:
        """Give back the slot taken by :meth:`acquire` with the same ``long``."""
        with self._cond:
            self._free += 1
            if long:
                self._long_free += 1
            if self._free > self.slots or self._long_free > self.long_slots:
                raise RuntimeError("a job slot was released that was never taken")
            self._cond.notify_all()

    def interactive_waiting(self) -> bool:
        """Return whether an interactive request is queued now."""
        with self._cond:
            return any(priority == INTERACTIVE for priority, _ in self._waiting)

    def make_way(self) -> bool:
        """For a long job holding a slot: if an interactive request waits, let it go first and queue up
        again (this blocks until the slot comes back). Return whether the slot was handed over."""
        if not self.interactive_waiting():
            return False
        self.release(long=True)
        self.acquire(long=True)
        return True

    def in_use(self) -> int:
        """Return how many slots are taken now."""
        with self._cond:
            return self.slots - self._free

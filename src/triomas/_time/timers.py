"""Timer handles, the timer heap both schedulers use, and the real-time timer task."""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable
from typing import Protocol, final

import attrs
import trio

log = logging.getLogger("triomas")


def _spent() -> None:
    """The callback of a handle that has fired or was cancelled."""


class Sleeper(Protocol):
    """A waiter the timer heap wakes itself (a virtual task), with no handle of its own.

    ``timer_seq`` is the sequence number of its one pending heap entry, 0 if none:
    an entry whose number no longer matches is stale, and skipped.
    """

    timer_seq: int


@final
@attrs.define(eq=False, slots=True)
class TimerHandle:
    """A scheduled call; :meth:`cancel` it to stop it from happening.

    ``blocking`` timers keep ``run_until_idle`` waiting; non-blocking ones do not
    (alarms set with ``ignore_if_idle=True``).
    """

    when: float
    callback: Callable[..., object] = attrs.field(repr=False)
    blocking: bool = True
    _queue: TimerQueue | None = attrs.field(default=None, repr=False, alias="queue")
    timer_seq: int = attrs.field(default=0, repr=False)
    """The heap entry's sequence number while the call is pending, 0 after."""
    payload: object = attrs.field(default=None, repr=False)
    """With a payload, the callback is called with the handle (so that a timer needs no
    closure of its own: an alarm is three objects)."""

    @property
    def pending(self) -> bool:
        """Whether the call is still to happen (neither fired nor cancelled)."""
        return self.timer_seq != 0

    def cancel(self) -> bool:
        """Cancel the call; True if it was still pending."""
        if not self.timer_seq:
            return False
        self.timer_seq = 0
        self.callback = _spent  # a callback that refers to its handle leaves no cycle
        queue = self._queue
        if queue is not None:
            queue.cancelled(self)
        return True


@final
class TimerQueue:
    """A heap of timers ordered by (time, insertion order); cancellation is lazy.

    An entry is a :class:`TimerHandle` (a callback) or a :class:`Sleeper` (woken by
    whoever pops it). Both count as blocking while pending.
    """

    __slots__ = ("_cancelled", "_heap", "_seq", "blocking", "on_retire")

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, TimerHandle | Sleeper]] = []
        self._seq = 0
        self._cancelled = 0
        self.blocking = 0
        self.on_retire: Callable[[], object] | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def _compact(self) -> None:
        # Most ask timeouts end cancelled; without this they would pile up.
        self._heap = [entry for entry in self._heap if entry[2].timer_seq == entry[1]]
        heapq.heapify(self._heap)
        self._cancelled = 0

    def push(
        self, when: float, callback: Callable[..., object], blocking: bool, payload: object = None
    ) -> TimerHandle:
        """Schedule ``callback()`` at clock time ``when`` (``callback(handle)`` with a
        ``payload``)."""
        if math.isnan(when):
            raise ValueError("a timer cannot be set at NaN")
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._compact()
        self._seq = seq = self._seq + 1
        # positional: attrs' __init__ with keywords costs more (sim_alarms in benchmarks/)
        handle = TimerHandle(when, callback, blocking, self, seq, payload)
        heapq.heappush(self._heap, (when, seq, handle))
        if blocking:
            self.blocking += 1
        return handle

    def push_sleeper(self, when: float, sleeper: Sleeper) -> None:
        """Wake ``sleeper`` at ``when`` (it must have no pending entry); blocking."""
        if when != when:  # NaN: it would corrupt the heap's order
            raise ValueError("a timer cannot be set at NaN")
        if self._cancelled > 1024 and self._cancelled * 2 > len(self._heap):
            self._compact()
        self._seq = seq = self._seq + 1
        sleeper.timer_seq = seq
        heapq.heappush(self._heap, (when, seq, sleeper))
        self.blocking += 1

    def unsleep(self, sleeper: Sleeper) -> None:
        """Drop ``sleeper``'s pending entry, if it has one."""
        if sleeper.timer_seq:
            sleeper.timer_seq = 0
            self._cancelled += 1
            self.blocking -= 1
            if self.on_retire is not None:
                self.on_retire()

    def _retire(self, handle: TimerHandle) -> None:
        if handle.blocking:
            self.blocking -= 1
            if self.on_retire is not None:
                self.on_retire()

    def next_when(self) -> float | None:
        """The time of the earliest pending timer, or None."""
        heap = self._heap
        while heap and heap[0][2].timer_seq != heap[0][1]:
            heapq.heappop(heap)
            self._cancelled -= 1
        return heap[0][0] if heap else None

    def next_blocking_when(self) -> float | None:
        """The time of the earliest pending entry that counts as blocking, or None."""
        head = self.next_when()
        if head is None or self.blocking == 0:
            return None
        item = self._heap[0][2]
        if type(item) is not TimerHandle or item.blocking:
            return head
        return min(  # a non-blocking alarm first: look past it (rare, and only on demand)
            (
                when
                for when, seq, entry in self._heap
                if entry.timer_seq == seq and (type(entry) is not TimerHandle or entry.blocking)
            ),
            default=None,
        )

    def cancelled(self, handle: TimerHandle) -> None:
        """``handle`` was cancelled: count it, and retire it if nothing else waits."""
        self._cancelled += 1
        self._retire(handle)

    def pop_due(self, now: float) -> list[TimerHandle | Sleeper]:
        """Remove and return the pending entries due at or before ``now``, in order.

        A popped handle is no longer pending, and still counts as blocking until
        :meth:`fire` runs it; a popped sleeper is neither.
        """
        heap = self._heap
        due: list[TimerHandle | Sleeper] = []
        pop = heapq.heappop
        while heap and heap[0][0] <= now:
            _, seq, item = pop(heap)
            if item.timer_seq == seq:
                item.timer_seq = 0
                if type(item) is not TimerHandle:
                    self.blocking -= 1
                due.append(item)
            else:
                self._cancelled -= 1
        return due

    def pop_at(self, when: float) -> list[TimerHandle | Sleeper]:
        """:meth:`pop_due` right after :meth:`next_when` returned ``when``."""
        heap = self._heap
        # PERF: the head is known to be pending; one entry due is the common case
        # (sim_random_sleep in benchmarks/run.py).
        item = heapq.heappop(heap)[2]
        item.timer_seq = 0
        if type(item) is not TimerHandle:
            self.blocking -= 1
        if not heap or heap[0][0] > when:
            return [item]
        return [item, *self.pop_due(when)]

    def fire(self, handle: TimerHandle) -> None:
        """Run one popped timer's callback; an exception is logged, never raised."""
        try:
            if handle.payload is None:
                handle.callback()
            else:
                handle.callback(handle)
        except Exception:
            log.exception("timer callback %r raised", handle.callback)
        finally:
            handle.callback = _spent  # see TimerHandle.cancel
            if handle.blocking:  # _retire, inlined (sim_alarms in benchmarks/run.py)
                self.blocking -= 1
                if self.on_retire is not None:
                    self.on_retire()

    def drop_non_blocking(self) -> int:
        """Cancel every pending non-blocking timer; returns how many."""
        dropped = 0
        for _, seq, item in self._heap:
            if type(item) is TimerHandle and item.timer_seq == seq and not item.blocking:
                item.cancel()
                dropped += 1
        return dropped


@final
class LiveTimers:
    """Runs a :class:`TimerQueue` against trio's clock in one task.

    ``origin`` is the trio time that clock time 0 stands for. The task sleeps in a
    cancel scope whose deadline is moved forward when an earlier timer arrives.
    """

    __slots__ = ("_scope", "origin", "queue")

    def __init__(self, origin: float) -> None:
        self.origin = origin
        self.queue = TimerQueue()
        self._scope: trio.CancelScope | None = None

    def call_at(
        self, when: float, callback: Callable[..., object], blocking: bool, payload: object = None
    ) -> TimerHandle:
        """Schedule ``callback`` at clock time ``when`` (see :meth:`TimerQueue.push`)."""
        handle = self.queue.push(when, callback, blocking, payload)
        scope = self._scope
        if scope is not None and self.origin + when < scope.deadline:
            scope.deadline = self.origin + when
        return handle

    async def run(self) -> None:
        """Fire timers as they fall due, forever."""
        queue = self.queue
        while True:
            for handle in queue.pop_due(trio.current_time() - self.origin):
                assert type(handle) is TimerHandle  # nothing sleeps on the live queue
                queue.fire(handle)
            nxt = queue.next_when()
            deadline = math.inf if nxt is None else self.origin + nxt
            with trio.CancelScope(deadline=deadline) as self._scope:
                await trio.sleep_forever()
            self._scope = None

"""The deadlines of waits that almost always end before them: asks waiting for replies.

A live ask waits for its reply until a deadline, and nearly every ask is answered long
before it. A timer per ask (a handle on the heap, cancelled when the reply comes) costs
seven Python calls for a deadline that almost never fires. Asks mostly share one
timeout, so their deadlines come in order: :class:`Deadlines` keeps them in one FIFO,
each entry three references, with a single timer for the earliest one. A wait that ended
(answered, cancelled) leaves its entry, dropped when it reaches the front or when the
queue is compacted; a deadline earlier than the last one queued takes a timer of its
own (the caller's fallback), so the queue stays in order.

PERF: asks across processes with 100 in flight (net_inflight_tcp in benchmarks/run.py).
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from .future import Future
    from .timers import LiveTimers, TimerHandle

_COMPACT_AT = 4096
"""Compact once the queue holds this many entries (and twice the live ones)."""


@final
class Deadlines:
    """Wake each task still waiting on its future once its deadline passes."""

    __slots__ = ("_armed", "_compact_at", "_queue", "_timers")

    def __init__(self, timers: LiveTimers) -> None:
        self._timers = timers
        # (deadline, future, task), deadlines in order; an entry whose future has no
        # waiter any more belongs to a wait that has ended.
        self._queue: deque[tuple[float, Future, trio.lowlevel.Task]] = deque()
        self._armed: TimerHandle | None = None
        self._compact_at = _COMPACT_AT

    def __len__(self) -> int:
        return len(self._queue)

    def add(self, deadline: float, fut: Future, task: trio.lowlevel.Task) -> bool:
        """Wake ``task`` at clock time ``deadline`` if it still waits on ``fut`` then
        (``fut.waiter`` set); False if ``deadline`` comes before the last one queued
        (or is NaN), and the caller must set a timer of its own."""
        queue = self._queue
        if deadline != deadline:
            return False  # NaN: the caller's own timer refuses it, as it says why
        if queue:
            if deadline < queue[-1][0]:
                return False
            while queue and queue[0][1].waiter is None:
                queue.popleft()  # waits that ended, in front: most of them end in order
            if len(queue) >= self._compact_at:
                self._compact()
        queue.append((deadline, fut, task))
        if self._armed is None:
            self._arm()
        return True

    def _compact(self) -> None:
        # An old wait still pending in front keeps the ended ones behind it.
        self._queue = deque(entry for entry in self._queue if entry[1].waiter is not None)
        self._compact_at = max(_COMPACT_AT, 2 * len(self._queue))

    def _arm(self) -> None:
        queue = self._queue
        # Non-blocking: a waiting task keeps the run busy by itself.
        self._armed = self._timers.call_at(queue[0][0], self._fire, False) if queue else None

    def _fire(self) -> None:
        """The earliest deadline came (or it ended early): wake the overdue, re-arm."""
        queue = self._queue
        now = trio.current_time() - self._timers.origin
        while queue:
            deadline, fut, task = queue[0]
            if fut.waiter is not None:
                if deadline > now:
                    break
                fut.waiter = None
                trio.lowlevel.reschedule(task)
            queue.popleft()
        self._arm()

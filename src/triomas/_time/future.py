"""A one-shot result slot that one waiter is woken from."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, final

from .._messages.envelope import ReplySlot

__all__ = ["Future", "ReplySlot"]


@final
class Future:
    """Holds a value or an error, set once; calls its waiter callback when set.

    The waiter is set by whichever scheduler parks a task on the future; it is
    cleared when the task stops waiting, so a late result wakes nobody.
    """

    # PERF: no __init__ (and so no __slots__): the defaults are class attributes, and
    # making a future costs no Python frame; one is made per ask (live ask in
    # benchmarks/run.py).
    done: bool = False
    value: Any = None
    error: BaseException | None = None
    waiter: Callable[[], object] | None = None

    def set_result(self, value: Any) -> bool:
        """Store ``value``; False (and no effect) if the future is already done."""
        if self.done:
            return False
        self.done = True
        self.value = value
        self._wake()
        return True

    def set_error(self, error: BaseException) -> bool:
        """Store ``error`` to be raised by :meth:`result`; False if already done."""
        if self.done:
            return False
        self.done = True
        self.error = error
        self._wake()
        return True

    def close(self) -> None:
        """The waiter stopped waiting: a result that comes later is dropped, and one
        already taken is not kept (a queue of deadlines may still hold the future)."""
        self.done = True
        self.waiter = None
        self.value = None

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            waiter()

    def result(self) -> Any:
        """The stored value, or raise the stored error (to its one reader: it is not kept)."""
        error = self.error
        if error is not None:
            # Not kept, and not left in this frame: the traceback refers to the frames
            # it passes through, so either would make a cycle only a full GC frees.
            self.error = None
            try:
                raise error
            finally:
                del error
        return self.value

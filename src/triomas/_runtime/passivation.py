"""Idle passivation: an agent that got no message for a while stops by itself."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .._messages.events import Shutdown
from .engine import RunState
from .lifecycle import Life, StopKind

if TYPE_CHECKING:
    from .._time.timers import TimerHandle
    from .cell import Cell


@final
class Passivation:
    """Stops its agent with ``Shutdown("idle")`` after ``timeout`` clock seconds without work.

    The agent marks the end of each batch of messages (:meth:`touch`); one timer,
    which does not keep a run from going idle, checks now and then.
    """

    __slots__ = ("cell", "last", "timeout", "timer")

    def __init__(self, cell: Cell, timeout: float) -> None:
        self.cell = cell
        self.timeout = timeout
        self.last = 0.0
        self.timer: TimerHandle | None = None

    def start(self) -> None:
        """The incarnation is up: start watching."""
        self.last = self.cell.engine.now()
        self._schedule(self.last + self.timeout)

    def touch(self) -> None:
        """A batch of messages was handled."""
        self.last = self.cell.engine.now()

    def cancel(self) -> None:
        """The incarnation is ending."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _schedule(self, when: float) -> None:
        self.timer = self.cell.engine.call_at(when, self._check, False)

    def _check(self) -> None:
        self.timer = None
        cell = self.cell
        if cell.life is not Life.RUNNING or cell.exit_reason is not None:
            return
        now = cell.engine.now()
        due = self.last + self.timeout
        if now < due:
            self._schedule(due)
        elif cell.run_state is RunState.ACTIVE or cell.mailbox:
            self._schedule(now + self.timeout)  # busy now: look again later
        else:
            cell.stop_kind = StopKind.FINAL  # passivated, not to be restarted
            cell.request_stop(Shutdown("idle"))

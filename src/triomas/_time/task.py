"""A virtual task: a coroutine the simulation scheduler drives itself, one step a round.

Agent coroutines are not trio tasks in virtual time. They suspend only through
:func:`suspend`, which yields a private sentinel; anything else they yield is a raw trio
primitive, which cannot work in virtual time, and is answered with
:exc:`VirtualTimeError` thrown back in.
"""

from __future__ import annotations

import contextvars
import logging
import math
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol, final

import trio

from .._messages.errors import VirtualTimeError

if TYPE_CHECKING:
    from .scheduler import VirtualScheduler

log = logging.getLogger("triomas")

SUSPEND = object()
"""What a virtual task yields to park (see :func:`suspend`)."""


class Cancel(BaseException):
    """Thrown into an agent coroutine to hard-cancel it in virtual time."""


@types.coroutine
def suspend() -> Generator[Any, Any, Any]:
    """Park the current virtual task until the scheduler resumes it."""
    return (yield SUSPEND)


class Steppable(Protocol):
    """Something the scheduler can run for one step in a round, in its own contextvars
    (``context``; None: the driver's)."""

    context: contextvars.Context | None

    def run_step(self) -> None: ...


@final
class VTask:
    """A coroutine driven by the simulation scheduler."""

    __slots__ = (
        "context",
        "coro",
        "error",
        "make",
        "on_error",
        "on_exit",
        "ready",
        "scheduler",
        "timer_seq",
        "value",
        "waiting",
    )

    def __init__(
        self,
        sim: VirtualScheduler,
        make: Callable[[], Coroutine[Any, Any, Any]],
        on_exit: Callable[[], object] | None = None,
        on_error: Callable[[BaseException], object] | None = None,
        context: contextvars.Context | None = None,
    ) -> None:
        self.scheduler = sim
        # The contextvars the coroutine runs in (an agent's own; None: the driver's).
        self.context = context
        # The coroutine is made at the first step, so a task that never runs (the trio
        # run ended first) leaves no never-awaited coroutine behind.
        self.make: Callable[[], Coroutine[Any, Any, Any]] | None = make
        self.coro: Coroutine[Any, Any, Any] | None = None
        self.value: Any = None
        self.error: BaseException | None = None
        self.waiting = False
        self.ready = False
        self.timer_seq = 0  # a pending wake-up in the timer heap (see Sleeper)
        self.on_exit = on_exit
        # Where an exception from the coroutine goes (an agent's task crashes its agent,
        # or ends its tree); without it, the error is logged as one the runtime did not
        # expect.
        self.on_error = on_error

    def run_step(self) -> None:
        """Run until the coroutine suspends or ends."""
        sim = self.scheduler
        if sim.shield_scope is None:
            sim.shield()
        sim.current = self
        self.ready = False
        coro = self.coro
        try:
            if coro is None:
                assert self.make is not None
                coro = self.coro = self.make()  # inside the try: its error is the task's
                self.make = None
            while True:
                error = self.error
                if error is not None:
                    self.error = None
                    if self.timer_seq:  # the wait it ends had a deadline
                        sim.timers.unsleep(self)
                    yielded = coro.throw(error)
                else:
                    value, self.value = self.value, None
                    yielded = coro.send(value)
                if yielded is SUSPEND:
                    if trio.current_effective_deadline() != math.inf:  # the shield's (see shield())
                        # The coroutine waits inside a trio cancel scope it entered, which
                        # now sits on the driver's stack: refuse it before it can fire.
                        self.error = VirtualTimeError(
                            "a trio cancel scope (move_on_after, fail_after, ...) is open "
                            "across a wait in virtual time, where trio's deadlines mean real "
                            "time; use ask(timeout=), self.sleep() or an alarm instead"
                        )
                        continue
                    if self.error is not None:  # cancelled while running: deliver it next round
                        sim.schedule_task(self)
                    elif not self.ready:
                        self.waiting = True
                    return
                self.error = VirtualTimeError(
                    f"agent code awaited a raw trio primitive ({type(yielded).__name__}) in "
                    "virtual time; wait through the runtime instead: self.sleep(), self.ask(), "
                    "self.set_alarm(), self.start_task()"
                )
        except StopIteration:
            self._exit()
        except Cancel:
            self._exit()
        except BaseException as exc:
            if self.on_error is None:
                log.exception("a virtual task ended with an error the runtime did not expect")
            else:
                self.on_error(exc)
            self._exit()
        finally:
            sim.current = None

    def cancel(self) -> None:
        """Throw :class:`Cancel` into the coroutine at its next step."""
        self.scheduler.cancel(self)

    def _exit(self) -> None:
        if self.on_exit is not None:
            self.on_exit()

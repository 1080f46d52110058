"""Clocks: one interface for real, virtual and externally driven time."""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Callable
from typing import final

import trio

from .scheduler import VirtualScheduler
from .timers import LiveTimers, TimerHandle


class Clock(abc.ABC):
    """The time agents live in: ``now()``, sleeps, and timed callbacks.

    Agent code takes its time from here (``self.clock``), never from
    ``time.time()``, so the same code runs in real and in virtual time. Clock
    time starts at 0 when the clock is first used in a trio run.
    """

    @property
    @abc.abstractmethod
    def virtual(self) -> bool:
        """True if the runtime, not the wall clock, decides when time passes."""

    @abc.abstractmethod
    def now(self) -> float:
        """The current clock time, in seconds."""

    @abc.abstractmethod
    async def sleep_until(self, deadline: float) -> None:
        """Sleep until clock time ``deadline``."""

    async def sleep(self, seconds: float) -> None:
        """Sleep for ``seconds`` of clock time."""
        if seconds < 0:
            raise ValueError("cannot sleep for a negative time")
        await self.sleep_until(self.now() + seconds)

    @abc.abstractmethod
    def call_at(
        self, when: float, callback: Callable[[], object], *, blocking: bool = True
    ) -> TimerHandle:
        """Call ``callback()`` at clock time ``when``; the handle cancels it.

        A non-``blocking`` timer does not keep ``run_until_idle`` waiting.
        """

    def call_in(
        self, delay: float, callback: Callable[[], object], *, blocking: bool = True
    ) -> TimerHandle:
        """Call ``callback()`` after ``delay`` seconds of clock time."""
        return self.call_at(self.now() + delay, callback, blocking=blocking)


@final
class RealClock(Clock):
    """Wall-clock time through trio; agents run as trio tasks (live mode).

    Timers set through the clock itself run in one system task per trio run; those of
    agents run in their container's task.
    """

    def __init__(self) -> None:
        self._token: trio.lowlevel.TrioToken | None = None
        self._origin = 0.0
        self._timers: LiveTimers | None = None

    @property
    def virtual(self) -> bool:
        """Always False."""
        return False

    @property
    def origin(self) -> float:
        """The trio time that clock time 0 stands for in the current run."""
        token = trio.lowlevel.current_trio_token()
        if token is not self._token:
            self._token = token
            self._origin = trio.current_time()
            self._timers = None
        return self._origin

    def _timer_task(self) -> LiveTimers:
        # Started on the first timer of a run, not before: most runs never need it.
        origin = self.origin
        if self._timers is None:
            self._timers = LiveTimers(origin)
            trio.lowlevel.spawn_system_task(self._timers.run, name="triomas-real-timers")
        return self._timers

    def now(self) -> float:
        """Seconds since the clock was first used in this trio run."""
        return trio.current_time() - self.origin

    async def sleep_until(self, deadline: float) -> None:
        """Sleep until clock time ``deadline`` (a trio sleep)."""
        await trio.sleep_until(self.origin + deadline)

    def call_at(
        self, when: float, callback: Callable[[], object], *, blocking: bool = True
    ) -> TimerHandle:
        """Call ``callback()`` at clock time ``when``."""
        return self._timer_task().call_at(when, callback, blocking)


class VirtualTimeBase(Clock):
    """The base of the clocks whose time the virtual scheduler decides."""

    def __init__(self, start: float = 0.0) -> None:
        if not math.isfinite(start):
            raise ValueError(f"a clock starts at a finite time, not {start}")
        self._token: trio.lowlevel.TrioToken | None = None
        self._scheduler: VirtualScheduler | None = None
        self.start = float(start)
        """The clock time a run begins at (MASlite's clock start)."""

    @property
    def virtual(self) -> bool:
        return True

    @abc.abstractmethod
    def _make_scheduler(self) -> VirtualScheduler: ...

    def scheduler(self) -> VirtualScheduler:
        """The simulation scheduler of this clock in the current trio run."""
        token = trio.lowlevel.current_trio_token()
        if token is not self._token or self._scheduler is None:
            self._token = token
            self._scheduler = self._make_scheduler()
            self._scheduler.now = self.start
        return self._scheduler

    def now(self) -> float:
        return self._scheduler.now if self._scheduler is not None else self.start

    async def sleep_until(self, deadline: float) -> None:
        await self.scheduler().sleep_until(deadline)

    def call_at(
        self, when: float, callback: Callable[[], object], *, blocking: bool = True
    ) -> TimerHandle:
        scheduler = self.scheduler()
        return scheduler.call_at(
            when, functools.partial(_then_settle, scheduler, callback), blocking
        )


@final
class VirtualClock(VirtualTimeBase):
    """Simulated time, stepped deterministically by the runtime.

    ``speed=None`` jumps straight to the next event whenever every agent waits
    (MASlite's ``clock_speed=None``); ``speed=k`` lets virtual time pass at k times
    real time, and may be changed during a run. ``start`` is the time the clock shows
    when a run begins. Agents are stepped one at a time in (time, sequence) order, so
    the same seed and inputs give the same trace, byte for byte.
    """

    def __init__(self, speed: float | None = None, *, start: float = 0.0) -> None:
        super().__init__(start)
        self._speed = _checked_speed(speed)

    @property
    def speed(self) -> float | None:
        """None to jump from event to event, or k for k times real time."""
        return self._speed

    @speed.setter
    def speed(self, speed: float | None) -> None:
        self._speed = _checked_speed(speed)
        try:
            token = trio.lowlevel.current_trio_token()
        except RuntimeError:  # outside a run: the next run starts at this speed
            return
        if self._scheduler is not None and token is self._token:
            self._scheduler.set_speed(self._speed)

    def _make_scheduler(self) -> VirtualScheduler:
        return VirtualScheduler(self._speed, lambda: math.inf)


def _then_settle(scheduler: VirtualScheduler, callback: Callable[[], object]) -> None:
    # A callback of the user's may cancel a trio scope around the task that advances
    # the simulation (``triomas run --until``): that task must get to a checkpoint
    # before the clock jumps, as it does when a driver task advances and it waits, so
    # the rest of trio settles first (the events at the current time happen before).
    try:
        callback()
    finally:
        scheduler.settled = False


def _checked_speed(speed: float | None) -> float | None:
    if speed is not None and not speed > 0:
        raise ValueError("speed must be None or a positive number")
    return speed


@final
class ExternalClock(VirtualTimeBase):
    """Virtual time advanced by a co-simulator (mosaik style).

    Time never passes on its own: :meth:`advance_to` moves the horizon, and the
    runtime then runs every event up to it.
    """

    def __init__(self, *, start: float = 0.0) -> None:
        super().__init__(start)
        self._target = self.start

    @property
    def target(self) -> float:
        """The latest time the co-simulator has allowed."""
        return self._target

    def advance_to(self, when: float) -> None:
        """Let time run up to ``when``; it must not go back (equal is allowed)."""
        if math.isnan(when) or when < self._target:
            raise ValueError(f"an external clock cannot go back from {self._target} to {when}")
        self._target = when
        if self._scheduler is not None:
            self._scheduler.poke()

    def next_event(self) -> float | None:
        """The time of the next event that would keep the container busy.

        The current time if something is due now, the time of the earliest timer
        that keeps a run waiting (a sleep, an alarm, an ask's timeout; not an
        ``ignore_if_idle`` alarm), or None if nothing is scheduled. A co-simulator
        asks this after each step to know when to step again (mosaik's
        ``step()`` return value); it may also be past :attr:`target`.
        """
        if self._scheduler is None:
            return None
        return self._scheduler.next_event()

    def _make_scheduler(self) -> VirtualScheduler:
        return VirtualScheduler(None, lambda: self._target)

"""What the virtual-time scheduler's driving needs beside the scheduler itself: the
demands that make it advance, the states a stretch of advancing ends in, the instrument
that tells it whether the rest of the trio run has settled, and the collector setting
used while agents step."""

from __future__ import annotations

import enum
import gc
from collections.abc import Callable
from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from .scheduler import VirtualScheduler


class State(enum.Enum):
    """How a stretch of advancing ended, and so what the driver awaits next."""

    PROGRESS = enum.auto()  # a checkpoint, then on
    SETTLE = enum.auto()  # let the rest of the trio run block before the clock jumps
    IDLE = enum.auto()  # nothing to do until poked
    REAL_WAIT = enum.auto()  # speed=k: the real time until the next event


@final
class Demand:
    """Someone awaiting the simulation: ``join``, ``run``, an ``ask`` or a sleep from
    outside the agents."""

    __slots__ = ("check", "error", "event", "idle", "run", "until_idle")

    def __init__(self, check: Callable[[], bool] | None, until_idle: bool, run: bool) -> None:
        self.check = check
        self.until_idle = until_idle
        self.run = run  # a Container.run: ended by end_runs()
        self.event = trio.Event()
        self.idle = False
        self.error: BaseException | None = None


@final
class Watcher(trio.abc.Instrument):
    """Notices every trio task but the schedulers' drivers that becomes runnable.

    A driver lets the rest of the trio run settle before the clock jumps; after a
    settle, nothing outside can run again until some task is scheduled, so until
    this instrument sees one, jump after jump needs no trio scheduler pass. One
    instrument serves every scheduler of a trio run, and looks only at those that
    are driving (a run that makes many virtual clocks pays nothing for the idle ones).

    Between demands it keeps a count of the tasks scheduled and the latest *streak*
    (one task scheduled again and again): a scheduler that was settled when its last
    demand ended is still settled for a new demand if the only task scheduled since
    is the one making it (it woke, ran, and now waits on the simulation, so every
    other task is as blocked as it was). A co-simulator stepping a container from one
    task is that case, step after step.
    """

    def __init__(self) -> None:
        self.driving: list[VirtualScheduler] = []
        self.drivers: set[trio.lowlevel.Task] = set()
        self.count = 0  # tasks scheduled, drivers not counted
        self._streak_task: trio.lowlevel.Task | None = None
        self._streak_start = 0  # the count at the streak's first scheduling

    def task_scheduled(self, task: trio.lowlevel.Task) -> None:
        if task in self.drivers:
            return
        self.count += 1
        if task is not self._streak_task:
            self._streak_task = task
            self._streak_start = self.count
        for scheduler in self.driving:
            scheduler.settled = False

    def only_since(self, mark: int, task: trio.lowlevel.Task) -> bool:
        """Whether ``task`` is the only task scheduled since the count was ``mark``."""
        return self.count == mark or (self._streak_task is task and self._streak_start <= mark + 1)

    def task_exited(self, task: trio.lowlevel.Task) -> None:
        if task is self._streak_task:
            self._streak_task = None  # keeps no finished task alive


_WATCHER: trio.lowlevel.RunVar[Watcher] = trio.lowlevel.RunVar("triomas_watcher")


def watcher() -> Watcher:
    """This trio run's watcher, installed on first use."""
    try:
        return _WATCHER.get()
    except LookupError:
        installed = Watcher()
        trio.lowlevel.add_instrument(installed)
        _WATCHER.set(installed)
        return installed


YOUNG_THRESHOLD = 100_000
"""The cyclic collector's young-generation threshold while the engine steps agents."""


def widen_young() -> tuple[int, ...] | None:
    """Raise the collector's young-generation threshold while agents step; what
    :func:`restore_young` needs to put the user's setting back (None: left as it was).

    A simulation allocates messages and alarms that live for a round or a tick. At
    CPython's default (a young collection every 700 allocations) nearly all of them
    survive two young collections, are promoted, and make full collections walk every
    object of every agent, again and again: at 100 000 agents, half of the run. With
    the young generation a few rounds wide they die young. Only when garbage is
    collected changes, never what is; the user's setting is restored whenever control
    goes back to trio (sim_100k_ticks in benchmarks/run.py; docs/performance.md).

    PERF: two plain functions, not a context manager, which cost a microsecond more
    on every stretch of advancing (a co-simulator's step is one: mosaik_world).
    """
    old = gc.get_threshold()
    if old[0] == 0 or old[0] >= YOUNG_THRESHOLD:  # collection off, or already as wide
        return None
    gc.set_threshold(YOUNG_THRESHOLD, *old[1:])
    return old


def restore_young(old: tuple[int, ...] | None) -> None:
    """Put back the threshold :func:`widen_young` changed, unless agent code set its own
    meanwhile."""
    if old is not None and gc.get_threshold() == (YOUNG_THRESHOLD, *old[1:]):
        gc.set_threshold(*old)

"""The virtual engine: one container's agents on the shared simulation scheduler."""

from __future__ import annotations

import functools
import math
import types
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, final

from .._messages.envelope import Envelope
from .._messages.errors import VirtualTimeError
from .._time.future import Future
from .._time.scheduler import VirtualScheduler
from .._time.task import Cancel, VTask
from .._time.timers import TimerHandle
from .cell import Cell
from .dispatch import activation, task_failed
from .engine import RunState
from .lifecycle import Life
from .run import RunEnd

# PERF: module constants; a global lookup is cheaper than an enum attribute.
_IDLE = RunState.IDLE
_ACTIVE = RunState.ACTIVE
_RUNNING = Life.RUNNING
_NEW = Life.NEW
_STOPPED = Life.STOPPED
_RESTARTING = Life.RESTARTING

if TYPE_CHECKING:
    from .._messages.ref import AgentRef
    from .registry import Registry


@final
class _SystemLane:
    """Stands for a cell in the round's outbox so that a message lands as a system one."""

    __slots__ = ("cell",)

    def __init__(self, cell: Cell) -> None:
        self.cell = cell

    def accept(self, env: Envelope) -> None:
        self.cell.accept_system(env)


async def _awaiting(awaitable: Awaitable[object]) -> object:
    return await awaitable


def _coroutine_of(
    fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
) -> Coroutine[Any, Any, object]:
    """``fn(*args)`` as something a virtual task can drive (an awaitable of any kind)."""
    result = fn(*args)
    if isinstance(result, types.CoroutineType):
        return result
    return _awaiting(result)  # not awaitable: TypeError at the first step, as in real time


@final
class VirtualEngine:
    """Adapts the cells of one container to a :class:`VirtualScheduler`.

    An activation is a plain call of :meth:`Cell.run_step` when every handler of
    the agent is synchronous, and a virtual task otherwise.
    """

    virtual = True

    def __init__(self, registry: Registry, scheduler: VirtualScheduler) -> None:
        self.registry = registry
        self.scheduler = scheduler
        # Deliver when the current round ends (the scheduler's own method: one call less).
        self.deliver: Callable[[Cell, Envelope], None] = scheduler.deliver
        # A plain tell, as its parts (the router's fast path for compact cells).
        self.deliver_tell: Callable[[Cell, Any, AgentRef], None] = scheduler.deliver_tell
        # Sleep ``seconds`` of virtual time: the scheduler's awaitable, no frame between.
        self.sleep: Callable[[float], Awaitable[None]] = scheduler.sleep
        # A virtual timer (see TimerQueue.push for the payload): the scheduler's own.
        self.call_at: Callable[..., TimerHandle] = scheduler.call_at

    def paused(self) -> None:
        """The container was paused: the runs in progress end after the current step."""
        self.scheduler.end_runs()

    def deliver_system(self, cell: Cell, env: Envelope) -> None:
        """Deliver a system message when the round ends, ahead of user messages."""
        self.scheduler.deliver(_SystemLane(cell), env)

    def now(self) -> float:
        """Virtual time."""
        return self.scheduler.now

    def in_flight(
        self, cell: Cell, match: Callable[[Envelope], bool] | None = None
    ) -> list[Envelope]:
        """Messages sent to ``cell`` this round (that ``match``), not yet in its mailbox.

        They are taken out of the round's outbox.
        """
        return self.scheduler.take_in_flight(cell, match)

    def activate(self, cell: Cell) -> None:
        """Schedule an activation of the cell for the next round."""
        if cell.run_state is not _IDLE or cell.life is _STOPPED or cell.life is _RESTARTING:
            return
        if cell.exit_reason is None and (
            cell.life is _RUNNING or (cell.life is _NEW and cell.info.sync_setup)
        ):
            # a new agent's setup() runs even while paused, as in an activation
            if self.registry.paused and cell.life is _RUNNING:
                self.registry.park(cell)
                return
            if cell.info.sync_ok:
                cell.run_state = _ACTIVE
                # PERF: scheduler.schedule(cell), inlined: once per message.
                scheduler = self.scheduler
                scheduler.next_round.append(cell)
                if scheduler.wake_event is not None:
                    scheduler.poke()
                return
        cell.run_state = RunState.ACTIVE
        cell.main_task = self.scheduler.spawn(
            functools.partial(self._main, cell), lambda: self._exited(cell), None, cell.context
        )

    def start_setup(self, cell: Cell, setup_result: Awaitable[None]) -> None:
        """An activation that awaits what ``setup()`` returned, then goes on."""
        cell.run_state = RunState.ACTIVE
        cell.main_task = self.scheduler.spawn(
            functools.partial(self._main, cell, setup_result),
            lambda: self._exited(cell),
            None,
            cell.context,
        )

    async def _main(self, cell: Cell, setup_result: Awaitable[None] | None = None) -> None:
        try:
            await activation(cell, setup_result)
        except Cancel:
            await cell.finish()

    def _exited(self, cell: Cell) -> None:
        cell.main_task = None
        cell.run_state = RunState.IDLE
        if (cell.life is Life.RUNNING or cell.life is Life.NEW) and cell.has_work():
            self.activate(cell)

    def is_current(self, cell: Cell) -> bool:
        """Whether the code running now is ``cell``'s main activation."""
        return self.scheduler.current is not None and self.scheduler.current is cell.main_task

    def check_outside(self, what: str) -> None:
        """Refuse to wait on the whole simulation from inside it."""
        if self.scheduler.current is not None:
            raise VirtualTimeError(
                f"{what} cannot be awaited by agent code in virtual time: it waits for the "
                "simulation the agent is part of"
            )

    def park(self, cell: Cell) -> Awaitable[object] | None:
        """An activation out of work ends; the next delivery starts a new one."""
        return None

    async def after_batch(self, cell: Cell) -> bool:
        """Go on within this step, except that ``keep_awake`` agents wait for the next round."""
        return not cell.agent.keep_awake

    async def sleep_until(self, when: float) -> None:
        """Sleep in virtual time."""
        await self.scheduler.sleep_until(when)

    async def wait(self, fut: Future, deadline: float) -> bool:
        """Wait for ``fut`` until virtual ``deadline``."""
        return await self.scheduler.wait(fut, deadline)

    def start_task(
        self, cell: Cell, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> VTask:
        """Run ``fn(*args)`` as a virtual task belonging to ``cell``; ``cancel()`` ends it.

        Its exception crashes the cell."""
        task: VTask | None = None

        def done() -> None:
            cell.discard_task(task)

        # PERF: the task drives the user's coroutine itself, with no frame of the
        # runtime around it (sim_random_sleep in benchmarks/run.py).
        task = self.scheduler.spawn(
            functools.partial(_coroutine_of, fn, args),
            done,
            functools.partial(task_failed, cell),
            # a copy, as trio's start_soon makes one: the task's changes stay its own
            None if cell.context is None else cell.context.copy(),
        )
        cell.add_task(task)
        return task

    def current_task(self) -> object:
        """The virtual task running now, or None outside the simulation."""
        return self.scheduler.current

    def spawn_system(self, fn: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run ``fn()`` as a virtual task of the runtime (supervision work)."""
        self.scheduler.spawn(fn, None)

    def interrupt(self, cell: Cell) -> None:
        """Cancel the main activation's current wait, or start one, so the cell ends."""
        if cell.life is not Life.RUNNING and cell.life is not Life.NEW:
            return
        if cell.main_task is not None:
            self.scheduler.cancel(cell.main_task)
        else:
            self.activate(cell)

    def kill(self, cell: Cell) -> None:
        """Cancel whatever the cell runs, its teardown included."""
        if cell.main_task is not None:
            cell.teardown_scope = None  # see shielded(): a kill is not a deadline
            self.scheduler.cancel(cell.main_task)
        else:
            self.interrupt(cell)

    def cancel_tasks(self, cell: Cell) -> None:
        """Cancel the cell's extra tasks."""
        if cell.ties is None:
            return
        for task in list(cell.tasks or ()):
            task.cancel()

    async def shielded(
        self, cell: Cell, thunk: Callable[[], Awaitable[None] | None], deadline: float
    ) -> None:
        """Run ``thunk``; if it is still running at virtual ``deadline``, cancel it there.

        Nothing else cancels it, except :meth:`kill`.
        """
        result = thunk()
        if result is None:
            return
        scheduler = self.scheduler
        task = scheduler.current
        timer = None
        if task is not None and deadline != math.inf:
            timer = scheduler.call_at(deadline, lambda: scheduler.cancel(task), True)
        cell.teardown_scope = self  # a marker: cleared by kill()
        try:
            await result
        except Cancel:
            if cell.teardown_scope is None or timer is None or scheduler.now < deadline:
                raise
        finally:
            cell.teardown_scope = None
            if timer is not None:
                timer.cancel()

    async def run_until(
        self,
        seconds: float | None,
        iterations: int | None,
        until_idle: bool,
        all_stopped: Callable[[], bool],
        join: Callable[[], Awaitable[None]],
        paused: Callable[[], bool],
        until: Callable[[], bool] | None = None,
    ) -> tuple[RunEnd, int]:
        """Drive the simulation for :meth:`Container.run`; why it ended, and the rounds.

        With no limit it runs until ``all_stopped()``; a virtual run also ends when
        nothing more can happen (``"idle"``), or when ``paused()`` (an agent paused the
        container).
        """
        scheduler = self.scheduler
        first_round = scheduler.rounds
        reached = Future()
        # With until_idle, the run's own deadline must not keep the simulation busy: a run
        # whose last event is at t=3 ends "idle" at 3, not "seconds" at its limit.
        timer = (
            scheduler.call_at(
                scheduler.now + seconds, lambda: reached.set_result(None), not until_idle
            )
            if seconds is not None
            else None
        )
        target = math.inf if iterations is None else first_round + iterations

        def limit_reached() -> bool:
            return reached.done or scheduler.rounds >= target

        check: Callable[[], bool] | None = None
        if seconds is not None or iterations is not None:
            check = limit_reached
        elif not until_idle and until is None:
            check = all_stopped
        met = False
        if until is not None:
            if until():
                return "until", 0
            limit = check

            def check() -> bool:
                nonlocal met
                met = until()
                return met or (limit is not None and limit())

        try:
            # a pause ends it through end_runs(), not a check after every round
            went_idle = await scheduler.drive(check, until_idle=True, run=True)
        finally:
            if timer is not None:
                timer.cancel()
        rounds = scheduler.rounds - first_round
        if paused():
            return "paused", rounds
        if met:
            return "until", rounds
        if reached.done:
            return "seconds", rounds
        if scheduler.rounds >= target:
            return "iterations", rounds
        return ("idle" if went_idle else "stopped"), rounds

    def is_idle(self) -> bool:
        """Virtual quiescence is decided by the scheduler while it runs."""
        return False

    async def wait_idle(self) -> None:
        """Run the simulation until it is quiescent."""
        await self.scheduler.drive(None, until_idle=True)

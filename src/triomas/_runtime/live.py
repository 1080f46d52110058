"""The live engine: agents as trio tasks in real time, with no checkpoint per message.

A message to an idle agent starts one task (or wakes a parked one) that drains the
mailbox in batches. A drained agent parks its task if the warm pool has room, so a
busy conversation costs one reschedule per hop rather than a task spawn, and
otherwise lets the task end, so an idle agent costs memory only.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, final

import trio

from .._messages.envelope import Envelope
from .._messages.errors import AgentStateError
from .._time.deadlines import Deadlines
from .._time.future import Future
from .._time.timers import LiveTimers, TimerHandle
from .cell import Cell
from .dispatch import activation, run_extra
from .engine import RunState
from .lifecycle import Life
from .run import RunEnd

if TYPE_CHECKING:
    from .._messages.ref import AgentRef
    from .registry import Registry

WARM_POOL = 64
"""How many drained agents per container keep a parked task."""

_AGENT_TASK: contextvars.ContextVar[Cell | None] = contextvars.ContextVar(
    "triomas_agent_task", default=None
)
"""The cell whose task (or a task it started) is running: trio tasks inherit it."""


@final
class LiveEngine:
    """Runs one container's agents as trio tasks in its nursery."""

    virtual = False

    def __init__(self, registry: Registry, nursery: trio.Nursery, origin: float) -> None:
        self.registry = registry
        self.nursery = nursery
        self.origin = origin
        # PERF: trio's clock object itself: trio.current_time() costs two more calls.
        self._clock_time = trio.lowlevel.current_clock().current_time
        # Live delivery is immediate: straight into the cell (one call less per message).
        self.deliver: Callable[[Cell, Envelope], None] = Cell.accept
        self.deliver_system: Callable[[Cell, Envelope], None] = Cell.accept_system
        self.timers = LiveTimers(origin)
        self.deadlines = Deadlines(self.timers)
        self.timers.queue.on_retire = self._check_idle
        self.busy = 0
        self.parked = 0
        self._idle_waiters: list[Future] = []
        self._until: list[tuple[Callable[[], bool], Future]] = []  # run(until=) predicates
        self._pause_scopes: list[trio.CancelScope] = []  # the runs in progress
        nursery.start_soon(self.timers.run, name="triomas-container-timers")

    def now(self) -> float:
        """Seconds of clock time."""
        return self._clock_time() - self.origin

    def in_flight(
        self, cell: Cell, match: Callable[[Envelope], bool] | None = None
    ) -> list[Envelope]:
        """Live delivery is immediate: nothing is ever in flight."""
        return []

    def activate(self, cell: Cell) -> None:
        """Start or wake the cell's activation."""
        state = cell.run_state
        if state is RunState.ACTIVE or (
            state is RunState.IDLE and (cell.life is Life.STOPPED or cell.life is Life.RESTARTING)
        ):
            return
        if cell.exit_reason is None and cell.life is Life.RUNNING and self.registry.paused:
            self.registry.park(cell)
            return
        self.busy += 1
        cell.run_state = RunState.ACTIVE
        if state is RunState.PARKED:
            self.parked -= 1
            task, cell.parked_task = cell.parked_task, None
            trio.lowlevel.reschedule(task)
        else:
            self.nursery.start_soon(self._main, cell)

    def deliver_tell(self, cell: Cell, body: Any, sender: AgentRef) -> None:
        """A plain tell, straight into the cell as its parts (the router inlines this)."""
        cell.accept_tell(body, sender, self.now())

    def start_setup(self, cell: Cell, setup_result: Awaitable[None]) -> None:
        """An activation that awaits what ``setup()`` returned, then goes on."""
        self.busy += 1
        cell.run_state = RunState.ACTIVE
        self.nursery.start_soon(self._main, cell, setup_result)

    async def _main(self, cell: Cell, setup_result: Awaitable[None] | None = None) -> None:
        # Shielded from outside cancellation: the container stops its agents itself,
        # one by one in reverse spawn order, each under its own deadline.
        scope = cell.scope = trio.CancelScope(shield=True)
        cell.main_task = trio.lowlevel.current_task()
        _AGENT_TASK.set(cell)
        try:
            with scope:
                await activation(cell, setup_result)
            if scope.cancelled_caught:
                await cell.finish()
        finally:
            cell.scope = None
            cell.main_task = None
            cell.run_state = RunState.IDLE
            self.busy -= 1
            self._check_idle()
            if (
                (cell.life is Life.RUNNING or cell.life is Life.NEW)
                and cell.has_work()
                and not self.registry.paused
            ):
                self.activate(cell)

    def is_current(self, cell: Cell) -> bool:
        """Whether the code running now is ``cell``'s main activation."""
        return cell.main_task is not None and cell.main_task is trio.lowlevel.current_task()

    def check_outside(self, what: str) -> None:
        """Refuse to wait on the whole container from an agent's own tasks."""
        cell = _AGENT_TASK.get()
        if cell is not None and cell.router.registry is self.registry:
            raise AgentStateError(
                f"{what} cannot be awaited by agent code ({cell.name}): it would wait for "
                "the agent itself"
            )

    def park(self, cell: Cell) -> Awaitable[object] | None:
        """Park the drained cell's task if the warm pool has room (await what this
        returns); None: let the task end.

        PERF: it returns trio's own awaitable, so a woken agent resumes with no frame
        of this module on its stack (the ask path of docs/internals.md).
        """
        if self.parked >= WARM_POOL:
            return None
        cell.run_state = RunState.PARKED
        cell.parked_task = trio.lowlevel.current_task()
        self.parked += 1
        self.busy -= 1
        self._check_idle()

        def abort(_: Any) -> trio.lowlevel.Abort:
            cell.parked_task = None
            cell.run_state = RunState.ACTIVE
            self.parked -= 1
            self.busy += 1
            return trio.lowlevel.Abort.SUCCEEDED

        return trio.lowlevel.wait_task_rescheduled(abort)  # noqa: ASYNC105 - awaited at once by the caller, in this task (dispatch.activation)

    async def after_batch(self, cell: Cell) -> bool:
        """Yield to other tasks between batches, unless the agent is out of work anyway."""
        if cell.mailbox or cell.agent.keep_awake:
            await trio.lowlevel.checkpoint()
        return True

    async def sleep_until(self, when: float) -> None:
        """A trio sleep until clock time ``when``."""
        await trio.sleep_until(self.origin + when)

    def sleep(self, seconds: float) -> Coroutine[Any, Any, None]:
        """A trio sleep of ``seconds`` of clock time (the awaitable: no frame of its own)."""
        return trio.sleep(seconds)  # noqa: ASYNC105 - awaited at once by the agent (Agent.sleep)

    async def wait(self, fut: Future, deadline: float) -> bool:
        """Park the current task until ``fut`` is done or clock time ``deadline``."""
        if fut.done:
            await trio.lowlevel.checkpoint()
            return True
        task = trio.lowlevel.current_task()
        fut.waiter = partial(trio.lowlevel.reschedule, task)  # PERF: no frame of its own
        timer: TimerHandle | None = None
        # PERF: the container's queue of deadlines, or else a timer of the container, not
        # a cancel scope: half the cost per ask (live ask in benchmarks/run.py).
        if deadline != math.inf and not self.deadlines.add(deadline, fut, task):
            # Non-blocking, since the waiting task already keeps the run busy.
            def expire() -> None:
                if fut.waiter is not None:
                    fut.waiter = None
                    trio.lowlevel.reschedule(task)

            timer = self.timers.call_at(deadline, expire, False)

        def abort(_: Any) -> trio.lowlevel.Abort:
            fut.waiter = None
            return trio.lowlevel.Abort.SUCCEEDED

        try:
            await trio.lowlevel.wait_task_rescheduled(abort)
        finally:
            if timer is not None:
                timer.cancel()
        return fut.done

    def call_at(
        self, when: float, callback: Callable[..., object], blocking: bool, payload: object = None
    ) -> TimerHandle:
        """A timer of this container, at clock time ``when`` (``payload``: see
        :meth:`TimerQueue.push`)."""
        return self.timers.call_at(when, callback, blocking, payload)

    def start_task(
        self, cell: Cell, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> trio.CancelScope:
        """Run ``fn(*args)`` as a task belonging to ``cell``; cancel it through the scope.

        Its exception crashes the cell."""
        self.busy += 1
        scope = trio.CancelScope(shield=True)
        self.nursery.start_soon(self._extra, cell, scope, fn, args)
        return scope

    def current_task(self) -> object:
        """The task running now."""
        return trio.lowlevel.current_task()

    async def _extra(
        self,
        cell: Cell,
        scope: trio.CancelScope,
        fn: Callable[..., Awaitable[object]],
        args: tuple[Any, ...],
    ) -> None:
        try:
            with scope:
                if cell.life is not Life.RUNNING:
                    return
                cell.add_task(scope)
                try:
                    await run_extra(cell, fn, args)
                finally:
                    cell.discard_task(scope)
        finally:
            self.busy -= 1
            self._check_idle()

    def spawn_system(self, fn: Callable[[], Coroutine[Any, Any, object]]) -> None:
        """Run ``fn()`` as a runtime task (supervision work), shielded like the agents."""
        self.busy += 1
        self.nursery.start_soon(self._system, fn)

    async def _system(self, fn: Callable[[], Coroutine[Any, Any, object]]) -> None:
        try:
            with trio.CancelScope(shield=True):
                await fn()
        finally:
            self.busy -= 1
            self._check_idle()

    def interrupt(self, cell: Cell) -> None:
        """Cancel what the main activation is doing, or start one, so the cell ends."""
        if cell.life is not Life.RUNNING and cell.life is not Life.NEW:
            return
        if cell.run_state is RunState.ACTIVE:
            if cell.scope is not None:
                cell.scope.cancel()
        else:
            self.activate(cell)

    def kill(self, cell: Cell) -> None:
        """Cancel whatever the cell runs, its teardown included."""
        if cell.scope is not None:
            cell.scope.cancel()
        if cell.teardown_scope is not None:
            cell.teardown_scope.cancel()
        self.interrupt(cell)

    def cancel_tasks(self, cell: Cell) -> None:
        """Cancel the cell's extra tasks."""
        for scope in list(cell.tasks or ()) if cell.ties is not None else ():
            scope.cancel()

    async def shielded(
        self, cell: Cell, thunk: Callable[[], Awaitable[None] | None], deadline: float
    ) -> None:
        """Run ``thunk`` shielded from outside cancellation, but not past ``deadline``."""
        with trio.CancelScope(shield=True, deadline=self.origin + deadline) as scope:
            cell.teardown_scope = scope
            try:
                result = thunk()
                if result is not None:
                    await result
            finally:
                cell.teardown_scope = None

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
        """Wait for :meth:`Container.run`: quiescence, ``seconds`` of real time, or
        ``join()``, unless the container is paused first; why it ended, and the rounds
        (always 0: real time has none)."""
        if iterations is not None:
            raise ValueError("iterations= counts delivery rounds, which exist only in virtual time")
        reason: RunEnd = "seconds"
        with trio.CancelScope() as pause_scope:
            self._pause_scopes.append(pause_scope)
            try:
                with trio.move_on_after(math.inf if seconds is None else seconds):
                    if until is not None:
                        await self._wait_until(until, until_idle)
                        reason = "until" if until() else "idle"
                    elif until_idle:
                        await self.wait_idle()
                        reason = "idle"
                    elif seconds is None:
                        await join()
                        reason = "stopped"
                    else:
                        await trio.sleep_forever()
            finally:
                self._pause_scopes.remove(pause_scope)
        if pause_scope.cancelled_caught or paused():
            return "paused", 0
        return reason, 0

    def paused(self) -> None:
        """The container was paused: every run in progress ends."""
        for scope in self._pause_scopes:
            scope.cancel()

    # ---- quiescence ----------------------------------------------------------------------

    def is_idle(self) -> bool:
        """No agent is working and no blocking timer is pending."""
        return self.busy == 0 and self.timers.queue.blocking == 0

    async def _wait_until(self, until: Callable[[], bool], or_idle: bool) -> None:
        """Return once ``until()`` holds (checked whenever an agent ends a step), or
        the container is quiescent if ``or_idle``."""
        while not until():
            fut = Future()
            self._until.append((until, fut))
            if or_idle:
                self._idle_waiters.append(fut)
            try:
                await self.wait(fut, math.inf)
            finally:
                if (until, fut) in self._until:
                    self._until.remove((until, fut))
            if or_idle and self.is_idle():
                break
        await trio.lowlevel.checkpoint()

    def _check_idle(self) -> None:
        if self._until:
            for until, fut in list(self._until):
                try:
                    met = until()
                except Exception:
                    met = True  # the run's own task calls it again, and gets the error
                if met:
                    self._until.remove((until, fut))
                    fut.set_result(None)
        if self._idle_waiters and self.is_idle():
            waiters, self._idle_waiters = self._idle_waiters, []
            for fut in waiters:
                fut.set_result(None)

    async def wait_idle(self) -> None:
        """Return once the container is quiescent."""
        while not self.is_idle():
            fut = Future()
            self._idle_waiters.append(fut)
            await self.wait(fut, math.inf)
        await trio.lowlevel.checkpoint()

"""The virtual-time scheduler: one agent steps at a time, in (time, sequence) order.

Agent coroutines are not trio tasks here: the scheduler drives them itself as virtual
tasks (:mod:`.task`). A sleeping task is its own entry in the timer heap, and timers
due at one time are taken in one batch, so an event costs a heap operation and a
coroutine step. Before the clock jumps, the rest of the trio run gets to settle (an
outside task may still have input for the current time), but only if some trio task
was scheduled since the last settle: an instrument watches, so that a simulation on
its own jumps from event to event with no trio scheduler pass.

Work happens in *rounds*. A message sent during round k is appended to its
recipient's mailbox after round k ends, so it is handled in round k+1 at the
earliest (MASlite's semantics). When no agent is runnable, the clock jumps to the
next timer; with ``speed=k`` it first waits the matching real time.

The simulation advances only while someone awaits it (a *demand*: ``join``,
``run``, an ``ask`` or a ``clock.sleep`` from outside the agents). Between
demands the world stands still, which is what makes runs repeatable. A demand made
while nobody else drives is advanced in the task that awaits it, with no handoff
(a co-simulator's step: mosaik_world in benchmarks/); a driver task takes over what
must wait for a poke or for real time, and the demands of several tasks at once.
"""

from __future__ import annotations

import contextvars
import logging
import math
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol, final

import trio
import trio.testing

from .._messages.envelope import Envelope, tell_envelope
from .._messages.errors import VirtualTimeError
from .demands import Demand, State, restore_young, watcher, widen_young
from .future import Future
from .task import SUSPEND, Cancel, Steppable, VTask, suspend
from .timers import TimerHandle, TimerQueue

if TYPE_CHECKING:
    from .._messages.ref import AgentRef

log = logging.getLogger("triomas")

_ROUNDS_PER_CHECKPOINT = 2000
_RUNS_PER_CHECKPOINT = 16
"""Runs advanced in their callers' tasks with no wait of their own, before one yields."""


class Recipient(Protocol):
    """Where the scheduler hands a message when the round ends (a cell, or a lane of one)."""

    def accept(self, env: Envelope) -> None: ...


class TellRecipient(Recipient, Protocol):
    """What the scheduler needs of an agent cell for a plain tell kept as its parts."""

    @property
    def ref(self) -> AgentRef: ...

    def accept_tell(self, body: Any, sender: AgentRef, sent_at: float) -> None: ...


@final
class VirtualScheduler:
    """The deterministic scheduler behind :class:`VirtualClock` and :class:`ExternalClock`.

    ``speed`` is None to jump to the next event at once, or k to run at k times
    real time. ``horizon`` gives the latest time the clock may reach (an external
    co-simulator's target; infinity for a virtual clock).
    """

    virtual = True

    def __init__(self, speed: float | None, horizon: Callable[[], float]) -> None:
        self.speed = speed
        self.horizon = horizon
        self.now = 0.0
        self.rounds = 0
        self.current: VTask | None = None
        self.timers = TimerQueue()
        self.next_round: list[Steppable] = []
        """What runs in the next round; append to it from inside a round (else :meth:`schedule`)."""
        self._spare_round: list[Steppable] = []
        # Four entries a message: recipient, envelope, None, 0.0; or for a plain tell
        # recipient, body, sender, time (see deliver_tell).
        self._outbox: list[Any] = []
        self._spare_outbox: list[Any] = []
        self._demands: list[Demand] = []
        self._checked: list[Demand] = []  # the demands with a check, looked at every round
        self._driver_started = False
        self._parked = False  # the driver waits for a demand (see drive())
        self._here = False  # a demand's own task is advancing (see _drive_here)
        self._unyielded = 0  # runs advanced in their own task with no schedule point
        self._quiet_mark = 0  # the watcher's count when the last demand left
        # What steps run in when they have no context of their own, whichever task drives.
        self._context = contextvars.copy_context()
        self.wake_event: trio.Event | None = None
        """Set while the driver sleeps: :meth:`poke` it when work arrives from outside."""
        self._real_anchor = 0.0
        self._virt_anchor = 0.0
        self.settled = False
        """No trio task but a driver has been runnable since the last settle (demands.Watcher)."""
        self.shield_scope: trio.CancelScope | None = None  # see shield()
        self._halt = False

    # ---- what agents and containers call -------------------------------------------------

    def schedule(self, item: Steppable) -> None:
        """Run ``item`` in the next round."""
        self.next_round.append(item)
        if self.wake_event is not None:
            self.wake_event.set()

    def schedule_task(self, task: VTask) -> None:
        """Run ``task`` in the next round, unless it is already due to run."""
        if not task.ready:
            task.ready = True
            self.schedule(task)

    def deliver(self, cell: Recipient, env: Envelope) -> None:
        """Hand ``env`` to ``cell`` when the current round ends."""
        self._outbox.extend((cell, env, None, 0.0))
        if self.wake_event is not None:
            self.wake_event.set()

    def deliver_tell(self, cell: TellRecipient, body: Any, sender: AgentRef) -> None:
        """:meth:`deliver` for a plain tell sent now, kept as its parts (see ``accept_tell``).

        PERF: no envelope and no tuple per message: at scale every object in flight is
        one more for the cyclic collector to walk (sim_100k_sends in benchmarks/).
        """
        self._outbox.extend((cell, body, sender, self.now))
        if self.wake_event is not None:
            self.wake_event.set()

    def in_flight(self) -> dict[int, int]:
        """How many messages are on their way to each recipient (by ``id`` of the cell)
        until the round ends: for ``Container.stats()``, not for the hot path."""
        counts: dict[int, int] = {}
        entries = iter(self._outbox)
        for owner, _, _, _ in zip(entries, entries, entries, entries, strict=True):
            key = id(getattr(owner, "cell", owner))
            counts[key] = counts.get(key, 0) + 1
        return counts

    def take_in_flight(
        self, cell: TellRecipient, match: Callable[[Envelope], bool] | None = None
    ) -> list[Envelope]:
        """Remove and return the messages (that ``match``) on their way to ``cell``."""
        if not self._outbox:
            return []
        mine: list[Envelope] = []
        kept: list[Any] = []
        entries = iter(self._outbox)
        for owner, item, sender, sent_at in zip(entries, entries, entries, entries, strict=True):
            # system lanes and bounded mailboxes stand for their cell in the outbox
            if owner is cell or getattr(owner, "cell", None) is cell:
                env = item if sender is None else tell_envelope(item, sender, cell.ref, sent_at)
                if match is None or match(env):  # ``match`` is asked once per message
                    mine.append(env)
                    continue
            kept.extend((owner, item, sender, sent_at))
        if mine:
            self._outbox = kept
        return mine

    def spawn(
        self,
        make: Callable[[], Coroutine[Any, Any, Any]],
        on_exit: Callable[[], object] | None,
        on_error: Callable[[BaseException], object] | None = None,
        context: contextvars.Context | None = None,
    ) -> VTask:
        """Start ``make()`` as a virtual task in the next round (in ``context``)."""
        task = VTask(self, make, on_exit, on_error, context)
        self.schedule_task(task)
        return task

    def resume(self, task: VTask, value: Any = None, error: BaseException | None = None) -> None:
        """Make a suspended task runnable in the next round."""
        if not task.waiting:
            return
        task.waiting = False
        if task.timer_seq:
            self.timers.unsleep(task)
        task.value = value
        if error is not None:
            task.error = error
        self.schedule_task(task)

    def cancel(self, task: VTask) -> None:
        """Throw :class:`Cancel` into ``task`` at its next step."""
        if task.waiting:
            self.resume(task, error=Cancel())
        elif task.error is None:
            task.error = Cancel()

    def call_at(
        self, when: float, callback: Callable[..., object], blocking: bool, payload: object = None
    ) -> TimerHandle:
        """Schedule ``callback`` at virtual time ``when`` (see :meth:`TimerQueue.push`)."""
        now = self.now
        # not max(): NaN must reach push() and be refused there
        handle = self.timers.push(now if when < now else when, callback, blocking, payload)
        if self.wake_event is not None:
            self.wake_event.set()
        return handle

    def sleep_until(self, when: float) -> Awaitable[None]:
        """Sleep in virtual time, from an agent's coroutine or from outside."""
        task = self.current
        if task is None:
            return self._sleep_outside(when)
        return self._sleep(task, when)

    @types.coroutine
    def sleep(self, seconds: float) -> Generator[Any, Any, None]:
        """Sleep ``seconds`` of virtual time, from an agent's coroutine or from outside."""
        # PERF: the agent's fast path in one generator (sim_random_sleep in benchmarks/).
        task = self.current
        when = self.now + seconds
        if task is None:
            yield from self._sleep_outside(when).__await__()
        elif seconds <= 0:
            self.schedule_task(task)  # a zero sleep still yields: to the next round
            yield SUSPEND
        else:
            if when != math.inf:  # an endless sleep keeps nothing waiting
                self.timers.push_sleeper(when, task)
            yield SUSPEND

    async def _sleep_outside(self, when: float) -> None:
        await self._wait_outside(Future(), when)

    @types.coroutine
    def _sleep(self, task: VTask, when: float) -> Generator[Any, Any, None]:
        # PERF: one generator and one heap entry per sleep, the task itself the entry:
        # no future, no timer handle, no callback (sim_random_sleep in benchmarks/).
        if when <= self.now:
            self.schedule_task(task)  # a zero sleep still yields: to the next round
        elif when != math.inf:  # an endless sleep keeps nothing waiting
            self.timers.push_sleeper(when, task)
        yield SUSPEND

    async def wait(self, fut: Future, deadline: float) -> bool:
        """Wait for ``fut`` until virtual ``deadline``; True if it is done."""
        if fut.done:
            return True
        task = self.current
        if task is None:
            return await self._wait_outside(fut, deadline)
        if deadline != math.inf:  # first: a NaN deadline is refused before anything is set
            self.timers.push_sleeper(max(deadline, self.now), task)
        fut.waiter = lambda: self.resume(task)
        try:
            await suspend()
        finally:
            fut.waiter = None
        return fut.done

    async def _wait_outside(self, fut: Future, deadline: float) -> bool:
        timed_out = Future()
        handle = (
            self.call_at(deadline, lambda: timed_out.set_result(None), True)
            if deadline != math.inf
            else None
        )
        try:
            await self.drive(lambda: fut.done or timed_out.done)
        finally:
            if handle is not None:
                handle.cancel()
        return fut.done

    async def drive(
        self, check: Callable[[], bool] | None, *, until_idle: bool = False, run: bool = False
    ) -> bool:
        """Advance the simulation until ``check()`` holds (or it goes idle, if asked).

        ``check`` is called after every round, so keep it cheap; None means the
        demand is only for idleness. Returns True if it stopped because the
        simulation was idle.
        """
        if self.current is not None:
            raise VirtualTimeError(
                "agent code cannot wait for the whole simulation (join, run, remove of "
                "itself) from inside virtual time"
            )
        if check is not None and check():
            await trio.lowlevel.checkpoint()
            return False
        demand = Demand(check, until_idle, run)
        # Nobody else is driving and the driver (if any) is parked: advance in this
        # task, with no handoff to the driver and back (two trio scheduler passes).
        here = not self._demands and (self._parked or not self._driver_started)
        if not self._demands:
            self._anchor()  # real time spent with nobody driving does not count
            seen = watcher()
            seen.driving.append(self)
            # Nothing was watched while nobody drove, but what was scheduled was counted.
            self.settled = self.settled and seen.only_since(
                self._quiet_mark, trio.lowlevel.current_task()
            )
        self._demands.append(demand)
        if check is not None:
            self._checked.append(demand)
        try:
            if here:
                await trio.lowlevel.checkpoint_if_cancelled()
                await self._drive_here(demand)
            elif not self._here:  # else that task hands over to the driver when done
                self._start_driver()
                self.poke()
            if not demand.event.is_set():
                await demand.event.wait()
        finally:
            self._retire(demand)
        if demand.error is not None:
            raise RuntimeError("the virtual-time scheduler failed") from demand.error
        return demand.idle

    def set_speed(self, speed: float | None) -> None:
        """Pace at ``speed`` from the current virtual time on (None: jump)."""
        self.speed = speed
        self._anchor()
        self.poke()

    def end_runs(self) -> None:
        """End the demands of container runs now (a pause), once the current step is done."""
        for demand in [demand for demand in self._demands if demand.run]:
            self._retire(demand)
            demand.event.set()
            self._halt = True  # the driver stops after this step, as for a check that hit

    def next_event(self) -> float | None:
        """When the next event that keeps the simulation busy is due, or None."""
        if self.next_round or self._outbox:
            return self.now
        return self.timers.next_blocking_when()

    def poke(self) -> None:
        """Tell a waiting driver that something changed.

        No flag is needed for a poke that comes while the driver is busy: it never
        awaits between deciding to wait and creating the event it waits on.
        """
        if self.wake_event is not None:
            self.wake_event.set()

    # ---- the driver ----------------------------------------------------------------------

    def _start_driver(self) -> None:
        if not self._driver_started:
            self._driver_started = True
            trio.lowlevel.spawn_system_task(self._drive_forever, name="triomas-virtual-time")

    async def _drive_forever(self) -> None:
        watcher().drivers.add(trio.lowlevel.current_task())
        while True:
            if not self._demands:
                self._parked = True
                try:
                    await self._wait_poke(math.inf)
                finally:
                    self._parked = False
                continue
            advanced = self._advance_guarded()
            if advanced is None:
                continue
            state, real_deadline = advanced
            if state is State.PROGRESS:
                await trio.lowlevel.checkpoint()
            elif state is State.SETTLE:
                await self._settle()
            elif state is State.IDLE:
                await self._wait_poke(math.inf)
                self._anchor()
            else:
                await self._wait_poke(real_deadline)
                self._catch_up()

    async def _drive_here(self, demand: Demand) -> None:
        """Advance in the task that awaits ``demand`` until it is met, or until the
        simulation must wait for a poke or for real time: the driver takes over then,
        and whatever still waits when this task is done or cancelled. The same rounds in
        the same context as the driver's; this task counts as a driver meanwhile, and
        the parked driver's event is put aside (work made by the agents must not wake it)."""
        task = trio.lowlevel.current_task()
        seen = watcher()
        seen.drivers.add(task)
        parked, self.wake_event = self.wake_event, None
        self._here = True
        yielded = False
        ended = False  # by an error or a cancel: this task's demand is no one's to serve
        try:
            while not demand.event.is_set():
                advanced = self._advance_guarded()
                if advanced is None or demand.event.is_set():
                    break
                if advanced[0] is State.PROGRESS:
                    await trio.lowlevel.checkpoint()
                elif advanced[0] is State.SETTLE:
                    await self._settle()
                else:
                    break
                yielded = True
            # A loop of runs that never wait would never let trio schedule anyone else.
            self._unyielded = 0 if yielded else self._unyielded + 1
            if self._unyielded >= _RUNS_PER_CHECKPOINT:
                self._unyielded = 0
                await trio.lowlevel.checkpoint()
        except BaseException:
            ended = True
            raise
        finally:
            self._here = False
            seen.drivers.discard(task)
            self.wake_event = parked
            if any(other is not demand or not ended for other in self._demands):
                self._start_driver()
                self.poke()

    def _advance_guarded(self) -> tuple[State, float] | None:
        # None if the scheduler failed: a runtime bug, surfaced to every demand, while
        # the trio run lives on.
        young = widen_young()
        try:
            advanced = self._context.run(self._advance)
        except BaseException as exc:
            log.exception("the virtual-time scheduler failed")
            demands, self._demands, self._checked = self._demands, [], []
            if demands:
                self._quiet()
            for demand in demands:
                demand.error = exc
                demand.event.set()
            if not isinstance(exc, Exception):
                raise
            return None
        finally:
            scope, self.shield_scope = self.shield_scope, None
            if scope is not None:
                scope.__exit__(None, None, None)
            restore_young(young)
        return advanced

    def shield(self) -> None:
        """Shield the rest of this stretch of advancing, before a coroutine's first step
        in it: the check for a trio scope left open across a wait (VTask.run_step) then
        looks one cancel status away. A stretch of plain handlers pays nothing for it."""
        if self.shield_scope is None:
            scope = trio.CancelScope(shield=True)
            scope.__enter__()
            self.shield_scope = scope

    async def _settle(self) -> None:
        # Before the clock jumps or the run is declared idle, let every other trio task
        # run until it blocks: an outside task that was just started must get its
        # inputs in at the current time, whatever order trio picks. A task that never
        # blocks (a busy live container in the same run) only delays this a little.
        with trio.move_on_after(0.01):
            await trio.testing.wait_all_tasks_blocked()
        self.settled = True

    async def _wait_poke(self, deadline: float) -> None:
        self.wake_event = trio.Event()
        with trio.move_on_at(deadline):
            await self.wake_event.wait()
        self.wake_event = None

    def _anchor(self) -> None:
        self._real_anchor = trio.current_time()
        self._virt_anchor = self.now

    def _catch_up(self) -> None:
        # After a real-time wait, virtual time follows the real time that passed.
        if self.speed is not None:
            elapsed = (trio.current_time() - self._real_anchor) * self.speed
            self.now = max(self.now, min(self._virt_anchor + elapsed, self._next_time()))

    def _next_time(self) -> float:
        when = self.timers.next_when()
        return math.inf if when is None else when

    def _advance(self) -> tuple[State, float]:
        for _ in range(_ROUNDS_PER_CHECKPOINT):
            if self._halt:
                self._halt = False
                return State.PROGRESS, 0.0
            # PERF: the flush and the round are inlined: this loop runs once per round
            # (virtual ping-pong in benchmarks/run.py).
            # Two lists each, swapped and cleared rather than made anew every round.
            outbox = self._outbox
            if outbox:
                self._outbox = self._spare_outbox
                if len(outbox) == 4:  # one message (ping-pong): no iterator to set up
                    cell, item, sender, sent_at = outbox
                    if sender is None:
                        cell.accept(item)
                    else:
                        cell.accept_tell(item, sender, sent_at)
                else:
                    entries = iter(outbox)
                    for cell, item, sender, sent_at in zip(
                        entries, entries, entries, entries, strict=True
                    ):
                        if sender is None:
                            cell.accept(item)
                        else:
                            cell.accept_tell(item, sender, sent_at)
                outbox.clear()
                self._spare_outbox = outbox
            batch = self.next_round
            if batch:
                self.rounds += 1
                self.next_round = self._spare_round
                for item in batch:
                    # Each agent in its own contextvars, as each trio task is in real time.
                    # PERF: the function and the item, not a bound method made per step.
                    context = item.context
                    if context is None:
                        item.run_step()
                    else:
                        context.run(type(item).run_step, item)
                batch.clear()
                self._spare_round = batch
                if self._checked and self._check(idle=False):
                    return State.PROGRESS, 0.0
                continue
            if not self.settled:
                return State.SETTLE, 0.0
            timers = self.timers
            when = timers.next_when()
            horizon = self.horizon()
            if when is None or timers.blocking == 0 or when > horizon:
                if horizon != math.inf and (when is None or when > horizon):
                    self.now = max(self.now, horizon)
                self._check(idle=True)
                return State.IDLE, 0.0
            if self.speed is not None:
                real_target = self._real_anchor + (when - self._virt_anchor) / self.speed
                if trio.current_time() < real_target:
                    return State.REAL_WAIT, real_target
            self.now = when
            # Same-time entries in one batch, in (time, sequence) order; a sleeper is
            # resumed inline (see resume()), a handle's callback runs.
            next_round = self.next_round
            for due in timers.pop_at(when):
                if type(due) is VTask:
                    if due.waiting:
                        due.waiting = False
                        if not due.ready:
                            due.ready = True
                            next_round.append(due)
                else:
                    assert type(due) is TimerHandle
                    timers.fire(due)
            if self._checked and self._check(idle=False):
                return State.PROGRESS, 0.0
        return State.PROGRESS, 0.0

    def _check(self, *, idle: bool) -> bool:
        # A satisfied demand leaves the lists at once, so the driver stops before its
        # waiter runs again: run(seconds=5) must leave the clock at 5.
        hit = False
        for demand in list(self._demands):
            if demand.check is not None and demand.check():
                hit = True
            elif idle and demand.until_idle:
                demand.idle = True
                hit = True
            else:
                continue
            self._retire(demand)
            demand.event.set()
        return hit

    def _quiet(self) -> None:
        # The last demand left: count what is scheduled from now on (see drive()).
        seen = watcher()
        seen.driving.remove(self)
        self._quiet_mark = seen.count

    def _retire(self, demand: Demand) -> None:
        if demand in self._demands:
            self._demands.remove(demand)
            if not self._demands:
                self._quiet()
        if demand in self._checked:
            self._checked.remove(demand)

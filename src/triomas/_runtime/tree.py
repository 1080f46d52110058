"""The supervising side of a parent: restart decisions, intensity, escalation, ordered stop.

Every agent has a parent :class:`Supervision`: the container's root, a
:class:`Supervisor`'s, or that of any agent that spawned children. When an
incarnation ends, its parent decides synchronously what happens to the agent's
address and mailbox: they are held for a restart, or the agent stops for good.
The slow parts (stopping siblings one by one, backoff delays, ordered starts)
run in a task of the runtime.
"""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from typing import TYPE_CHECKING

from .._messages.errors import SupervisorCrashed, SupervisorEscalation
from .._messages.events import ChildExited, ExitReason, Failure, Fatal, Shutdown, ShutdownOverrun
from .._supervision.spec import AutoShutdown, Backoff, Decider, Directive, Strategy
from .._time.future import Future
from .lifecycle import Life, StopKind

if TYPE_CHECKING:
    from .._messages.ref import AgentRef
    from .cell import Cell
    from .container import Container

log = logging.getLogger("triomas")

KILL_GRACE = 1.0
"""Seconds after a cancel before a child that has not ended is reported as an overrun."""


class Supervision:
    """The children of one parent and the rules they are restarted by."""

    __slots__ = (
        "_rng",
        "_wake",
        "auto_shutdown",
        "backoff",
        "children",
        "closing",
        "concurrent_stop",
        "container",
        "decider",
        "history",
        "max_restarts",
        "owner",
        "pending",
        "period",
        "running",
        "strategy",
    )

    def __init__(
        self,
        container: Container,
        owner: Cell | None,
        *,
        strategy: Strategy = "one_for_one",
        max_restarts: int = 1,
        period: float = 5.0,
        backoff: Backoff | None = None,
        auto_shutdown: AutoShutdown = "never",
        decider: Decider | None = None,
        concurrent_stop: bool = False,
    ) -> None:
        self.container = container
        self.owner = owner
        self.strategy = strategy
        self.max_restarts = max_restarts
        self.period = period
        self.backoff = backoff
        self.auto_shutdown = auto_shutdown
        self.decider = decider
        self.concurrent_stop = concurrent_stop
        # In start order; a dict, so that removing one (at every final stop) is O(1).
        self.children: dict[Cell, None] = {}
        self.history: deque[float] = deque()
        self.closing = False
        self.pending: deque[tuple[Cell, float]] = deque()
        self.running = False
        self._wake: Future | None = None
        self._rng: random.Random | None = None

    @property
    def name(self) -> str:
        """The supervising agent's name, or ``"root"``."""
        return "root" if self.owner is None else self.owner.name

    @property
    def ref(self) -> AgentRef | None:
        """The supervising agent's reference (None for the root)."""
        return None if self.owner is None else self.owner.ref

    # ---- decisions -----------------------------------------------------------------------

    def decide(self, cell: Cell, exc: Exception) -> Directive:
        """Ask the decider what to do about ``exc`` raised by ``cell``."""
        if self.decider is None:
            return Directive.RESTART
        try:
            directive = self.decider(cell.ref, exc)
        except Exception:
            log.exception(
                "the decider of supervisor %s raised; restarting %s", self.name, cell.name
            )
            return Directive.RESTART
        if not isinstance(directive, Directive):
            log.error("the decider of %s returned %r, not a Directive", self.name, directive)
            return Directive.RESTART
        return directive

    def child_exited(self, cell: Cell, reason: ExitReason) -> None:
        """An incarnation of ``cell`` ended: hold it for a restart, or stop it for good."""
        kind = cell.stop_kind
        restart = cell.opts.restart
        if kind is StopKind.GROUP:
            if restart == "temporary":
                self._final(cell, reason)
            else:
                self._hold(cell, reason)
            return
        if isinstance(reason, Fatal):
            self._final(cell, reason)
            self._escalate(cell, reason.exception, fatal=True)
            return
        if kind is StopKind.ESCALATE:
            self._final(cell, reason)
            self._escalate(cell, _cause(reason))
            return
        wanted = (
            kind is StopKind.OWN
            and not self.closing
            and cell.ever_started()
            and (restart == "permanent" or (restart == "transient" and isinstance(reason, Failure)))
        )
        if not wanted:
            self._final(cell, reason)
            if kind is StopKind.OWN and cell.opts.significant:
                self._auto_shutdown()
            return
        delay = self._count(cell)
        if delay is None:
            self._final(cell, reason)
            self._escalate(cell, _cause(reason))
            return
        self._hold(cell, reason)
        if self.strategy == "one_for_one":
            if delay > 0:
                cell.restart_timer = cell.engine.call_at(
                    cell.engine.now() + delay, lambda: self._restart_later(cell), True
                )
            else:
                cell.reincarnate()
        else:
            self.pending.append((cell, delay))
            self._run_groups()

    def _count(self, cell: Cell) -> float | None:
        """Record a restart; its delay, or None if it goes past the limit."""
        now = cell.engine.now()
        history = self.history
        oldest = now - self.period
        while history and history[0] < oldest:  # inclusive window, as in OTP
            history.popleft()
        history.append(now)
        backoff = self.backoff
        if backoff is not None:  # the window only keeps the record; the limit is in a row
            if cell.up_since >= 0 and now - cell.up_since >= backoff.reset_time:
                cell.in_row = 0
            cell.in_row += 1
            if cell.in_row > backoff.max_in_row:
                return None
            return backoff.delay(cell.in_row, self.rng())
        return None if len(history) > self.max_restarts else 0.0

    def rng(self) -> random.Random:
        """The generator of backoff jitter, seeded from the run's seed and this supervisor."""
        if self._rng is None:
            self._rng = random.Random(f"{self.container.seed}/{self.name}/backoff")
        return self._rng

    def _hold(self, cell: Cell, reason: ExitReason) -> None:
        cell.life = Life.RESTARTING
        self._announce(cell, reason, True)

    def _final(self, cell: Cell, reason: ExitReason) -> None:
        self.children.pop(cell, None)
        if cell.ties is not None and cell.restart_timer is not None:
            cell.restart_timer.cancel()
            cell.restart_timer = None
        cell.life = Life.STOPPED
        self._announce(cell, reason, False)
        self.container._registry.stopped(cell, reason)

    def _announce(self, cell: Cell, reason: ExitReason, will_restart: bool) -> None:
        container = self.container
        if will_restart:
            container._router.trace_event(cell.name, "restart", str(reason))
        if container._router.listened(ChildExited):
            container._router.emit(
                ChildExited(self.ref, cell.ref, cell.incarnation, reason, will_restart)
            )

    def _restart_later(self, cell: Cell) -> None:
        cell.restart_timer = None
        if cell.life is Life.RESTARTING and not self.closing:
            cell.reincarnate()

    def _auto_shutdown(self) -> None:
        owner = self.owner
        if owner is None or self.auto_shutdown == "never":
            return
        if self.auto_shutdown == "all_significant" and any(
            child.opts.significant for child in self.children
        ):
            return
        owner.request_stop(Shutdown("auto_shutdown"))

    def _escalate(self, cell: Cell, cause: BaseException, *, fatal: bool = False) -> None:
        if self.closing:
            return
        self.closing = True
        self._poke()
        if fatal:
            error = cause
        else:
            error = SupervisorEscalation(self.name, cell.name, list(self.history))
            error.__cause__ = cause
        log.error("%s", error)
        if self.owner is None:
            self.container._fail(error)
        elif fatal:
            self.owner.fail_fatal(error)
        else:
            self.owner.crash(error, interrupt=True)

    # ---- group restarts ------------------------------------------------------------------

    def _run_groups(self) -> None:
        if not self.running:
            self.running = True
            self.container._engine.spawn_system(self._groups)

    async def _groups(self) -> None:
        try:
            await self._group_restarts()
        except Exception as exc:
            self.crashed(exc, None)
        finally:
            self.running = False

    async def _group_restarts(self) -> None:
        engine = self.container._engine
        while self.pending and not self.closing:
            trigger, delay = self.pending.popleft()
            if trigger.life is not Life.RESTARTING or trigger not in self.children:
                continue  # stale: a group restart already took care of it
            order = list(self.children)
            group = order[0 if self.strategy == "one_for_all" else order.index(trigger) :]
            for child in reversed(group):
                if child is not trigger:
                    await self.terminate(child, Shutdown("group restart"), group=True)
            if delay > 0:
                self._wake = Future()
                await engine.wait(self._wake, engine.now() + delay)
            for child in group:
                if self.closing:
                    return
                if child.life is Life.RESTARTING and child in self.children:
                    child.reincarnate()
                    await engine.wait(child.when_up(), math.inf)

    def crashed(self, exc: Exception, cell: Cell | None) -> None:
        """The decision code itself raised: cancel every child at once and fail upward.

        ``cell`` is the child whose exit was being decided; it is stopped for good.
        """
        log.critical("supervisor %s crashed; cancelling its children", self.name, exc_info=exc)
        if cell is not None and cell.life is not Life.STOPPED:
            self.children.pop(cell, None)
            cell.life = Life.STOPPED
            self.container._registry.stopped(
                cell, cell.exit_reason or Shutdown("supervisor crashed")
            )
        self.closing = True
        self._poke()
        for child in list(self.children):
            child.stop_kind = StopKind.FINAL
            child.request_stop(Shutdown("supervisor crashed"))
            child.engine.interrupt(child)
        error = SupervisorCrashed(f"supervisor {self.name} crashed: {exc!r}")
        error.__cause__ = exc
        if self.owner is None:
            self.container._fail(error)
        else:
            self.owner.crash(error, interrupt=True)

    def _poke(self) -> None:
        wake, self._wake = self._wake, None
        if wake is not None:
            wake.set_result(None)

    # ---- stopping children ---------------------------------------------------------------

    async def terminate(
        self,
        cell: Cell,
        reason: ExitReason,
        timeout: float | None = None,
        *,
        group: bool = False,
    ) -> None:
        """Stop one child under its shutdown policy and wait until it has ended.

        Graceful first (it finishes its current message; teardown runs); after
        ``timeout`` (default: its ``shutdown``) its work is cancelled; if it still
        has not ended ``KILL_GRACE`` later, a :class:`ShutdownOverrun` is reported
        and the wait goes on. ``group``: it is to be started again afterwards.
        """
        if cell.life is Life.STOPPED:
            return
        if cell.life is Life.RESTARTING:
            if not group:
                cell.stop_kind = StopKind.FINAL
                self._final(cell, cell.exit_reason or reason)
            return
        if not group or cell.stop_kind is StopKind.OWN:
            cell.stop_kind = StopKind.GROUP if group else StopKind.FINAL
        engine = cell.engine
        done = cell.when_stopped()
        started = engine.now()
        cell.request_stop(reason)
        if done.done or engine.is_current(cell):
            return
        grace = cell.opts.shutdown if timeout is None else timeout
        if grace > 0 and await engine.wait(done, started + grace):
            return
        engine.interrupt(cell)
        if await engine.wait(done, engine.now() + KILL_GRACE):
            return
        log.warning("agent %s has not ended %.1f s after it was cancelled", cell.name, KILL_GRACE)
        self.container._router.emit(ShutdownOverrun(cell.ref, engine.now() - started))
        await engine.wait(done, math.inf)

    async def shutdown(self, reason: ExitReason) -> None:
        """Stop every child: one by one in reverse start order, or all at once if dynamic."""
        self.closing = True
        self._poke()
        while self.children:
            if self.concurrent_stop:
                await self._stop_together(reason)
            else:
                for cell in reversed(self.children.copy()):
                    await self.terminate(cell, reason)

    async def _stop_together(self, reason: ExitReason) -> None:
        engine = self.container._engine
        cells = list(self.children)
        dones = []
        deadline = engine.now() + max((cell.opts.shutdown for cell in cells), default=0.0)
        for cell in cells:
            if cell.life is Life.RESTARTING:
                await self.terminate(cell, reason)
                continue
            cell.stop_kind = StopKind.FINAL
            dones.append((cell, cell.when_stopped()))
            cell.request_stop(reason)
        for cell, done in dones:
            if not await engine.wait(done, deadline):
                engine.interrupt(cell)
        for _, done in dones:
            await engine.wait(done, math.inf)


def _cause(reason: ExitReason) -> BaseException:
    if isinstance(reason, (Failure, Fatal)):
        return reason.exception
    return RuntimeError(f"child ended: {reason}")

"""The cell: the runtime side of one agent, and the context the agent reaches it through.

A cell holds one agent's identity (name, reference, incarnation), its lifecycle (start,
restart, stop, teardown), its alarms and side tasks, and its mailbox (the
:class:`~.mailbox.Mailbox` half). It implements :class:`~triomas._agent.context.AgentContext`
(:mod:`.context` holds those methods); the scheduler's part of it is the engine's
(:mod:`.engine`), and dispatch is :mod:`.dispatch`'s.
"""

from __future__ import annotations

import contextvars
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast, final

from .._agent.agent import make_agent
from .._agent.context import Cancellable, Recipient
from .._agent.handlers import ClassInfo
from .._agent.options import LifeOptions
from .._messages.envelope import Envelope
from .._messages.errors import AgentStateError, CalleeDown, HandlerFailed
from .._messages.events import ExitReason, Failure, Fatal, Normal, Shutdown
from .._messages.ref import AgentRef
from .._supervision.spec import Directive
from .._time.future import Future
from .._time.timers import TimerHandle
from . import context, dispatch
from . import mailbox as _mailbox
from . import router as _router
from . import tells as _tells
from . import watch as _watch
from .engine import RunState
from .lifecycle import Life, StopKind
from .mailbox import NO_MAIL
from .ties import Rare, Ties
from .tree import Supervision
from .watch import Far

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .._time.clock import Clock
    from .container import Container
    from .engine import Engine
    from .mailbox import Bound
    from .passivation import Passivation
    from .router import Router

log = logging.getLogger("triomas")

# PERF: a global lookup is cheaper than an enum attribute (a BDI agent asks whether it
# runs at every event it selects at once: bdi_tell_* in benchmarks/run.py).
_RUNNING = Life.RUNNING

__all__ = ["Cell", "Life", "RunState", "StopKind"]


def _fire_alarm(handle: TimerHandle) -> None:
    cell = cast("Cell", handle.payload)
    alarms = cell.alarms
    env = alarms.pop(handle, None) if alarms is not None else None
    if type(env) is Envelope:
        cell.engine.deliver(cell, env)
    elif env is not None:  # an alarm set for another agent: sent from this one now
        cell.router.send(
            cell, env.to, env.body, env.topic, False, None, None, None, None, None, None
        )


@final
class _AlarmFor:
    """An alarm set for another agent: what to send when it is due, and to whom."""

    __slots__ = ("body", "to", "topic")

    def __init__(self, body: Any, to: Recipient, topic: str) -> None:
        self.body = body
        self.to = to
        self.topic = topic


class Cell:
    """The runtime side of one agent."""

    __slots__ = (
        "_rng",
        "agent",
        "alarms",
        "args",
        "bound",
        "busy",
        "compact",
        "context",
        "current",
        "deliver",
        "engine",
        "exit_reason",
        "first_update",
        "handled",
        "incarnation",
        "info",
        "life",
        "mailbox",
        "main_task",
        "name",
        "opts",
        "parent",
        "parked_task",
        "passivation",
        "received",
        "ref",
        "router",
        "run_state",
        "scope",
        "sent",
        "setup_started",
        "sleep",
        "stop_kind",
        "stop_waiters",
        "ties",
        "up_since",
    )

    # Kept in the cell's Ties, made on first use (see .ties).
    in_row: Rare[int] = Rare(0)  # consecutive failures, for backoff
    kids: Rare[Supervision | None] = Rare(None)  # made when it spawns a child
    kwargs: Rare[dict[str, Any] | None] = Rare(None)  # for the next incarnation
    links: Rare[dict[Cell | Far, None] | None] = Rare(None)
    restart_timer: Rare[TimerHandle | None] = Rare(None)
    tasks: Rare[set[Any] | None] = Rare(None)
    teardown_scope: Rare[Any] = Rare(None)
    up_waiters: Rare[list[Future] | None] = Rare(None)
    watchers: Rare[dict[Any, Cell | Far] | None] = Rare(None)  # monitors on this agent
    watching: Rare[dict[Any, Cell | Far] | None] = Rare(None)  # monitors this agent holds

    def __init__(
        self,
        router: Router,
        cls: type[Agent],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        opts: LifeOptions,
        parent: Supervision,
    ) -> None:
        self.router = router
        self.engine: Engine = router.engine
        # PERF: the engine's sleep itself (one bound method per container): an agent's
        # sleep calls it with no frame of the runtime between (docs/internals.md).
        self.sleep = router.engine_sleep
        # How messages reach this cell: the engine's way, or a Bound's (see _mailbox).
        self.deliver: Callable[[Cell, Envelope], None] = self.engine.deliver
        self.bound: Bound | None = None
        self.passivation: Passivation | None = None
        self.name = name
        self.ref = AgentRef(router.address, name, cell=self)
        self.info: ClassInfo = cls._triomas_info
        # Envelopes, or a plain tell as three entries (see accept_tell).
        self.mailbox: deque[Any] = NO_MAIL
        # In virtual time the agent's own contextvars, copied from its spawner's as a
        # trio task's are (a live agent runs in trio tasks, which have their own).
        self.context: contextvars.Context | None = (
            contextvars.copy_context() if self.engine.virtual else None
        )
        # Whether plain tells may wait as three entries: only where live delivery is
        # immediate and the mailbox is unbounded, and until code reads it by hand.
        # In virtual time, only for agents whose handlers want no envelope: the tell
        # waits in the round's outbox as its parts, and one made at the other end
        # would cost more than the one it saves (virtual ping-pong in benchmarks/).
        self.compact = opts.capacity is None and (
            self.deliver is Cell.accept or (self.engine.virtual and self.info.plain_tells)
        )
        self.life = Life.NEW
        self.run_state = RunState.IDLE
        self.exit_reason: ExitReason | None = None
        self.setup_started = False
        self.first_update = False
        # Counted over every incarnation, for stats(): messages given to a handler,
        # that arrived in the mailbox, and sent (tells, asks, publishes); and the
        # seconds (wall clock) spent handling them.
        self.handled = 0
        self.received = 0
        self.sent = 0
        self.busy = 0.0
        self.current: Envelope | None = None
        self.alarms: dict[TimerHandle, Envelope | _AlarmFor] | None = None
        # The rarely set fields (see .ties): made on first use.
        self.ties: Ties | None = None
        self.stop_waiters: list[Future] | None = None  # a slot: every close sets it
        self.main_task: Any = None
        self.parked_task: Any = None
        self.scope: Any = None
        self.opts = opts
        self.parent = parent
        # What a restart needs to make the next incarnation (no object when empty).
        self.args = args
        if kwargs:  # kept in the Ties: most agents take none
            self.kwargs = kwargs
        self.incarnation = 1
        self.stop_kind = StopKind.OWN
        self.up_since = -1.0  # clock time setup() finished in this incarnation
        self._rng: random.Random | None = None
        self.agent = agent = make_agent(cls, self)
        cls.__init__(agent, *args, **kwargs)

    def start(self) -> None:
        """Start the incarnation: at once if setup() and update() do nothing, else activate."""
        if self.info.plain_start and not self.agent.keep_awake and self.exit_reason is None:
            self.enter_setup()
            self.router.registry.started(self)
            if self.mailbox:
                self.engine.activate(self)
        else:
            self.engine.activate(self)

    def enter_setup(self) -> None:
        """The incarnation's ``setup()`` begins."""
        self.life = Life.RUNNING
        self.setup_started = True
        self.router.trace_event(self.name, "setup", "")

    def when_stopped(self) -> Future:
        """A future that is set when the incarnation has stopped."""
        fut = Future()
        if self.stop_waiters is None:
            self.stop_waiters = []
        self.stop_waiters.append(fut)
        return fut

    def when_up(self) -> Future:
        """A future set when this incarnation's setup() has finished (the init-ack).

        If the incarnation ends first, it holds the failure (or :exc:`CalleeDown`).
        """
        fut = Future()
        if self.up_since >= 0 and self.life is Life.RUNNING:
            fut.set_result(None)
        else:
            if self.up_waiters is None:
                self.up_waiters = []
            self.up_waiters.append(fut)
        return fut

    def mark_up(self) -> None:
        """setup() has finished: release the init-ack waiters."""
        self.up_since = self.engine.now()
        if self.passivation is not None:
            self.passivation.start()
        waiters, self.up_waiters = self.up_waiters, None
        for fut in waiters or ():
            fut.set_result(None)

    def ever_started(self) -> bool:
        """Whether some incarnation got through setup(): a first start is never retried."""
        return self.incarnation > 1 or self.up_since >= 0

    def reincarnate(self) -> None:
        """Start a new incarnation at the same address, with the same mailbox."""
        cls = type(self.agent)
        self.incarnation += 1
        self.life = Life.NEW
        self.exit_reason = None
        self.setup_started = False
        self.first_update = False
        self.current = None
        self.stop_kind = StopKind.OWN
        self.up_since = -1.0
        self.kids = None
        self.agent = agent = make_agent(cls, self)
        try:
            cls.__init__(agent, *self.args, **(self.kwargs or {}))
        except Exception as exc:
            self.crash(exc)
        self.start()

    @property
    def container(self) -> Container:
        """The container this agent lives in (through its router: one slot less a cell)."""
        return self.router.container

    def supervision(self) -> Supervision:
        """This agent's supervision of its children, made when it spawns the first."""
        if self.kids is None:
            self.kids = Supervision(self.container, self)
        return self.kids

    def add_task(self, task: Any) -> None:
        """Remember a task started beside the mailbox (a cancel scope or a virtual task)."""
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)

    def discard_task(self, task: Any) -> None:
        """Forget a task that ended."""
        if self.tasks:
            self.tasks.discard(task)

    def rng(self) -> random.Random:
        """The agent's random generator, made on first use (it costs 2.5 KB)."""
        if self._rng is None:
            self._rng = random.Random(f"{self.router.container.seed}/{self.name}")
        return self._rng

    @property
    def alive(self) -> bool:
        """Whether the incarnation has not stopped."""
        return self.life is not Life.STOPPED

    def has_work(self) -> bool:
        """Whether an activation would have something to do right now."""
        return bool(
            self.exit_reason is not None
            or self.life is Life.NEW
            or self.first_update
            or self.mailbox
            or self.agent.keep_awake
        )

    # ---- the mailbox half (see .mailbox) ------------------------------------------------

    own_mailbox = _mailbox.own_mailbox
    real_mailbox = _mailbox.real_mailbox
    expand = _mailbox.expand
    take = _mailbox.take
    drop_waiting = _mailbox.drop_waiting
    accept = _mailbox.accept
    accept_tell = _mailbox.accept_tell
    accept_system = _mailbox.accept_system

    # ---- the AgentContext its agent reaches the runtime through (see .context) ----------

    @property
    def clock(self: Cell) -> Clock:
        """The container's clock."""
        return self.container.clock

    @property
    def running(self: Cell) -> bool:
        """Whether the incarnation is up and not ending."""
        return self.life is _RUNNING and self.exit_reason is None

    @property
    def tracing(self: Cell) -> bool:
        """Whether a trace recorder is attached."""
        return self.router.trace is not None

    now = context.now
    sleep_until = context.sleep_until
    wait = context.wait
    current_task = context.current_task
    trace = context.trace
    dispatch_waiting = context.dispatch_waiting
    tell = _tells.tell
    send = context.send
    send_wait = context.send_wait
    ask = _router.ask
    reply = context.reply
    reply_error = context.reply_error
    publish = context.publish
    subscribe = context.subscribe
    unsubscribe_all = context.unsubscribe_all
    monitor = context.monitor
    demonitor = context.demonitor
    link = context.link
    unlink = context.unlink
    stop = context.stop
    spawn_child = context.spawn_child
    children = context.children
    supervise = context.supervise
    start_child = context.start_child
    stop_children = context.stop_children
    stop_child = context.stop_child
    restarts = context.restarts

    # PERF: the virtual scheduler steps all-sync agents with no coroutine (see dispatch).
    run_step = dispatch.run_step

    # ---- ending --------------------------------------------------------------------------

    def crash(
        self, exc: BaseException, env: Envelope | None = None, *, interrupt: bool = False
    ) -> None:
        """The incarnation failed with ``exc`` (``env``: the message being handled).

        ``interrupt`` is for crashes outside the main activation: it is cancelled
        (or started) so that it ends the incarnation.
        """
        if isinstance(exc, Exception) and self.exit_reason is None:
            directive = self.parent.decide(self, exc)
            if directive is Directive.RESUME:
                log.warning("agent %s resumes after %s: %s", self.name, type(exc).__name__, exc)
                if env is not None and env.reply_with is not None:
                    failed = HandlerFailed(f"the handler of {type(env.body).__name__} raised")
                    failed.__cause__ = exc
                    self.router.reply_error(env, failed)
                return
            if directive is Directive.STOP:
                self.stop_kind = StopKind.STOP
            elif directive is Directive.ESCALATE:
                self.stop_kind = StopKind.ESCALATE
        if env is not None and env.reply_with is not None:
            error = CalleeDown(self.ref.address, Failure(exc))
            error.__cause__ = exc
            self.router.reply_error(env, error)
        if self.exit_reason is None:
            self.exit_reason = Failure(exc)
            log.error(
                "agent %s crashed: %s: %s",
                self.ref.address,
                type(exc).__name__,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
                extra={
                    "agent": self.name,
                    "container": self.ref.container,
                    "clock": self.engine.now(),
                },
            )
            if interrupt:
                self.engine.interrupt(self)

    def fail_fatal(self, exc: BaseException) -> None:
        """Agent code raised a BaseException that ends its tree (``KeyboardInterrupt``,
        ``SystemExit``, any but the runtime's cancellations): end without restart."""
        if not isinstance(self.exit_reason, Fatal):
            self.exit_reason = Fatal(exc)
            if not self.engine.is_current(self):
                self.engine.interrupt(self)

    def request_stop(self, reason: ExitReason | None) -> None:
        """Ask the agent to stop after its current message (``None``: it stops itself)."""
        if self.exit_reason is not None or self.life is Life.STOPPED:
            return
        self.exit_reason = Normal() if reason is None else reason
        ties = self.ties
        if (
            self.run_state is RunState.IDLE
            and self.info.plain_teardown
            and (ties is None or (not ties.tasks and not (ties.kids and ties.kids.children)))
        ):
            if self._begin_finish():
                self._end_finish()
        elif self.run_state is not RunState.ACTIVE:
            self.engine.activate(self)

    async def finish(self) -> None:
        """End the incarnation: tasks, alarms, teardown, mailbox, registry, events."""
        if not self._begin_finish():
            return
        engine = self.engine
        try:
            kids = self.kids
            if kids is not None and kids.children:
                reason = Shutdown(f"supervisor {self.name} stopping")
                await engine.shielded(self, lambda: kids.shutdown(reason), math.inf)
            if self.setup_started and not self.info.plain_teardown:
                try:
                    await engine.shielded(
                        self, self.agent.teardown, engine.now() + self.opts.shutdown
                    )
                except Exception:
                    log.exception("teardown of agent %s raised", self.ref.address)
        finally:
            self._end_finish()

    def _begin_finish(self) -> bool:
        if self.life in (Life.STOPPING, Life.STOPPED, Life.RESTARTING):
            return False
        reason = self.exit_reason
        if reason is None:
            reason = self.exit_reason = Shutdown("cancelled")
        self.life = Life.STOPPING
        current, self.current = self.current, None
        if current is not None and current.reply_with is not None:
            # the handler of this request was cancelled: its caller learns at once
            self.router.reply_error(current, CalleeDown(self.ref.address, reason))
        self.engine.cancel_tasks(self)
        self.clear_alarms(None, None)
        self.router.registry.idle_alarms.pop(self, None)
        if self.passivation is not None:
            self.passivation.cancel()
        return True

    def _end_finish(self) -> None:
        reason = self.exit_reason
        assert reason is not None
        _watch.incarnation_ended(self, reason)
        ups = None
        if self.ties is not None:
            ups, self.ties.up_waiters = self.ties.up_waiters, None
        if ups:
            error = (
                reason.exception
                if isinstance(reason, Failure)
                else CalleeDown(self.ref.address, reason)
            )
            for fut in ups:
                fut.set_error(error)
        waiters, self.stop_waiters = self.stop_waiters, None
        try:
            self.parent.child_exited(self, reason)
        except Exception as exc:
            self.parent.crashed(exc, self)
        for fut in waiters or ():
            fut.set_result(None)

    # ---- alarms and tasks ----------------------------------------------------------------

    def set_alarm(
        self,
        msg: Any,
        at: float | None,
        after: float | None,
        topic: str | None,
        ignore: bool,
        to: Recipient | None = None,
    ) -> TimerHandle:
        """Schedule ``msg`` to arrive in this agent's own mailbox (or be sent ``to``)."""
        engine = self.engine
        now = engine.now()
        when = at if at is not None else now + (after or 0.0)
        ref = self.ref
        topic = topic or type(msg).__name__
        # positional, as in envelope.tell_envelope (keywords cost attrs ~10 %)
        env: Envelope | _AlarmFor = (
            Envelope(msg, ref, ref, topic, None, None, None, None, None, now)
            if to is None
            else _AlarmFor(msg, to, topic)
        )
        if self.alarms is None:
            self.alarms = {}
        # PERF: the cell rides on the handle, no closure: an alarm is an envelope, a
        # handle and a heap entry (GC cost at scale: sim_100k_ticks in benchmarks/).
        handle = engine.call_at(when, _fire_alarm, not ignore, self)
        self.alarms[handle] = env
        if ignore:
            self.router.registry.idle_alarms[self] = None
        return handle

    def clear_alarms(self, topic: str | None, msg_type: type | None) -> int:
        """Cancel the matching pending alarms; how many there were."""
        alarms = self.alarms
        if not alarms:
            return 0
        doomed = [
            handle
            for handle, env in alarms.items()
            if (topic is None or env.topic == topic)
            and (msg_type is None or isinstance(env.body, msg_type))
        ]
        for handle in doomed:
            del alarms[handle]
            handle.cancel()
        return len(doomed)

    def list_alarms(self, topic: str | None, msg_type: type | None) -> list[tuple[float, Any]]:
        """The pending alarms (that match) as ``(clock time, message)``, in firing order."""
        alarms = self.alarms
        if not alarms:
            return []
        pending = sorted(
            (handle.when, handle.timer_seq, env.body)
            for handle, env in alarms.items()
            if handle.pending
            and (topic is None or env.topic == topic)
            and (msg_type is None or isinstance(env.body, msg_type))
        )
        return [(when, body) for when, _, body in pending]

    def drop_idle_alarms(self) -> None:
        """Forget the ``ignore_if_idle`` alarms: the run they were waiting on went idle."""
        if self.alarms:
            for handle in [h for h in self.alarms if not h.blocking]:
                del self.alarms[handle]
                handle.cancel()

    def start_task(
        self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> Cancellable:
        """Start ``fn(*args)`` beside the mailbox; a handle to cancel it."""
        if self.life is not Life.RUNNING or self.exit_reason is not None:
            raise AgentStateError(f"agent {self.name} is not running; it cannot start tasks")
        return self.engine.start_task(self, fn, args)

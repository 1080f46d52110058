"""The cell: one agent's mailbox, lifecycle and dispatch, the same in both schedulers.

The scheduler-specific parts (how an activation runs, how a wait parks) live in
the engines (``_live.py``, ``_virtual.py``); the cell calls them through
``self.engine``.
"""

from __future__ import annotations

import enum
import logging
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from .._agent.handlers import ClassInfo, Handler, complete
from .._messages.envelope import Envelope
from .._messages.errors import AgentStateError, CalleeDown, HandlerFailed
from .._messages.events import ExitReason, Failure, Fatal, Normal, Shutdown
from .._messages.ref import AgentRef
from .._supervision.spec import Directive, LifeOptions
from .._time.future import Future
from .._time.timers import TimerHandle
from . import watch as _watch

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .container import Container
    from .mailbox import Bound
    from .passivation import IdleWatch
    from .tree import Supervision

log = logging.getLogger("triomas")


class RunState(enum.Enum):
    """Whether an activation (a task working the mailbox) exists."""

    IDLE = enum.auto()
    ACTIVE = enum.auto()
    PARKED = enum.auto()


class Life(enum.Enum):
    """Where the incarnation is in its lifecycle."""

    NEW = enum.auto()
    RUNNING = enum.auto()
    STOPPING = enum.auto()
    RESTARTING = enum.auto()
    """Between incarnations: the mailbox keeps what arrives for the next one."""
    STOPPED = enum.auto()


class StopKind(enum.Enum):
    """Who ended the incarnation, when it was not the agent's own doing."""

    OWN = enum.auto()
    """The agent stopped itself or failed: its restart type decides."""
    FINAL = enum.auto()
    """Its supervisor, ``remove``, the container's stop or passivation: never restarted."""
    GROUP = enum.auto()
    """Stopped for a group restart, which starts it again (unless it is temporary)."""
    STOP = enum.auto()
    """Its supervisor's decider said to stop it for good."""
    ESCALATE = enum.auto()
    """Its supervisor's decider said to escalate this failure."""


# Module constants: a global lookup is cheaper than an enum attribute on the hot path.
_IDLE = RunState.IDLE
_ACTIVE = RunState.ACTIVE
_RUNNING = Life.RUNNING
_STOPPED = Life.STOPPED
_RESTARTING = Life.RESTARTING


class Cancellable(Protocol):
    """A task started beside the mailbox, as its engine knows it."""

    def cancel(self) -> None: ...


class Engine(Protocol):
    """What a cell needs from its scheduler (live or virtual)."""

    virtual: bool

    def now(self) -> float: ...
    def deliver(self, cell: Cell, env: Envelope) -> None: ...
    def deliver_system(self, cell: Cell, env: Envelope) -> None: ...
    def activate(self, cell: Cell) -> None: ...
    def in_flight(
        self, cell: Cell, match: Callable[[Envelope], bool] | None = None
    ) -> list[Envelope]: ...
    async def idle(self, cell: Cell) -> bool: ...
    async def after_batch(self, cell: Cell) -> bool: ...
    async def sleep_until(self, when: float) -> None: ...
    async def wait(self, fut: Future, deadline: float) -> bool: ...
    def call_at(
        self, when: float, callback: Callable[[], object], blocking: bool
    ) -> TimerHandle: ...
    def start_task(
        self, cell: Cell, fn: Callable[..., Coroutine[Any, Any, object]], args: tuple[Any, ...]
    ) -> Cancellable: ...
    def current_task(self) -> object: ...
    def interrupt(self, cell: Cell) -> None: ...
    def spawn_system(self, fn: Callable[[], Coroutine[Any, Any, object]]) -> None: ...
    def is_current(self, cell: Cell) -> bool: ...
    def check_outside(self, what: str) -> None: ...
    def cancel_tasks(self, cell: Cell) -> None: ...
    async def shielded(
        self, cell: Cell, thunk: Callable[[], Awaitable[None] | None], deadline: float
    ) -> None: ...
    def kill(self, cell: Cell) -> None: ...


class _NoMail(deque[Envelope]):
    """The mailbox of every cell that has never had mail: a deque costs 760 bytes."""

    def _refuse(self, *args: object) -> None:
        raise AssertionError("the shared empty mailbox must be replaced, not filled")

    append = appendleft = extend = extendleft = insert = _refuse


NO_MAIL = _NoMail()


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


class Cell:
    """The runtime side of one agent."""

    __slots__ = (
        "_rng",
        "agent",
        "alarms",
        "args",
        "bound",
        "compact",
        "container",
        "current",
        "deliver",
        "engine",
        "exit_reason",
        "first_update",
        "idle",
        "in_row",
        "incarnation",
        "info",
        "kids",
        "kwargs",
        "life",
        "links",
        "mailbox",
        "main_task",
        "name",
        "opts",
        "parent",
        "parked_task",
        "ref",
        "restart_timer",
        "run_state",
        "scope",
        "seed",
        "setup_started",
        "stop_kind",
        "stop_waiters",
        "tasks",
        "teardown_scope",
        "up_since",
        "up_waiters",
        "watchers",
        "watching",
    )

    def __init__(
        self,
        container: Container,
        cls: type[Agent],
        name: str,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        opts: LifeOptions,
        parent: Supervision,
    ) -> None:
        self.container = container
        self.engine: Engine = container._engine
        # How messages reach this cell: the engine's way, or a Bound's (see _mailbox).
        self.deliver: Callable[[Cell, Envelope], None] = self.engine.deliver
        self.bound: Bound | None = None
        self.idle: IdleWatch | None = None
        self.name = name
        self.ref = AgentRef(container.address, name, cell=self)
        self.info: ClassInfo = cls._triomas_info
        # Envelopes, or a plain tell as three entries (see accept_tell).
        self.mailbox: deque[Any] = NO_MAIL
        # Whether plain tells may wait as three entries: only where live delivery is
        # immediate and the mailbox is unbounded, and until code reads it by hand.
        self.compact = self.deliver is Cell.accept and opts.capacity is None
        self.life = Life.NEW
        self.run_state = RunState.IDLE
        self.exit_reason: ExitReason | None = None
        self.setup_started = False
        self.first_update = False
        self.current: Envelope | None = None
        self.alarms: dict[TimerHandle, Envelope] | None = None
        self.tasks: set[Any] | None = None  # made on first use, as stop_waiters: GC cost
        self.main_task: Any = None
        self.parked_task: Any = None
        self.scope: Any = None
        self.teardown_scope: Any = None
        self.opts = opts
        self.parent = parent
        self.kids: Supervision | None = None  # made when it spawns a child
        # What a restart needs to make the next incarnation (no object when empty).
        self.args = args
        self.kwargs = kwargs or None
        self.incarnation = 1
        self.stop_kind = StopKind.OWN
        self.restart_timer: TimerHandle | None = None
        self.up_since = -1.0  # clock time setup() finished in this incarnation
        self.in_row = 0  # consecutive failures, for backoff
        self.up_waiters: list[Future] | None = None
        self.stop_waiters: list[Future] | None = None
        self.watchers: dict[Any, Cell] | None = None  # monitors on this agent
        self.watching: dict[Any, Cell] | None = None  # monitors this agent holds
        self.links: dict[Cell, None] | None = None
        self.seed = f"{container.seed}/{name}"
        self._rng: random.Random | None = None
        agent = cls.__new__(cls)
        agent._cell = self
        self.agent = agent
        cls.__init__(agent, *args, **kwargs)

    def own_mailbox(self) -> deque[Envelope]:
        """The mailbox, as envelopes only from now on: for code that reads it by hand."""
        if self.compact:
            self.expand()
            self.compact = False
        return self.real_mailbox()

    def real_mailbox(self) -> deque[Any]:
        """The mailbox, made real if it was the shared empty one."""
        if self.mailbox is NO_MAIL:
            self.mailbox = deque()
        return self.mailbox

    def expand(self) -> deque[Envelope]:
        """The mailbox, with every plain tell waiting as three entries made an envelope."""
        mailbox = self.mailbox
        if self.compact and any(type(item) is not Envelope for item in mailbox):
            items = iter(list(mailbox))
            mailbox.clear()
            for item in items:
                if type(item) is Envelope:
                    mailbox.append(item)
                else:
                    mailbox.append(self.tell_envelope(item, next(items), next(items)))
        return mailbox

    def tell_envelope(self, body: Any, sender: AgentRef, sent_at: float) -> Envelope:
        """The envelope of a plain tell that waited as three entries."""
        return Envelope(
            body, sender, self.ref, type(body).__name__, None, None, None, None, None, sent_at
        )

    def start(self) -> None:
        """Start the incarnation: at once if setup() and update() do nothing, else activate."""
        if self.info.plain_start and not self.agent.keep_awake and self.exit_reason is None:
            self._enter_setup()
            self.container._agent_started(self)
            if self.mailbox:
                self.engine.activate(self)
        else:
            self.engine.activate(self)

    def _enter_setup(self) -> None:
        self.life = Life.RUNNING
        self.setup_started = True
        self.container._trace_event(self.name, "setup", "")

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
        if self.idle is not None:
            self.idle.start()
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
        agent = cls.__new__(cls)
        agent._cell = self
        self.agent = agent
        try:
            cls.__init__(agent, *self.args, **(self.kwargs or {}))
        except Exception as exc:
            self.crash(exc)
        self.start()

    def add_task(self, task: Any) -> None:
        """Remember a task started beside the mailbox (a cancel scope or a virtual task)."""
        if self.tasks is None:
            self.tasks = set()
        self.tasks.add(task)

    def discard_task(self, task: Any) -> None:
        """Forget a task that ended."""
        if self.tasks:
            self.tasks.discard(task)

    def drop_waiting(self, match: Callable[[Envelope], bool]) -> int:
        """Remove the waiting (and in-flight) messages that ``match``; how many."""
        mailbox = self.expand()
        kept = [env for env in mailbox if not match(env)]
        dropped = len(mailbox) - len(kept)
        if dropped:  # in place: a batch being drained holds this deque
            mailbox.clear()
            mailbox.extend(kept)
        return dropped + len(self.engine.in_flight(self, match))

    def rng(self) -> random.Random:
        """The agent's random generator, made on first use (it costs 2.5 KB)."""
        if self._rng is None:
            self._rng = random.Random(self.seed)
        return self._rng

    @property
    def alive(self) -> bool:
        """Whether the incarnation has not stopped."""
        return self.life is not Life.STOPPED

    # ---- arrival -------------------------------------------------------------------------

    def accept(self, env: Envelope) -> None:
        """Put ``env`` in the mailbox and make sure an activation will see it."""
        if self.exit_reason is not None:
            if self.life is Life.STOPPED:
                self.container._undeliverable(env, self)
            else:  # ending: kept for a next incarnation, or a dead letter if none comes
                self.real_mailbox().append(env)
            return
        mailbox = self.mailbox
        if mailbox is NO_MAIL:
            mailbox = self.mailbox = deque()
        mailbox.append(env)
        if self.run_state is not _ACTIVE:
            self.engine.activate(self)

    def accept_tell(self, body: Any, sender: AgentRef, sent_at: float) -> None:
        """:meth:`accept` for a plain tell to a live cell with ``compact`` set.

        The tell waits as three entries, body, sender and time, and becomes an
        envelope only if something needs one: allocating an object per message
        costs a burst of tells about a third of its time, mostly in the collector.
        A body is never an :class:`Envelope`, which tells the two kinds apart.
        """
        mailbox = self.mailbox
        if mailbox is NO_MAIL:
            mailbox = self.mailbox = deque()
        mailbox.append(body)
        mailbox.append(sender)
        mailbox.append(sent_at)
        if self.run_state is not _ACTIVE:
            self.engine.activate(self)

    @staticmethod
    def is_system(env: Envelope) -> bool:
        """Whether ``env`` carries a system message (``Down``, ``Exit``)."""
        return isinstance(env.body, (_watch.Down, _watch.Exit))

    def accept_system(self, env: Envelope) -> None:
        """Put a system message ahead of every user message, behind earlier system ones."""
        if self.life is Life.STOPPED:
            self.container._undeliverable(env, self)
            return
        mailbox = self.real_mailbox()
        place = 0
        for waiting in mailbox:
            if type(waiting) is not Envelope or not self.is_system(waiting):
                break
            place += 1
        mailbox.insert(place, env)
        if self.exit_reason is None and self.run_state is not _ACTIVE:
            self.engine.activate(self)

    def has_work(self) -> bool:
        """Whether an activation would have something to do right now."""
        return bool(
            self.exit_reason is not None
            or self.life is Life.NEW
            or self.first_update
            or self.mailbox
            or self.agent.keep_awake
        )

    # ---- the activation ------------------------------------------------------------------

    async def activation(self) -> None:
        """Work the mailbox until it is empty (or the agent stops); shared by both modes."""
        engine = self.engine
        container = self.container
        agent = self.agent
        try:
            if self.life is Life.NEW and self.exit_reason is None:
                self._enter_setup()
                await _maybe_await(agent.setup())
                if self.exit_reason is None:
                    container._agent_started(self)
                    self.first_update = True
            while self.exit_reason is None:
                if container.paused:
                    container._park(self)
                    return
                if self.first_update or self.mailbox or agent.keep_awake:
                    self.first_update = False
                    await self._update()
                    if not await engine.after_batch(self):
                        return
                elif not await engine.idle(self):
                    return
        except Exception as exc:
            self.crash(exc)
        except (KeyboardInterrupt, SystemExit) as exc:
            self.fail_fatal(exc)
        await self.finish()

    async def _update(self) -> None:
        if self.info.custom_update:
            self.container._trace_event(self.name, "update", "")
            await _maybe_await(self.agent.update())
        else:
            await self.dispatch_all()
        if self.idle is not None:
            self.idle.touch()

    async def dispatch_all(self) -> None:
        """The default ``update()``: hand each waiting message to its handler."""
        count = len(self.mailbox)
        while count > 0:
            count, env, handler = self.drain_sync(count)
            if self.bound is not None:
                self.bound.freed()
            if env is None or handler is None:
                return
            self.container._trace_recv(self, env)
            if handler.concurrent:
                self.engine.start_task(self, self._run_concurrent, (handler, env))
                continue
            self.current = env
            try:
                if handler.wants_envelope:
                    result = await handler.func(self.agent, env.body, env)
                else:
                    result = await handler.func(self.agent, env.body)
            except Exception as exc:
                self.current = None
                self.crash(exc, env)
                return
            self.current = None
            if env.reply_with is not None:
                self.container._reply(env, result)

    def drain_sync(self, count: int) -> tuple[int, Envelope | None, Handler | None]:
        """Handle the next ``count`` mailbox entries' messages whose handlers are plain (sync).

        Stops early at a message whose handler is async or concurrent, and returns
        it, taken from the mailbox, with its handler and the count left; else returns
        ``(0, None, None)``. This loop is the hot path of both schedulers.
        """
        mailbox = self.mailbox
        info = self.info
        handlers = info.handlers
        agent = self.agent
        container = self.container
        while count > 0 and mailbox and self.exit_reason is None:
            env = mailbox.popleft()
            if type(env) is Envelope:
                count -= 1
                body = env.body
                handler = handlers.get(type(body)) or info.lookup(type(body))
            else:  # a plain tell in three entries
                count -= 3
                body = env
                sender = mailbox.popleft()
                sent_at = mailbox.popleft()
                handler = handlers.get(type(body)) or info.lookup(type(body))
                if handler is not None and handler.simple and container._trace is None:
                    # The common case without an envelope (a tell is no ask: no reply).
                    try:
                        handler.func(agent, body)
                    except Exception as exc:
                        self.crash(exc)
                        break
                    except (KeyboardInterrupt, SystemExit) as exc:
                        self.fail_fatal(exc)
                        break
                    continue
                env = self.tell_envelope(body, sender, sent_at)
            if handler is None:
                container._no_handler(env)
                continue
            if handler.suspends or handler.concurrent:
                return count, env, handler
            if container._trace is not None:
                container._trace_recv(self, env)
            try:
                if handler.wants_envelope:
                    result = handler.func(agent, body, env)
                else:
                    result = handler.func(agent, body)
                if handler.is_async:  # an async def without await point: done in one step
                    result = complete(result)
            except Exception as exc:
                self.crash(exc, env)
                break
            except (KeyboardInterrupt, SystemExit) as exc:
                self.fail_fatal(exc)
                break
            if env.reply_with is not None:
                container._reply(env, result)
        return 0, None, None

    def handoff(self, env: Envelope) -> bool:
        """Handle ``env`` right here, in the caller's task, if nothing can tell the difference.

        That is the case when the agent is idle with an empty mailbox and the handler
        is plain (sync): it is marked busy meanwhile, so one message at a time still
        holds, and a live ask then needs no task switch. False: deliver as usual.
        """
        info = self.info
        if (
            self.run_state is RunState.ACTIVE
            or self.mailbox
            or self.exit_reason is not None
            or self.life is not Life.RUNNING
            or info.custom_update
            or self.container.paused
        ):
            return False
        handler = info.lookup(type(env.body))
        if handler is None or handler.suspends or handler.concurrent:
            return False
        state = self.run_state
        self.run_state = RunState.ACTIVE
        self.real_mailbox().append(env)  # it was empty: env is the one drained
        self.drain_sync(1)
        if self.idle is not None:
            self.idle.touch()
        self.run_state = state
        if self.exit_reason is not None or self.mailbox:
            self.engine.activate(self)
        return True

    def run_step(self) -> None:
        """One virtual-time step without a coroutine, for agents whose code is all sync."""
        if self.exit_reason is not None or self.life is not _RUNNING:
            self.run_state = _IDLE
            self.engine.activate(self)
            return
        container = self.container
        if container.paused:
            self.run_state = _IDLE
            container._park(self)
            return
        self.first_update = False
        if self.info.custom_update:
            container._trace_event(self.name, "update", "")
            try:
                result = self.agent.update()
                if result is not None:  # an async def without await point
                    complete(result)
            except Exception as exc:
                self.crash(exc)
            except (KeyboardInterrupt, SystemExit) as exc:
                self.fail_fatal(exc)
        else:
            # sync_ok: every handler is plain, so this drains the whole mailbox
            self.drain_sync(len(self.mailbox))
        if self.bound is not None:
            self.bound.freed()
        if self.idle is not None:
            self.idle.touch()
        self.run_state = _IDLE
        if self.exit_reason is not None or self.agent.keep_awake or self.mailbox:
            self.engine.activate(self)

    async def _run_concurrent(self, handler: Handler, env: Envelope) -> None:
        finished = False
        try:
            if handler.wants_envelope:
                result = handler.func(self.agent, env.body, env)
            else:
                result = handler.func(self.agent, env.body)
            if handler.is_async:
                result = await result
            finished = True
        except Exception as exc:
            finished = True
            self.crash(exc, env, interrupt=True)
            return
        finally:
            if not finished and env.reply_with is not None:
                # cancelled with the incarnation: the caller learns at once
                reason = self.exit_reason if self.exit_reason is not None else Shutdown()
                self.container._reply_error(env, CalleeDown(self.ref.address, reason))
        if env.reply_with is not None:
            self.container._reply(env, result)

    async def run_extra(self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]) -> None:
        """Body of a task started beside the mailbox; its exception crashes the agent."""
        try:
            await fn(*args)
        except Exception as exc:
            self.crash(exc, interrupt=True)

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
                    self.container._reply_error(env, failed)
                return
            if directive is Directive.STOP:
                self.stop_kind = StopKind.STOP
            elif directive is Directive.ESCALATE:
                self.stop_kind = StopKind.ESCALATE
        if env is not None and env.reply_with is not None:
            error = CalleeDown(self.ref.address, Failure(exc))
            error.__cause__ = exc
            self.container._reply_error(env, error)
        if self.exit_reason is None:
            self.exit_reason = Failure(exc)
            log.error(
                "agent %s crashed: %s: %s",
                self.ref.address,
                type(exc).__name__,
                exc,
                exc_info=(type(exc), exc, exc.__traceback__),
            )
            if interrupt:
                self.engine.interrupt(self)

    def fail_fatal(self, exc: BaseException) -> None:
        """Agent code raised KeyboardInterrupt or SystemExit: end without restart."""
        if not isinstance(self.exit_reason, Fatal):
            self.exit_reason = Fatal(exc)
            if not self.engine.is_current(self):
                self.engine.interrupt(self)

    def request_stop(self, reason: ExitReason | None) -> None:
        """Ask the agent to stop after its current message (``None``: it stops itself)."""
        if self.exit_reason is not None or self.life is Life.STOPPED:
            return
        self.exit_reason = Normal() if reason is None else reason
        if (
            self.run_state is RunState.IDLE
            and self.info.plain_teardown
            and not self.tasks
            and not (self.kids and self.kids.children)
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
            self.container._reply_error(current, CalleeDown(self.ref.address, reason))
        self.engine.cancel_tasks(self)
        self.clear_alarms(None, None)
        if self.idle is not None:
            self.idle.cancel()
        return True

    def _end_finish(self) -> None:
        reason = self.exit_reason
        assert reason is not None
        _watch.incarnation_ended(self, reason)
        ups, self.up_waiters = self.up_waiters, None
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
        self, msg: Any, at: float | None, after: float | None, topic: str | None, ignore: bool
    ) -> TimerHandle:
        """Schedule ``msg`` to arrive in this agent's own mailbox."""
        engine = self.engine
        now = engine.now()
        when = at if at is not None else now + (after or 0.0)
        env = Envelope(msg, self.ref, self.ref, topic or type(msg).__name__, sent_at=now)
        if self.alarms is None:
            self.alarms = {}
        alarms = self.alarms

        def fire() -> None:
            alarms.pop(handle, None)
            engine.deliver(self, env)

        handle = engine.call_at(when, fire, not ignore)
        alarms[handle] = env
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
        return self.engine.start_task(self, self.run_extra, (fn, args))

"""Containers: the agent registry, local routing, topics, run control."""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, final, overload

import attrs
import trio

from .._agent.agent import Agent, Recipient
from .._agent.rpc import Proxy, connect
from .._messages.codec import DEFAULT_CODEC, Codec
from .._messages.envelope import Envelope
from .._messages.errors import (
    AgentStateError,
    AskTimeout,
    CalleeDown,
    CodecError,
    DecodeError,
    EncodeError,
    MailboxFull,
    NameTaken,
    NoHandler,
)
from .._messages.events import (
    AgentStarted,
    AgentStopped,
    ChildStarted,
    DeadLetter,
    DeadLetterReason,
    ExitReason,
    NoProc,
    Shutdown,
    SystemEvent,
    TraceRecord,
)
from .._messages.ref import AgentRef, as_ref, is_address
from .._net.remote import Link, Remote, RemoteReply
from .._time.clock import Clock, RealClock, VirtualClock, _SimClock
from .._time.future import Future, ReplySlot
from . import watch as _watch
from .cell import NO_MAIL, Cell, Life, StopKind
from .deadletters import DeadLetterLog
from .live import LiveEngine
from .mailbox import Bound
from .passivation import IdleWatch

if TYPE_CHECKING:
    from .._node import Node
from .._supervision.spec import LifeOptions, Overflow, Restart, options
from .run import RunDefaults, RunEnd
from .subscriptions import Subscriptions, topic_name
from .tree import Supervision
from .virtual import VirtualEngine

log = logging.getLogger("triomas")

A = TypeVar("A", bound=Agent)

_SYSTEM_EVENTS = (DeadLetter, AgentStarted, AgentStopped)
_HANDOFF_YIELD = 16
"""Asks answered by hand-off in a row before the asking task yields to the scheduler."""


@final
@attrs.frozen
class RunReport:
    """How a :meth:`Container.run` ended: why, at what clock time, after how many rounds."""

    reason: RunEnd
    time: float
    rounds: int


@final
class Container:
    """A home for agents: names, routing, topics, and run control.

    Open one with :func:`open_container`. Local delivery passes message objects by
    reference. Delivery is at-most-once and FIFO per sender→receiver pair; what
    cannot be delivered becomes a :class:`DeadLetter` event.
    """

    def __init__(
        self,
        address: str,
        clock: Clock,
        seed: int | str,
        trace: Callable[[TraceRecord], object] | None,
        nursery: trio.Nursery,
        run: RunDefaults,
        max_restarts: int = 3,
        period: float = 5.0,
        shutdown_timeout: float = math.inf,
        codec: Codec | None = None,
        strict: bool = False,
    ) -> None:
        self.address = address
        self.clock = clock
        self.seed = seed
        self.paused = False
        self.dead_letter_counts: collections.Counter[DeadLetterReason] = collections.Counter()
        self._trace = trace
        self._cells: dict[str, Cell] = {}
        self._classes: dict[str, dict[Cell, None]] = {}
        self._counters: dict[str, int] = {}
        self._subscriptions = Subscriptions()
        self._parked: dict[Cell, None] = {}
        self._run = run
        self._replies = run.replies
        self._join_waiters: list[Future] = []
        self._event_callbacks: list[Callable[[SystemEvent], object]] = []
        self._closed = False
        self._handoffs = 0
        self._dead_letter_log = DeadLetterLog()
        self._root = Supervision(self, None, max_restarts=max_restarts, period=period)
        self._on_demand: dict[
            str, tuple[type[Agent], tuple[Any, ...], dict[str, Any], LifeOptions]
        ] = {}
        self._failure: BaseException | None = None
        self._shutdown_timeout = shutdown_timeout
        self._body_scope: trio.CancelScope | None = None
        self.codec = codec if codec is not None else DEFAULT_CODEC
        self._strict = strict
        self._remote: Remote | None = None
        self._nursery = nursery
        self._nodes: list[Node] = []
        self._engine: LiveEngine | VirtualEngine
        if isinstance(clock, _SimClock):
            self._engine = VirtualEngine(self, clock.scheduler())
        elif isinstance(clock, RealClock):
            self._engine = LiveEngine(self, nursery, clock.origin)
        else:
            raise TypeError(f"unsupported clock {clock!r}")
        # Hand-offs only in real time: in virtual time a message must wait for the next round.
        self._handoff = not self._engine.virtual

    def __repr__(self) -> str:
        return f"<Container {self.address} with {len(self._cells)} agents>"

    # ---- agents --------------------------------------------------------------------------

    async def spawn(
        self,
        cls: type[A],
        *args: Any,
        name: str | None = None,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        **kwargs: Any,
    ) -> AgentRef:
        """Create an agent of ``cls`` under the container's root supervisor; return its reference.

        It returns at once: ``setup()`` runs as the agent's first step, and messages
        sent meanwhile wait for it (:meth:`start` waits for it). ``args`` and
        ``kwargs`` go to ``cls.__init__``. Unnamed agents are called ``ClassName-N``
        in spawn order. ``restart`` says when a new incarnation replaces an ended
        one: ``"transient"`` (after a failure), ``"permanent"`` (after any end but a
        stop from outside) or ``"temporary"`` (never). ``shutdown`` bounds, in
        clock seconds, how long a graceful stop may take before the agent is
        cancelled (0: at once; ``math.inf``: no limit); it defaults to 5 s, and to
        ``inf`` for a :class:`Supervisor`, which stops its children first.

        ``capacity`` bounds the mailbox (default: unbounded); when it is full,
        ``overflow`` decides: ``"block"`` (``send`` raises :exc:`MailboxFull`,
        ``send_wait`` and ``ask`` wait for room), ``"fail"`` (:exc:`MailboxFull`),
        ``"drop_new"`` or ``"drop_oldest"`` (that message becomes a dead letter).
        System messages (``Down``, ``Exit``) and the agent's alarms are not counted,
        and are handled before waiting user messages.

        ``idle_timeout``: after that many clock seconds without a message the agent
        stops with ``Shutdown("idle")`` and is not restarted (see
        :meth:`spawn_on_demand` to bring it back when a message comes).
        """
        return self._spawn(
            cls,
            args,
            kwargs,
            name,
            options(cls, restart, shutdown, capacity, overflow, idle_timeout),
            self._root,
        )

    async def start(
        self,
        cls: type[A],
        *args: Any,
        name: str | None = None,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        timeout: float = 5.0,
        **kwargs: Any,
    ) -> AgentRef:
        """Like :meth:`spawn`, but wait until ``setup()`` has finished (the init-ack).

        If the first ``setup()`` raises, that exception is raised here (a first start
        is never retried); after ``timeout`` clock seconds the agent is stopped and
        :exc:`TimeoutError` is raised.
        """
        ref = self._spawn(
            cls,
            args,
            kwargs,
            name,
            options(cls, restart, shutdown, capacity, overflow, idle_timeout),
            self._root,
        )
        cell = ref._cell
        assert cell is not None
        await self._await_up(cell, self._root, timeout)
        return ref

    async def _await_up(self, cell: Cell, parent: Supervision, timeout: float) -> None:
        """Wait for the init-ack of ``cell``; raise its start failure, or stop it on timeout."""
        engine = self._engine
        up = cell.when_up()
        if not await engine.wait(up, engine.now() + timeout):
            await parent.terminate(cell, Shutdown("start timeout"), 0)
            raise TimeoutError(f"{cell.name} did not finish setup() within {timeout} s")
        up.result()

    def _spawn(
        self,
        cls: type[Agent],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        opts: LifeOptions,
        parent: Supervision,
    ) -> AgentRef:
        if self._closed:
            raise AgentStateError(f"container {self.address} is closed")
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"spawn needs an Agent subclass, not {cls!r}")
        if parent.closing:
            raise AgentStateError(f"supervisor {parent.name} is stopping; it cannot spawn")
        name = self._claim_name(cls, name)
        cell = Cell(self, cls, name, args, kwargs, opts, parent)
        if opts.capacity is not None:
            cell.bound = Bound(cell, opts.capacity, opts.overflow)
            cell.deliver = cell.bound.deliver
        if opts.idle_timeout is not None:
            cell.idle = IdleWatch(cell, opts.idle_timeout)
        self._cells[name] = cell
        self._classes.setdefault(cls.__name__, {})[cell] = None
        parent.children[cell] = None
        self._trace_event(name, "spawn", cls.__qualname__)
        cell.start()
        return cell.ref

    def spawn_on_demand(
        self,
        name: str,
        cls: type[A],
        *args: Any,
        restart: Restart = "transient",
        shutdown: float | None = None,
        capacity: int | None = None,
        overflow: Overflow = "block",
        idle_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
        """Activate ``name`` on demand: whenever a message comes for it and no agent of
        that name is alive, spawn ``cls(*args, **kwargs)`` under it and deliver.

        With ``idle_timeout`` this is Orleans' virtual actor: it stops when unused
        and comes back, as a fresh agent, with the next message. The options are
        those of :meth:`spawn`.
        """
        if not name or "/" in name:
            raise ValueError(f"agent name {name!r} must be non-empty and contain no '/'")
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"spawn_on_demand needs an Agent subclass, not {cls!r}")
        opts = options(cls, restart, shutdown, capacity, overflow, idle_timeout)
        self._on_demand[name] = (cls, args, kwargs, opts)

    def _activate(self, name: str) -> Cell | None:
        """Spawn the agent registered for ``name`` with :meth:`spawn_on_demand`, if any."""
        factory = self._on_demand.get(name)
        if factory is None or self._closed or self._root.closing:
            return None
        cls, args, kwargs, opts = factory
        self._trace_event(name, "activate", cls.__qualname__)
        return self._spawn(cls, args, kwargs, name, opts, self._root)._cell

    def _claim_name(self, cls: type, name: str | None) -> str:
        if name is not None:
            if not name or "/" in name:
                raise ValueError(f"agent name {name!r} must be non-empty and contain no '/'")
            if name in self._cells:
                raise NameTaken(f"an agent named {name!r} already lives in {self.address}")
            return name
        n = self._counters.get(cls.__name__, 0)
        while True:
            n += 1
            candidate = f"{cls.__name__}-{n}"
            if candidate not in self._cells:
                self._counters[cls.__name__] = n
                return candidate

    def lookup(self, name: str) -> AgentRef | None:
        """The reference of the live agent called ``name``, if any."""
        cell = self._cells.get(name)
        return cell.ref if cell is not None else None

    def agents(self) -> list[AgentRef]:
        """References of the live agents, in spawn order."""
        return [cell.ref for cell in self._cells.values()]

    @overload
    def agent(self, ref: AgentRef | str) -> Agent: ...
    @overload
    def agent(self, ref: AgentRef | str, cls: type[A]) -> A: ...
    def agent(self, ref: AgentRef | str, cls: type[Agent] = Agent) -> Agent:
        """The agent object behind a local reference or name (for tests and tools).

        Pass its class to get it typed as such (checked): ``c.agent(ref, Counter).count``.
        """
        cell = self._cells.get(ref.name if isinstance(ref, AgentRef) else ref)
        if cell is None:
            raise LookupError(f"no live agent {ref} in {self.address}")
        if not isinstance(cell.agent, cls):
            raise TypeError(f"{ref} is a {type(cell.agent).__name__}, not a {cls.__name__}")
        return cell.agent

    async def remove(self, to: AgentRef | str, *, timeout: float | None = None) -> None:
        """Stop one agent and wait until its teardown has run.

        It finishes its current message first; after ``timeout`` clock seconds
        (default: its ``shutdown``) its work is cancelled.
        """
        cell = self._single(to)
        if cell is not None:
            await cell.parent.terminate(cell, Shutdown("removed"), timeout)

    async def stop(self) -> None:
        """Stop every agent: the root's children one by one in reverse spawn order,
        each stopping its own children first.

        If that takes longer than the container's ``shutdown_timeout``, whatever is
        left is cancelled at once (see :func:`open_container`).
        """
        engine = self._engine
        timer = None
        if self._shutdown_timeout != math.inf:
            timer = engine.call_at(engine.now() + self._shutdown_timeout, self._hard_stop, True)
        try:
            await self._root.shutdown(Shutdown("container stopped"))
        finally:
            if timer is not None:
                timer.cancel()

    def _hard_stop(self) -> None:
        left = [cell for cell in self._cells.values() if cell.alive]
        log.warning(
            "%s: shutdown took longer than %g s; cancelling %d agents: %s",
            self.address,
            self._shutdown_timeout,
            len(left),
            ", ".join(cell.name for cell in left[:10]),
        )
        for cell in left:
            cell.stop_kind = StopKind.FINAL
            cell.request_stop(Shutdown("shutdown timeout"))
            self._engine.kill(cell)

    async def join(self) -> None:
        """Wait until every agent has stopped (in virtual time, this runs the simulation).

        With a :class:`VirtualClock`, if the simulation goes idle while agents are
        alive, they can never stop: that raises :exc:`AgentStateError` instead of
        waiting forever. (An :class:`ExternalClock` waits for ``advance_to``.)
        """
        engine = self._engine
        engine.check_outside("join()")
        if isinstance(engine, VirtualEngine) and isinstance(self.clock, VirtualClock):
            if await engine.sim.drive(lambda: not self._cells, until_idle=True) and self._cells:
                names = ", ".join(list(self._cells)[:5])
                raise AgentStateError(
                    f"join() would wait forever: the simulation is idle and {len(self._cells)} "
                    f"agents are alive ({names}...); stop them, or use run_until_idle()"
                )
            return
        while self._cells:
            fut = Future()
            self._join_waiters.append(fut)
            await engine.wait(fut, math.inf)

    def link(self, a: AgentRef | str, b: AgentRef | str) -> None:
        """Link two agents both ways (see :meth:`Agent.link`), from outside them."""
        first = self._single(a)
        if first is None:
            raise LookupError(f"no live agent {a} in {self.address}")
        _watch.link(first, self._single(b), as_ref(b, self.address))

    # ---- messaging from outside the agents -----------------------------------------------

    def send(self, to: Recipient, msg: Any, *, topic: str | None = None) -> None:
        """Send ``msg`` from outside any agent (the envelope's sender is None)."""
        self._send(None, to, msg, topic, False, None, None, None, None, None)

    async def send_wait(
        self, to: Recipient, msg: Any, *, timeout: float | None = None, topic: str | None = None
    ) -> None:
        """Send from outside any agent, waiting for room; see :meth:`Agent.send_wait`."""
        await self._send_wait(None, to, msg, timeout, topic)

    async def _send_wait(
        self, sender: Cell | None, to: Recipient, msg: Any, timeout: float | None, topic: str | None
    ) -> None:
        target = self._single(to)
        if target is not None and target.bound is not None:
            await self._wait_room(target, timeout, msg)
        self._send(sender, to, msg, topic, False, None, None, None, None, None)
        await trio.lowlevel.checkpoint_if_cancelled()

    async def _wait_room(self, target: Cell, timeout: float | None, msg: Any) -> None:
        bound = target.bound
        if bound is None or bound.policy != "block" or not bound.full():
            return
        engine = self._engine
        deadline = engine.now() + (math.inf if timeout is None else timeout)
        if not await bound.wait_room(deadline):
            raise MailboxFull(
                f"no room in the mailbox of {target.name} within {timeout} s for {msg!r}"
            )

    async def connect(self, to: AgentRef | str, *, timeout: float = 5.0) -> Proxy:
        """A proxy to an agent's ``@expose`` methods, from outside any agent; see
        :meth:`Agent.connect`."""
        return await connect(self.ask, as_ref(to, self.address), timeout)

    async def ask(self, to: Recipient, msg: Any, *, timeout: float | None = 5.0) -> Any:
        """Ask from outside any agent; see :meth:`Agent.ask`."""
        return await self._ask(None, to, msg, math.inf if timeout is None else timeout, None, None)

    def publish(self, msg: Any, *, topic: str | type | None = None) -> None:
        """Publish from outside any agent; see :meth:`Agent.publish`."""
        self._publish(None, msg, topic)

    def on_event(self, callback: Callable[[SystemEvent], object]) -> Callable[[], None]:
        """Call ``callback(event)`` for every system event; returns the unsubscriber.

        Agents can get the same events as messages: ``self.subscribe(topic=DeadLetter)``.
        """
        self._event_callbacks.append(callback)
        return lambda: self._event_callbacks.remove(callback)

    # ---- run control ---------------------------------------------------------------------

    @property
    def virtual(self) -> bool:
        """Whether this container runs in virtual time."""
        return self._engine.virtual

    @property
    def round(self) -> int:
        """Delivery rounds done so far (virtual time; always 0 in real time)."""
        engine = self._engine
        return engine.sim.rounds if isinstance(engine, VirtualEngine) else 0

    def pause(self) -> None:
        """Hold message processing; messages and alarms queue up until :meth:`resume`."""
        self.paused = True

    def resume(self) -> None:
        """Let the agents run again."""
        self.paused = False
        parked, self._parked = self._parked, {}
        for cell in parked:
            self._engine.activate(cell)

    def _park(self, cell: Cell) -> None:
        self._parked[cell] = None

    async def run_until_idle(self) -> RunReport:
        """Run until quiescent: no message waiting, no blocking alarm due, every agent waiting."""
        return await self.run(until_idle=True)

    async def run(
        self,
        *,
        seconds: float | None = None,
        iterations: int | None = None,
        until_idle: bool = False,
    ) -> RunReport:
        """Let the container run until a limit is reached, and report which.

        ``seconds`` of clock time, ``iterations`` delivery rounds (virtual time
        only), quiescence if ``until_idle``; with no limit, until every agent has
        stopped. In virtual time a run also ends when nothing more can happen
        (reason ``"idle"``). A paused container is resumed. When the run goes idle,
        alarms set with ``ignore_if_idle=True`` are dropped. In virtual time nothing
        happens between calls that wait on the simulation; in real time agents go on.
        """
        engine = self._engine
        engine.check_outside("run()")
        self.resume()
        reason, rounds = await engine.run_until(
            seconds, iterations, until_idle, lambda: not self._cells, self.join
        )
        if reason == "idle":
            for cell in self._cells.values():
                cell.drop_idle_alarms()
        return RunReport(reason, engine.now(), rounds)

    # ---- routing -------------------------------------------------------------------------

    def _resolve(self, to: Recipient) -> Cell | list[Cell] | None:
        if isinstance(to, AgentRef):
            cell = to._cell
            if (
                cell is not None
                and cell.life is not Life.STOPPED
                and (cell.container is self or cell.container._remote is None)
            ):
                return cell  # a network container's agents are reached over the network
            home: Container | None
            if to.container == self.address:
                home = self
            else:
                remote = self._remote
                if remote is not None and remote.reaches(to.container):
                    return None  # it goes by network, even within this process
                home = self._run.open.get(to.container)
            if home is None:
                return None
            found: Cell | None = home._cells.get(to.name)
            return found if found is not None else home._activate(to.name)
        if isinstance(to, type):
            to = to.__name__
        if is_address(to):
            return self._resolve(AgentRef.parse(to))
        cell = self._cells.get(to)
        if cell is not None:
            return cell
        members = self._classes.get(to)
        extra = self._subscriptions.receivers.get(to)
        if extra:
            members = {**members, **extra} if members else extra
        return list(members) if members else self._activate(to)

    def _resolve_bound(self, to: Recipient) -> bool:
        """Whether ``to`` is one agent with a bounded mailbox (cheap for a reference)."""
        if isinstance(to, AgentRef) and to._cell is not None:
            return to._cell.bound is not None
        target = self._resolve(to)
        return isinstance(target, Cell) and target.bound is not None

    def _single(self, to: Recipient) -> Cell | None:
        target = self._resolve(to)
        if isinstance(target, list):
            if len(target) != 1:
                raise ValueError(f"{to!r} names {len(target)} agents; this needs exactly one")
            return target[0]
        return target

    def _send(
        self,
        sender: Cell | None,
        to: Recipient,
        body: Any,
        topic: str | None,
        direct: bool,
        performative: str | None,
        conversation_id: str | None,
        reply_with: str | None,
        in_reply_to: str | None,
        reply_by: float | None,
        single: bool = False,
        fipa: tuple[str | None, str | None, str | None] | None = None,
    ) -> AgentRef | None:
        """Build the envelope and route it; ``single``: an ask, so exactly one recipient.

        ``fipa`` is the envelope's ``(protocol, ontology, language)``, if any.

        Returns the reference when it went to another container's network, where an
        ask then flushes it (a tell is written by the connection's writer).
        """
        engine = self._engine
        if self._strict:
            body = self.codec.roundtrip(body)
        target = self._single(to) if single else self._resolve(to)
        receiver: AgentRef | str = (
            to if isinstance(to, AgentRef) else to.__name__ if isinstance(to, type) else str(to)
        )
        forwarded: AgentRef | None = None
        env = Envelope(
            body,
            None if sender is None else sender.ref,
            receiver,
            topic or type(body).__name__,
            performative,
            conversation_id,
            reply_with,
            in_reply_to,
            reply_by,
            engine.now(),
        )
        if fipa is not None:
            env.protocol, env.ontology, env.language = fipa
        if isinstance(target, list):
            for member in target:
                member.deliver(member, env)
        elif target is not None and not (single and self._handoff and target.handoff(env)):
            target.deliver(target, env)  # its container's engine, maybe not ours
        elif target is None and self._remote is not None:
            remote = self._remote_ref(to)
            if remote is not None:
                # It raises EncodeError before anyone saw the message.
                self._remote.forward(env, remote, single)
                forwarded = remote
        if not direct and sender is not None and self._subscriptions.trackers:
            trackers = self._subscriptions.trackers.get(sender.name)
            if trackers:
                copy = env if reply_with is None else attrs.evolve(env, reply_with=None)
                for tracker in trackers:
                    tracker.deliver(tracker, copy)
        if target is None and forwarded is None:
            unreachable = (
                isinstance(to, AgentRef)
                and to.container != self.address
                and to.container not in self._run.open
            )
            reason = (
                DeadLetterReason.UNREACHABLE if unreachable else DeadLetterReason.UNKNOWN_RECIPIENT
            )
            self._dead(env, reason, NoProc())
        return forwarded

    def _remote_ref(self, to: Recipient) -> AgentRef | None:
        """``to`` as a reference to an agent another network container holds, if it is one."""
        ref = (
            to
            if isinstance(to, AgentRef)
            else AgentRef.parse(to)
            if isinstance(to, str) and is_address(to)
            else None
        )
        if ref is None or ref.container == self.address:
            return None
        remote = self._remote
        return ref if remote is not None and remote.reaches(ref.container) else None

    def _publish(self, sender: Cell | None, body: Any, topic: str | type | None) -> None:
        name = type(body).__name__ if topic is None else topic_name(topic)
        engine = self._engine
        if self._strict:
            body = self.codec.roundtrip(body)
        env = Envelope(
            body, None if sender is None else sender.ref, None, name, sent_at=engine.now()
        )
        subscribers = self._subscriptions.topics.get(name)
        if subscribers:
            for cell in subscribers:
                cell.deliver(cell, env)
        if sender is not None and self._subscriptions.trackers:
            trackers = self._subscriptions.trackers.get(sender.name)
            if trackers:
                for tracker in trackers:
                    tracker.deliver(tracker, env)
        if self._remote is not None and self._remote.publish(env):
            return
        if not subscribers:  # trackers only watch: the publish itself reached nobody
            self._dead(env, DeadLetterReason.NO_SUBSCRIBERS, None)

    async def _ask(
        self,
        sender: Cell | None,
        to: Recipient,
        body: Any,
        timeout: float,
        performative: str | None,
        conversation_id: str | None,
    ) -> Any:
        if not timeout >= 0:
            raise ValueError("timeout must be a non-negative number of seconds, or None")
        if self._resolve_bound(to):
            target = self._single(to)
            assert target is not None
            start = self._engine.now()
            await self._wait_room(target, timeout, body)
            timeout -= self._engine.now() - start
        rid = self._run.new_reply_id()
        fut = Future()
        self._replies[rid] = fut
        engine = self._engine
        try:
            remote = self._send(
                sender, to, body, None, False, performative, conversation_id, rid, None, None, True
            )
            if remote is not None:
                assert self._remote is not None
                await self._remote.flush(remote)
            if fut.done and self._handoff:
                # Answered by a hand-off: still a cancellation point, and still yield
                # to the scheduler now and then so a loop of asks cannot starve others.
                await trio.lowlevel.checkpoint_if_cancelled()
                self._handoffs += 1
                if self._handoffs >= _HANDOFF_YIELD:
                    self._handoffs = 0
                    await trio.lowlevel.cancel_shielded_checkpoint()
                return fut.result()
            if await engine.wait(fut, engine.now() + timeout):
                return fut.result()
            raise AskTimeout(f"no reply from {to} within {timeout} s to {body!r}")
        finally:
            self._replies.pop(rid, None)

    def _reply(self, request: Envelope, value: Any) -> None:
        fut = self._reply_slot(request)
        if fut is not None:
            if self._strict:
                try:
                    value = self.codec.roundtrip_value(value)
                except CodecError as exc:
                    fut.set_error(exc)
                    return
            fut.set_result(value)

    def _reply_error(self, request: Envelope, error: BaseException) -> None:
        fut = self._reply_slot(request)
        if fut is not None:
            fut.set_error(error)

    def _reply_slot(self, request: Envelope) -> ReplySlot | None:
        # The slot is closed when the caller stops waiting (timeout, crash): then the
        # reply is late and dropped, as the call's end already told the caller.
        rid = request._reply_key or request.reply_with
        return None if rid is None else self._replies.pop(rid, None)

    # ---- dead letters and events ---------------------------------------------------------

    def _dead(self, env: Envelope, reason: DeadLetterReason, down: ExitReason | None) -> None:
        """Report ``env`` as undeliverable; a waiting asker is failed at once."""
        if isinstance(env.body, _SYSTEM_EVENTS):
            return  # events are best effort: never a dead letter about a dead letter
        if env.reply_with is not None:
            error: BaseException
            if reason is DeadLetterReason.NO_HANDLER:
                error = NoHandler(f"{env.receiver} has no handler for {type(env.body).__name__}")
            elif reason is DeadLetterReason.UNDECODABLE and isinstance(env.body, DecodeError):
                error = env.body
            elif reason is DeadLetterReason.SEND_BUFFER_FULL:
                error = MailboxFull(f"the send buffer to {env.receiver} is full")
            elif reason is DeadLetterReason.TOO_LARGE:
                error = EncodeError(
                    f"{type(env.body).__name__} is over the frame limit of the container "
                    f"of {env.receiver}"
                )
            else:
                error = CalleeDown(str(env.receiver), down if down is not None else NoProc())
            self._reply_error(env, error)
        self.dead_letter_counts[reason] += 1
        letter = DeadLetter(env.body, env.sender, env.receiver, reason)
        self._dead_letter_log.record(letter, self._engine.now(), self.address)
        if self._trace is not None:  # the repr costs, and a flood of dead letters adds up
            self._trace_event(
                env.receiver.name if isinstance(env.receiver, AgentRef) else str(env.receiver),
                "dead",
                f"{reason}: {env.body!r}",
            )
        self._emit(letter)

    def _arrive(
        self, env: Envelope, receiver: str | None, link: Link, error: DecodeError | None
    ) -> None:
        """Deliver a message that came from another container over ``link``."""
        if env.reply_with is not None:
            rid = self._run.new_reply_id()
            self._replies[rid] = RemoteReply(
                link, env.reply_with, self.codec, self.address, receiver
            )
            env._reply_key = rid
        if receiver is not None:
            env.receiver = AgentRef(self.address, receiver)
        if error is not None:
            self._dead(env, DeadLetterReason.UNDECODABLE, None)
            return
        if receiver is not None and "/" in receiver:
            # A name, never an address: a peer must not reach past this container.
            self._dead(env, DeadLetterReason.UNKNOWN_RECIPIENT, NoProc())
            return
        if receiver is None:
            subscribers = self._subscriptions.topics.get(env.topic)
            if not subscribers:
                self._dead(env, DeadLetterReason.NO_SUBSCRIBERS, None)
                return
            for cell in subscribers:
                cell.deliver(cell, env)
            return
        target = self._resolve(receiver)
        if isinstance(target, list):
            if env.reply_with is not None and len(target) != 1:
                self._reply_error(
                    env, ValueError(f"{receiver!r} names {len(target)} agents; an ask needs one")
                )
                return
            for member in target:
                member.deliver(member, env)
        elif target is not None:
            if not (env.reply_with is not None and self._handoff and target.handoff(env)):
                target.deliver(target, env)
        else:
            self._dead(env, DeadLetterReason.UNKNOWN_RECIPIENT, NoProc())

    def _undeliverable(self, env: Envelope, cell: Cell) -> None:
        self._dead(env, DeadLetterReason.RECIPIENT_STOPPED, cell.exit_reason)

    def _no_handler(self, env: Envelope) -> None:
        self._dead(env, DeadLetterReason.NO_HANDLER, None)

    def _listened(self, event_type: type) -> bool:
        return bool(self._event_callbacks) or event_type.__name__ in self._subscriptions.topics

    def _emit(self, event: SystemEvent) -> None:
        for callback in list(self._event_callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("event callback %r raised", callback)
        subscribers = self._subscriptions.topics.get(type(event).__name__)
        if subscribers:
            env = Envelope(event, None, None, type(event).__name__, sent_at=self._engine.now())
            for cell in subscribers:
                cell.deliver(cell, env)

    def _agent_started(self, cell: Cell) -> None:
        cell.mark_up()
        if cell.incarnation == 1 and self._listened(AgentStarted):
            self._emit(AgentStarted(cell.ref))
        if self._listened(ChildStarted):
            self._emit(ChildStarted(cell.parent.ref, cell.ref, cell.incarnation))

    def _fail(self, error: BaseException) -> None:
        """The root supervisor gave up: end the body of :func:`open_container` with ``error``."""
        if self._failure is None:
            self._failure = error
            if self._body_scope is not None:
                self._body_scope.cancel()

    def _agent_stopped(self, cell: Cell, reason: ExitReason) -> None:
        if self._cells.get(cell.name) is cell:
            del self._cells[cell.name]
        members = self._classes.get(type(cell.agent).__name__)
        if members is not None:
            members.pop(cell, None)
            if not members:
                del self._classes[type(cell.agent).__name__]
        self._subscriptions.drop(cell)
        self._parked.pop(cell, None)
        leftovers = [*cell.expand(), *self._engine.in_flight(cell)]
        cell.mailbox = NO_MAIL
        for env in leftovers:
            self._dead(env, DeadLetterReason.RECIPIENT_STOPPED, reason)
        self._trace_event(cell.name, "stop", str(reason))
        _watch.stopped_for_good(cell, reason)
        if cell.bound is not None:
            cell.bound.close(reason)
        if self._listened(AgentStopped):
            self._emit(AgentStopped(cell.ref, reason))
        if not self._cells:
            waiters, self._join_waiters = self._join_waiters, []
            for fut in waiters:
                fut.set_result(None)

    def _trace_event(self, agent: str, event: str, payload: str) -> None:
        if self._trace is not None:
            self._trace(TraceRecord(self._engine.now(), agent, event, payload))

    def _trace_recv(self, cell: Cell, env: Envelope) -> None:
        if self._trace is not None:
            sender = "-" if env.sender is None else env.sender.name
            self._trace(
                TraceRecord(self._engine.now(), cell.name, "recv", f"{sender} -> {env.body!r}")
            )

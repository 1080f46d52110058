"""``Agent``: the base class users subclass."""

from __future__ import annotations

import contextvars
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Self, TypeVar, Unpack

from .._messages.envelope import Envelope
from .._messages.errors import AgentStateError
from .._messages.events import ExitReason, MonitorRef, Shutdown
from .._messages.message import MESSAGE_CLASSES, check_send
from .._messages.ref import AgentRef, as_ref
from .._time.timers import TimerHandle
from .context import AgentContext, Cancellable, Future, Recipient
from .handlers import ClassInfo
from .options import SEND_KEYWORDS, Overflow, Restart, SendOptions, options
from .rpc import Proxy, connect, rpc_handlers

if TYPE_CHECKING:
    from .._runtime.container import Container
    from .._time.clock import Clock

A = TypeVar("A", bound="Agent")

__all__ = ["Agent", "Recipient", "SendOptions"]


_MAKING: contextvars.ContextVar[bool] = contextvars.ContextVar("triomas_making", default=False)


def make_agent(cls: type[A], ctx: AgentContext) -> A:
    """A new, uninitialised agent of ``cls`` in ``ctx`` (the runtime's; see spawn)."""
    token = _MAKING.set(True)
    try:
        agent = cls.__new__(cls)
    finally:
        _MAKING.reset(token)
    agent._ctx = ctx  # noqa: SLF001 - this module is the agent's own
    return agent


class Agent:
    """An actor: one mailbox, one message at a time, a lifecycle.

    Subclass it and declare handlers with ``@on(MessageType)``. The runtime calls
    ``setup()`` once per incarnation before any message, then ``update()`` once
    and again whenever messages are waiting (or an alarm is due, or
    ``keep_awake`` is set), and ``teardown()`` always at the end. Each of them may
    be a plain or an ``async`` method.

    Spawn agents with ``container.spawn(cls, *args, **kwargs)``; the arguments go to
    ``__init__``, which may already use ``self.name``, ``self.clock`` and the rest.
    """

    keep_awake: bool = False
    """When true, ``update()`` runs every round (virtual) or continuously (live)."""

    trap_exits: bool = False
    """When true, a linked agent's abnormal end arrives as an :class:`Exit` message
    instead of failing this agent with :exc:`LinkedActorFailed`."""

    _triomas_info: ClassInfo
    _ctx: AgentContext
    _default_shutdown: float = 5.0
    _supervises: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._triomas_info = ClassInfo(cls, Agent, rpc_handlers(cls))

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if not _MAKING.get():
            # aiomas, MASPY and MASlite users write HelloWorld(c, "Monty"): say so at once,
            # not with an AttributeError at the agent's first send
            raise TypeError(
                f"{cls.__qualname__} is an agent: make it with "
                f"`await container.spawn({cls.__qualname__}, ...)` (or `container.start`), "
                f"which passes the arguments to its __init__, not with "
                f"{cls.__qualname__}(...)"
            )
        return super().__new__(cls)

    # ---- lifecycle -----------------------------------------------------------------------

    def setup(self) -> Awaitable[None] | None:
        """Called once per incarnation, before any message."""
        return None

    def update(self) -> Awaitable[None] | None:
        """Handle waiting messages; the default dispatches each to its ``@on`` handler.

        Override it for MASlite's style: ``while self.messages: env = self.receive()``.
        """
        return self._ctx.dispatch_waiting()

    def teardown(self) -> Awaitable[None] | None:
        """Called once when the incarnation ends, whatever the reason."""
        return None

    # ---- identity and time ---------------------------------------------------------------

    @property
    def name(self) -> str:
        """The agent's name, unique in its container and stable across restarts."""
        return self._ctx.name

    @property
    def incarnation(self) -> int:
        """Which incarnation this is: 1 at first, one more after every restart."""
        return self._ctx.incarnation

    @property
    def exit_reason(self) -> ExitReason | None:
        """Why this incarnation is ending (read it in ``teardown()``); None while it runs."""
        return self._ctx.exit_reason

    @property
    def ref(self) -> AgentRef:
        """A reference others can send to."""
        return self._ctx.ref

    @property
    def container(self) -> Container:
        """The container this agent lives in."""
        return self._ctx.container

    @property
    def clock(self) -> Clock:
        """The clock of the container: real, virtual or external time."""
        return self._ctx.clock

    @property
    def random(self) -> random.Random:
        """A ``random.Random`` seeded from the run's seed and the agent's name."""
        return self._ctx.rng()

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Sleep in clock time: ``await self.sleep(s)``. The agent handles no other user
        message meanwhile."""
        # PERF: a plain function returning the engine's awaitable, so a sleep resumes
        # no frame of the agent's class (sim_random_sleep in benchmarks/run.py).
        if seconds < 0:
            raise ValueError("cannot sleep for a negative time")
        return self._ctx.sleep(seconds)

    async def sleep_until(self, when: float) -> None:
        """Sleep until clock time ``when``."""
        await self._ctx.sleep_until(when)

    # ---- the mailbox, MASlite style ------------------------------------------------------

    @property
    def messages(self) -> deque[Envelope]:
        """The waiting messages, oldest first; test it for truth, take with :meth:`receive`."""
        return self._ctx.own_mailbox()

    def receive(self) -> Envelope:
        """Take the oldest waiting message; :exc:`IndexError` if none is waiting.

        The idiom is ``while self.messages: env = self.receive()``.
        """
        return self._ctx.take()

    # ---- messaging -----------------------------------------------------------------------

    def send(self, to: Recipient, msg: Any, **options: Unpack[SendOptions]) -> None:
        """Send ``msg`` and return at once (a tell); it never blocks.

        ``to`` is a reference, an address, an agent name, or a class or group name
        (then every member gets it). What cannot be delivered becomes a
        :class:`DeadLetter` event. The keywords are those of :class:`SendOptions`:
        ``topic``, ``direct=True`` to skip the sender's trackers, and the
        :class:`Envelope`'s speech-act and FIPA fields (``performative``,
        ``conversation_id``, ``reply_with``, ``in_reply_to``, ``reply_by``,
        ``protocol``, ``ontology``, ``language``); a ``reply_with`` here is for
        the receiver to echo by hand, not an ask.
        """
        # PERF: the check inline; its function (which says why) only on failure
        if type(msg) not in MESSAGE_CLASSES or (
            type(to) is not AgentRef
            and ("/" in to if type(to) is str else not isinstance(to, (str, type)))
        ):
            check_send(to, msg, "send")
        if not options:
            self._ctx.tell(to, msg)
            return
        if not SEND_KEYWORDS.issuperset(options):
            unknown = min(options.keys() - SEND_KEYWORDS)
            raise TypeError(f"send() got an unexpected keyword argument {unknown!r}")
        self._send_with(self._ctx, to, msg, **options)

    @staticmethod
    def _send_with(
        ctx: AgentContext,
        to: Recipient,
        msg: Any,
        *,
        topic: str | None = None,
        direct: bool = False,
        performative: str | None = None,
        conversation_id: str | None = None,
        reply_with: str | None = None,
        in_reply_to: str | None = None,
        reply_by: float | None = None,
        protocol: str | None = None,
        ontology: str | None = None,
        language: str | None = None,
    ) -> None:
        # send() with options: the keywords are bound here, in C, not looked up one by one.
        ctx.send(
            to,
            msg,
            topic,
            direct,
            performative,
            conversation_id,
            reply_with,
            in_reply_to,
            reply_by,
            None
            if protocol is None and ontology is None and language is None
            else (protocol, ontology, language),
        )

    async def send_wait(
        self, to: Recipient, msg: Any, *, timeout: float | None = None, topic: str | None = None
    ) -> None:
        """Send ``msg`` to one agent, waiting for room if its bounded mailbox is full.

        For agents with ``overflow="block"``; raises :exc:`MailboxFull` if there is
        still no room after ``timeout`` clock seconds, and :exc:`CalleeDown` if the
        agent stops for good meanwhile. Other agents get a plain :meth:`send`.
        """
        await self._ctx.send_wait(to, msg, timeout, topic)

    def ask(
        self,
        to: Recipient,
        msg: Any,
        *,
        timeout: float | None = 5.0,
        performative: str | None = None,
        conversation_id: str | None = None,
    ) -> Coroutine[Any, Any, Any]:
        """Send ``msg`` and wait for the reply (the handler's return value); await it.

        Raises :exc:`AskTimeout` after ``timeout`` seconds of clock time, or
        :exc:`CalleeDown` at once if the callee does not exist, stops, or crashes
        in the handler. The agent handles no other user message while it waits.
        """
        # PERF: the check inline; its function (which says why) only on failure
        if type(msg) not in MESSAGE_CLASSES or (
            type(to) is not AgentRef
            and ("/" in to if type(to) is str else not isinstance(to, (str, type)))
        ):
            check_send(to, msg, "ask")
        # PERF: the runtime's awaitable itself: no frame of this method's on every resume
        return self._ctx.ask(
            to, msg, math.inf if timeout is None else timeout, performative, conversation_id
        )

    def reply(self, request: Envelope, value: Any) -> None:
        """Answer an ask by hand (from a custom ``update()``); later replies are dropped."""
        self._ctx.reply(request, value)

    def reply_error(self, request: Envelope, error: BaseException) -> None:
        """Answer an ask with an error, and go on: the asker's ``ask`` raises ``error``
        (a :exc:`RemoteError` with its type, text and traceback, from another
        container). Unlike raising in the handler, the agent does not fail. Later
        replies, the handler's return value included, are dropped."""
        self._ctx.reply_error(request, error)

    def undelivered(self, env: Envelope, error: BaseException) -> None:
        """Called when a message this agent sent with ``reply_with`` (a KQML-style ask,
        answered by a message with ``in_reply_to``) became a dead letter in this
        process: ``error`` says why (:exc:`CalleeDown`, :exc:`NoHandler`, ...).

        The default does nothing (the dead letter is logged as every one is). It runs
        in the task that found the message undeliverable, so it must not block.
        """

    async def connect(self, to: AgentRef | str, *, timeout: float = 5.0) -> Proxy:
        """A proxy to call the ``@expose`` methods of agent ``to`` (aiomas' RPC).

        ``to`` is an address (``tcp://host:port/name``), a reference or a local
        name. It asks the agent which methods it exposes, so it fails at once with
        :exc:`CalleeDown` if there is no such agent, and with :exc:`NotExposed` if
        it exposes nothing. Each call through the proxy waits at most ``timeout``
        clock seconds.
        """
        return await connect(self.ask, as_ref(to, self._ctx.ref.container), timeout)

    def publish(self, msg: Any, *, topic: str | type | None = None) -> None:
        """Send ``msg`` to every subscriber of ``topic`` (default: the class name)."""
        if type(msg) not in MESSAGE_CLASSES:
            check_send(self._ctx.ref, msg, "publish")  # raises, saying why
        self._ctx.publish(msg, topic)

    def subscribe(
        self,
        *,
        topic: str | type | None = None,
        sender: AgentRef | str | None = None,
        receiver: str | None = None,
    ) -> None:
        """Subscribe to a topic, track a sender's messages, or join a receiver group."""
        self._ctx.subscribe(topic, sender, receiver, True)

    def unsubscribe(
        self,
        *,
        topic: str | type | None = None,
        sender: AgentRef | str | None = None,
        receiver: str | None = None,
    ) -> None:
        """Undo :meth:`subscribe`; with no argument, drop every subscription."""
        if topic is None and sender is None and receiver is None:
            self._ctx.unsubscribe_all()
        else:
            self._ctx.subscribe(topic, sender, receiver, False)

    # ---- monitors and links --------------------------------------------------------------

    def monitor(self, ref: AgentRef | str) -> MonitorRef:
        """Watch an agent: exactly one :class:`Down` arrives when it stops for good.

        Watching an agent that does not exist (any more) gives ``Down`` with reason
        ``NoProc`` at once. Monitors are one-way; handle ``Down`` like any message.
        """
        return self._ctx.monitor(ref)

    def demonitor(self, mref: MonitorRef, *, flush: bool = False) -> bool:
        """Stop watching; ``flush=True`` also drops its ``Down`` if already on its way.

        True if the monitor was still active.
        """
        return self._ctx.demonitor(mref, flush)

    def link(self, ref: AgentRef | str) -> None:
        """Link to an agent, both ways.

        When either ends abnormally (a failure), the other fails with
        :exc:`LinkedActorFailed`, or gets an :class:`Exit` message if it traps exits.
        Normal stops and shutdowns do not travel. Linking to an agent that does not
        exist counts as its abnormal end, at once.
        """
        self._ctx.link(ref)

    def unlink(self, ref: AgentRef | str) -> None:
        """Remove a link made by either side."""
        self._ctx.unlink(ref)

    # ---- alarms and tasks ----------------------------------------------------------------

    def set_alarm(
        self,
        msg: Any,
        *,
        at: float | None = None,
        after: float | None = None,
        topic: str | None = None,
        ignore_if_idle: bool = False,
        to: Recipient | None = None,
    ) -> TimerHandle:
        """Deliver ``msg`` to this agent at clock time ``at`` or ``after`` seconds.

        Alarms due at the same time arrive in the order they were set. With
        ``ignore_if_idle=True`` the alarm does not keep ``run_until_idle`` waiting,
        and is dropped when the run goes idle. With ``to``, the message is sent from
        this agent to that recipient when it is due, as :meth:`send` would (MASlite's
        alarm for another agent); the alarm is still this agent's (listed, cleared,
        and cancelled when it stops).
        """
        if (at is None) == (after is None):
            raise TypeError("set_alarm needs exactly one of at= or after=")
        return self._ctx.set_alarm(msg, at, after, topic, ignore_if_idle, to)

    def clear_alarms(self, *, topic: str | None = None, msg_type: type | None = None) -> int:
        """Cancel pending alarms (all, or those matching topic / message type)."""
        return self._ctx.clear_alarms(topic, msg_type)

    def list_alarms(
        self, *, topic: str | None = None, msg_type: type | None = None
    ) -> list[tuple[float, Any]]:
        """This agent's pending alarms (all, or those matching topic / message type) as
        ``(clock time, message)`` pairs, in the order they will fire."""
        return self._ctx.list_alarms(topic, msg_type)

    def start_task(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        """Run ``fn(*args)`` beside the mailbox; a crash in it is a crash of the agent."""
        self._ctx.start_task(fn, args)

    # ---- for subclasses that extend the runtime's behaviour (BDI, supervisors) ---------

    def _start_task(self, fn: Callable[..., Awaitable[object]], *args: Any) -> Cancellable:
        """:meth:`start_task`, returning a handle that cancels the task."""
        return self._ctx.start_task(fn, args)

    async def _wait(self, fut: Future, deadline: float) -> bool:
        """Wait for ``fut`` until clock time ``deadline``; False if it timed out."""
        return await self._ctx.wait(fut, deadline)

    def _current_task(self) -> object:
        """A key for the task running now: the main activation or a side task."""
        return self._ctx.current_task()

    @property
    def _active(self) -> bool:
        """Whether this incarnation is up and not ending."""
        return self._ctx.running

    @property
    def _tracing(self) -> bool:
        """Whether a trace recorder is attached to the container."""
        return self._ctx.tracing

    def _trace(self, kind: str, payload: str) -> None:
        """Record a trace event of this agent (nothing when tracing is off)."""
        self._ctx.trace(kind, payload)

    def _dispatch_waiting(self) -> Awaitable[None]:
        """The default ``update()``'s work: each waiting message to its handler."""
        return self._ctx.dispatch_waiting()

    def stop(self, reason: str | None = None) -> None:
        """Stop for good after the current message; teardown runs, queued messages
        become dead letters.

        The exit reason is :class:`Normal`, or ``Shutdown(reason)`` if a reason is
        given. Only a ``"permanent"`` agent is restarted after it stops itself.
        """
        self._ctx.stop(None if reason is None else Shutdown(reason))

    # ---- children ------------------------------------------------------------------------

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
        """Spawn a child: this agent supervises it (one for one, at most one restart
        in five seconds, beyond which this agent fails with
        :exc:`SupervisorEscalation`), and it is stopped before this agent's
        ``teardown()``, in reverse spawn order. Arguments as in
        :meth:`Container.spawn`.
        """
        ctx = self._ctx
        if not ctx.running:
            raise AgentStateError(f"agent {ctx.name} is not running; it cannot spawn")
        return ctx.spawn_child(
            cls,
            args,
            kwargs,
            name,
            options(cls, restart, shutdown, capacity, overflow, idle_timeout),
        )

    @property
    def children(self) -> list[AgentRef]:
        """This agent's live children, in start order."""
        return self._ctx.children()


Agent._triomas_info = ClassInfo(Agent, Agent)  # noqa: SLF001 - the base class's own info

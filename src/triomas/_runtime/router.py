"""The router: how a message finds its agent, and what happens when it cannot.

It resolves recipients (references, addresses, names, classes, groups), builds
envelopes, delivers locally or hands off to the network, publishes to topics, runs asks
and answers them into the reply slot each request carries, and reports dead letters
and system events. It is the container's :class:`~.ports.Inbound` port for a network.
"""

from __future__ import annotations

import collections
import enum
import logging
import math
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import trio

from .._messages.codec import Codec
from .._messages.envelope import Envelope
from .._messages.errors import (
    AskTimeout,
    CodecError,
    MailboxFull,
)
from .._messages.events import (
    AgentStarted,
    AgentStopped,
    DeadLetter,
    DeadLetterReason,
    ExitReason,
    NoProc,
    SystemEvent,
    TraceRecord,
)
from .._messages.ref import AgentRef, address_or_name, is_address
from .._time.future import Future, ReplySlot
from . import arrivals
from .deadletters import DeadLetterLog, undeliverable_error
from .distant import DistantTies
from .engine import RunState
from .lifecycle import Life
from .mailbox import handoff
from .subscriptions import Subscriptions, topic_name
from .tells import Outside
from .tracing import dead_record, recv_record, reply_record

if TYPE_CHECKING:
    from .._agent.context import Recipient
    from .._time.timers import TimerHandle
    from .cell import Cell
    from .container import Container
    from .engine import Engine
    from .observer import Observer
    from .ports import Remote, TieOp
    from .registry import Registry
    from .run import RunDefaults

log = logging.getLogger("triomas")


class _Unresolved(enum.Enum):
    """The marker of a recipient not resolved yet (an enum, so that ``is`` narrows it)."""

    TOKEN = enum.auto()


UNRESOLVED = _Unresolved.TOKEN

_SYSTEM_EVENTS = (DeadLetter, AgentStarted, AgentStopped)
_HANDOFF_YIELD = 16
"""Asks answered by hand-off in a row before the asking task yields to the scheduler."""
_STOPPED = Life.STOPPED
_ACTIVE = RunState.ACTIVE


class Router:
    """Routing, asks and replies, topics, dead letters and events for one container."""

    def __init__(
        self,
        address: str,
        engine: Engine,
        registry: Registry,
        run: RunDefaults,
        codec: Codec,
        strict: bool,
        trace: Callable[[TraceRecord], object] | None,
    ) -> None:
        self.address = address
        self.engine = engine
        # Set by the container once it exists (cells reach it through the router).
        self.container: Container
        self.engine_sleep = engine.sleep
        self.registry = registry
        self.run = run
        self.codec = codec
        self.strict = strict
        # Whether a tell must take the general path for what it needs (a codec round
        # trip, a trace context); the fast path reads this one flag (see observe).
        self.slow_tells = strict
        self.trace = trace
        self.subscriptions = Subscriptions()
        # The subscriptions' own dict, read by the tell fast path (it is never replaced).
        self.trackers = self.subscriptions.trackers
        self.inboxes = self.subscriptions.inboxes
        # The registry's own dict of live agents by name, read by the tell fast path (it
        # is never replaced).
        self.cells = registry.cells
        self.outside = Outside(self)  # the sender of what code outside the agents sends
        self.observer: Observer | None = None  # see observe()
        self.remote: Remote | None = None
        self.distant = DistantTies(self)
        # Gives a container with no network one that dials out, for an address it can reach.
        self.dial_out: Callable[[str], Remote | None] | None = None
        self.dead_letter_counts: collections.Counter[DeadLetterReason] = collections.Counter()
        self.event_callbacks: list[Callable[[SystemEvent], object]] = []
        self._dead_letter_log = DeadLetterLog()
        # Hand-offs only in real time: in virtual time a message must wait for the next round.
        self._handoff = not engine.virtual
        self._handoffs = 0

    def observe(self, observer: Observer | None) -> None:
        """Container.observe: tell ``observer`` of asks, sends and handling from now on."""
        self.observer = observer
        self.slow_tells = self.strict or observer is not None

    # ---- resolving ------------------------------------------------------------------------

    def resolve(self, to: Recipient) -> Cell | list[Cell] | None:
        """The local cell(s) ``to`` names, or None (another container's, or nobody)."""
        if isinstance(to, AgentRef):
            cell = to._cell
            if (
                cell is not None
                and cell.life is not _STOPPED
                and (cell.router is self or cell.router.remote is None)
            ):
                return cell  # a network container's agents are reached over the network
            home: Router | None
            if to.container == self.address:
                home = self
            else:
                remote = self.remote
                if remote is not None and remote.reaches(to.container):
                    return None  # it goes by network, even within this process
                other = self.run.open.get(to.container)
                home = None if other is None else other._router
            if home is None:
                return None
            found = home.registry.cells.get(to.name)
            # after an address, a class name or a receiver group works as it does over TCP
            return found if found is not None else home.resolve_name(to.name)
        if isinstance(to, type):  # the class and its subclasses, and its receiver group
            return self._members(self.registry.of_class(to), to.__name__)
        if "://" in to:  # PERF: is_address, inlined
            return self.resolve(AgentRef.parse(to))
        cell = self.registry.cells.get(to)
        return cell if cell is not None else self.resolve_name(to)

    def resolve_name(self, name: str) -> Cell | list[Cell] | None:
        """What a name that is no live agent's names here: the agents of a class of that
        name and the members of a receiver group, or an agent spawned on demand."""
        return self._members(self.registry.of_class(name), name)

    def _members(self, members: dict[Cell, None] | None, name: str) -> Cell | list[Cell] | None:
        extra = self.subscriptions.receivers.get(name)
        if extra:
            members = {**members, **extra} if members else extra
        return list(members) if members else self.registry.activate(name)

    def single(self, to: Recipient) -> Cell | None:
        """The one local cell ``to`` names (``ValueError`` if it names several)."""
        target = self.resolve(to)
        if isinstance(target, list):
            if len(target) != 1:
                raise ValueError(f"{to!r} names {len(target)} agents; this needs exactly one")
            return target[0]
        return target

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
        remote = self.remote
        if remote is None and self.dial_out is not None:
            remote = self.dial_out(ref.container)
        return ref if remote is not None and remote.reaches(ref.container) else None

    # ---- sending --------------------------------------------------------------------------

    def send(
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
        fipa: tuple[str | None, str | None, str | None] | None,
        reply: ReplySlot | None = None,
        target: Cell | list[Cell] | _Unresolved | None = UNRESOLVED,
    ) -> AgentRef | None:
        """Build the envelope and route it; ``reply``: an ask, so exactly one recipient.

        ``fipa`` is the envelope's ``(protocol, ontology, language)``, if any;
        ``target``: ``to`` already resolved (an ask does it first). Returns the
        reference when it went to another container's network, where an ask then
        flushes it (a tell is written by the connection's writer).
        """
        if self.strict:
            body = self.codec.roundtrip(body)
        (sender or self.outside).sent += 1
        single = reply is not None
        if target is _Unresolved.TOKEN:
            target = self.single(to) if single else self.resolve(to)
        # One agent, named or addressed, is its reference, as on the wire; a group or a
        # class is the name written.
        receiver: AgentRef | str
        if isinstance(to, AgentRef):
            receiver = to
        elif target is not None and not isinstance(target, list):
            receiver = target.ref
        elif isinstance(to, type):
            receiver = to.__name__
        else:
            receiver = address_or_name(to)
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
            self.engine.now(),
        )
        if fipa is not None:
            env.protocol, env.ontology, env.language = fipa
        if self.observer is not None:
            env.trace = self.observer.sending(env.sender, env)
        if reply is not None:
            env._reply_to = reply
        if isinstance(target, list):
            for member in target:
                member.deliver(member, env)
        elif target is not None and not (single and self._handoff and handoff(target, env)):
            target.deliver(target, env)  # its container's engine, maybe not ours
        elif target is None and (self.remote is not None or self.dial_out is not None):
            remote = self._remote_ref(to)
            if remote is not None and self.remote is not None:
                # It raises EncodeError before anyone saw the message.
                self.remote.forward(env, remote, reply)
                forwarded = remote
        if self.inboxes and target is not None:
            self.subscriptions.copy_to_inboxes(target, env)
        if not direct and sender is not None and self.trackers:
            trackers = self.trackers.get(sender.name)
            if trackers:
                self.subscriptions.copy_to_trackers(sender.name, trackers, env)
        if target is None and forwarded is None:
            unreachable = (
                isinstance(to, AgentRef)
                and to.container != self.address
                and to.container not in self.run.open
            )
            reason = (
                DeadLetterReason.UNREACHABLE if unreachable else DeadLetterReason.UNKNOWN_RECIPIENT
            )
            self.dead(env, reason, NoProc())
        return forwarded

    async def send_wait(
        self, sender: Cell | None, to: Recipient, msg: Any, timeout: float | None, topic: str | None
    ) -> None:
        """A send that waits for room in a bounded mailbox first."""
        target = self.single(to)
        if target is not None and target.bound is not None:
            await self._wait_room(target, timeout, msg)
        self.send(sender, to, msg, topic, False, None, None, None, None, None, None)
        await trio.lowlevel.checkpoint_if_cancelled()

    async def _wait_room(self, target: Cell, timeout: float | None, msg: Any) -> None:
        bound = target.bound
        if bound is None or bound.policy != "block" or not bound.full():
            return
        deadline = self.engine.now() + (math.inf if timeout is None else timeout)
        if not await bound.wait_room(deadline):
            raise MailboxFull(
                f"no room in the mailbox of {target.name} within {timeout} s for {msg!r}"
            )

    def publish(self, sender: Cell | None, body: Any, topic: str | type | None) -> None:
        """Send ``body`` to every subscriber of the topic, here and on the network."""
        name = type(body).__name__ if topic is None else topic_name(topic)
        if self.strict:
            body = self.codec.roundtrip(body)
        (sender or self.outside).sent += 1
        env = Envelope(
            body, None if sender is None else sender.ref, None, name, sent_at=self.engine.now()
        )
        if self.observer is not None:
            env.trace = self.observer.sending(env.sender, env)
        subscribers = self.subscriptions.topics.get(name)
        if subscribers:
            for cell in subscribers:
                cell.deliver(cell, env)
        if sender is not None and self.trackers:
            trackers = self.trackers.get(sender.name)
            if trackers:
                for tracker in trackers:
                    if self.subscriptions.passes(sender.name, tracker, name, None):
                        tracker.deliver(tracker, env)
        if self.remote is not None and self.remote.publish(env):
            return
        if not subscribers:  # trackers only watch: the publish itself reached nobody
            self.dead(env, DeadLetterReason.NO_SUBSCRIBERS, None)

    # ---- asks and replies -----------------------------------------------------------------

    async def ask(
        self,
        sender: Cell | None,
        to: Recipient,
        body: Any,
        timeout: float,
        performative: str | None,
        conversation_id: str | None,
    ) -> Any:
        """Send ``body`` as an ask and wait for the answer in its reply slot."""
        if not timeout >= 0:
            raise ValueError("timeout must be a non-negative number of seconds, or None")
        engine = self.engine
        net = self.remote
        if net is not None and not self.slow_tells:
            # Another container's agent over a network that is up: no envelope, no
            # routing (net_seq_tcp, net_inflight_tcp in benchmarks/run.py).
            ref = (
                to
                if type(to) is AgentRef
                else AgentRef.parse(to)  # cached; ValueError if malformed, as resolving says
                if type(to) is str and "://" in to
                else None
            )
            if (
                ref is not None
                and ref._cell is None
                and (sender is None or not self.trackers)
                and ref.container != self.address
                and net.reaches(ref.container)
            ):
                fut = Future()
                now = engine.now()
                me = None if sender is None else sender.ref
                if net.ask_direct(me, ref, body, performative, conversation_id, fut, now):
                    (sender or self.outside).sent += 1
                    try:
                        if await engine.wait(fut, now + timeout):
                            return fut.result()
                        raise AskTimeout(f"no reply from {to} within {timeout} s to {body!r}")
                    finally:
                        fut.close()
        target = self.single(to)  # resolved once, here
        if target is not None and target.bound is not None:
            start = engine.now()
            await self._wait_room(target, timeout, body)
            timeout -= engine.now() - start
        fut = Future()
        run = self.run
        run.next_id += 1  # PERF: run.new_reply_id(), inlined: a call less per ask
        finish = (
            None
            if self.observer is None
            else self.observer.asking(None if sender is None else sender.ref, to, body)
        )
        try:
            remote = self.send(
                sender,
                to,
                body,
                None,
                False,
                performative,
                conversation_id,
                str(run.next_id),
                None,
                None,
                None,
                fut,
                target,
            )
            if remote is not None:
                assert self.remote is not None
                await self.remote.flush(remote)
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
        except BaseException as exc:
            if finish is not None:
                finish(exc)
                finish = None
            raise
        finally:
            # Closed when the caller stops waiting (timeout, cancel, crash): a late
            # reply is dropped, as the call's end already told the caller.
            fut.close()
            if finish is not None:
                finish(None)

    def reply(self, request: Envelope, value: Any) -> None:
        """Answer ``request`` with ``value`` (a second answer is dropped)."""
        slot = request._reply_to
        if slot is not None:
            request._reply_to = None
            if self.strict:
                try:
                    value = self.codec.roundtrip_value(value)
                except CodecError as exc:
                    slot.set_error(exc)
                    return
            if self.trace is not None:
                self.trace(reply_record(self.engine.now(), request, value))
            slot.set_result(value)

    def reply_error(self, request: Envelope, error: BaseException) -> None:
        """Answer ``request`` with an error for the asker to raise."""
        slot = request._reply_to
        if slot is not None:
            request._reply_to = None
            slot.set_error(error)

    # ---- the network's port (Inbound) -----------------------------------------------------

    arrive = arrivals.arrive
    arrive_tell = arrivals.arrive_tell
    members = arrivals.members
    matching = arrivals.matching

    def topics(self) -> list[str]:
        """The topics this container's agents subscribe to."""
        return list(self.subscriptions.topics)

    def subscribed(self, topic: str) -> bool:
        """Whether some agent here subscribes to ``topic``."""
        return topic in self.subscriptions.topics

    def now(self) -> float:
        """The container's clock time."""
        return self.engine.now()

    def call_at(self, when: float, callback: Callable[[], object], blocking: bool) -> TimerHandle:
        """A timer on the container's clock."""
        return self.engine.call_at(when, callback, blocking)

    async def discover(
        self,
        name: str | None,
        cls: type | str | None,
        topic: str | type | None,
        timeout: float | None,
    ) -> list[AgentRef]:
        """The agents named ``name``, of class ``cls`` or subscribed to ``topic``, here
        and wherever the network sees (see :meth:`Container.discover`)."""
        kind = cls.__name__ if isinstance(cls, type) else cls
        subject = None if topic is None else topic_name(topic)
        found = [AgentRef(self.address, n) for n in self.matching(name, kind, subject)]
        if self.remote is not None:
            found += await self.remote.discover(name, kind, subject, timeout)
        else:
            await trio.lowlevel.checkpoint()
        return sorted(set(found))

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> None:
        """A monitor or link from an agent of ``container`` (see :mod:`.distant`)."""
        self.distant.arrive(container, op, id, ours, theirs, reason)

    def peer_down(self, container: str, detail: str) -> None:
        """Every tie with ``container`` is gone."""
        self.distant.peer_down(container, detail)

    def renamed(self, old: str, new: str) -> None:
        """The container dialed as ``old`` goes by ``new``."""
        self.distant.renamed(old, new)

    # ---- dead letters, events, traces -----------------------------------------------------

    def dead(
        self,
        env: Envelope,
        reason: DeadLetterReason,
        down: ExitReason | None,
        reply: ReplySlot | None = None,
    ) -> None:
        """Report ``env`` as undeliverable; a waiting asker is failed at once.

        ``reply``: the slot of the ask ``env`` carried, when the network kept it.
        """
        if reply is not None:
            env._reply_to = reply
        if isinstance(env.body, _SYSTEM_EVENTS):
            return  # events are best effort: never a dead letter about a dead letter
        if env.reply_with is not None:
            error = undeliverable_error(env, reason, down)
            if env._reply_to is not None:
                self.reply_error(env, error)
            else:
                self._bounce(env, error)
        self.dead_letter_counts[reason] += 1
        letter = DeadLetter(env.body, env.sender, env.receiver, reason)
        self._dead_letter_log.record(letter, self.engine.now(), self.address)
        if self.trace is not None:  # the repr costs, and a flood of dead letters adds up
            self.trace(dead_record(self.engine.now(), env, reason))
        self.emit(letter)

    def _bounce(self, env: Envelope, error: BaseException) -> None:
        """Tell a local sender that a message it expects an answer to is undeliverable."""
        sender = env.sender
        cell = None if sender is None else sender._cell
        if cell is None and sender is not None and sender.container == self.address:
            cell = self.registry.cells.get(sender.name)  # a reference from the wire
        if cell is not None and cell.life is not _STOPPED:
            try:
                cell.agent.undelivered(env, error)
            except Exception:
                log.exception("%s: undelivered() of %s failed", self.address, sender)

    def no_handler(self, env: Envelope) -> None:
        """``env``'s receiver has no handler for it."""
        self.dead(env, DeadLetterReason.NO_HANDLER, None)

    def listened(self, event_type: type) -> bool:
        """Whether anyone listens to events of ``event_type`` (so they are worth making)."""
        return bool(self.event_callbacks) or event_type.__name__ in self.subscriptions.topics

    def emit(self, event: SystemEvent) -> None:
        """Hand a system event to the callbacks and to the agents subscribed to its type."""
        for callback in list(self.event_callbacks):
            try:
                callback(event)
            except Exception:
                log.exception("event callback %r raised", callback)
        subscribers = self.subscriptions.topics.get(type(event).__name__)
        if subscribers:
            env = Envelope(event, None, None, type(event).__name__, sent_at=self.engine.now())
            for cell in subscribers:
                cell.deliver(cell, env)

    def trace_event(self, agent: str, event: str, payload: str) -> None:
        """Record a trace event, when a recorder is attached."""
        if self.trace is not None:
            self.trace(TraceRecord(self.engine.now(), agent, event, payload))

    def trace_recv(self, cell: Cell, env: Envelope) -> None:
        """Record that ``cell`` takes ``env``, when a recorder is attached."""
        if self.trace is not None:
            self.trace(recv_record(self.engine.now(), cell.name, env))


# ---- an agent's messaging calls (methods of Cell, assigned in its class body) -------------


def ask(
    self: Cell,
    to: Recipient,
    msg: Any,
    timeout: float,
    performative: str | None,
    conversation_id: str | None,
) -> Coroutine[Any, Any, Any]:
    """Send and wait for the reply (the router's awaitable: no frame of its own)."""
    return self.router.ask(self, to, msg, timeout, performative, conversation_id)

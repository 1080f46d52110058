"""The messages and questions that come from other containers: the part of the router
that the network's port (:class:`~triomas._runtime.ports.Inbound`) calls most (methods
of ``Router``, assigned in its class body; ``self`` is the router)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._messages.events import DeadLetterReason, NoProc
from .._messages.ref import AgentRef
from .mailbox import handoff

if TYPE_CHECKING:
    from .._messages.envelope import Envelope, ReplySlot
    from .._messages.errors import DecodeError
    from .router import Router


def arrive_tell(
    self: Router, receiver: str, sender: AgentRef | None, body: Any, sent_at: float
) -> bool:
    """:meth:`~triomas._runtime.ports.Inbound.arrive_tell`: a plain tell to a live agent
    by name that keeps its tells as their parts (PERF: net_nats_tells)."""
    if self.slow_tells:  # a strict or observed container: every message as an envelope
        return False
    cell = self.registry.cells.get(receiver)
    if cell is None or not cell.compact or cell.exit_reason is not None:
        return False
    cell.accept_tell(body, sender, sent_at)
    return True


def arrive(
    self: Router,
    env: Envelope,
    receiver: str | None,
    reply: ReplySlot | None,
    error: DecodeError | None,
) -> None:
    """Deliver a message that came from another container."""
    if reply is not None:
        env._reply_to = reply
    if error is None and receiver is not None:
        # PERF: an ask or a tell to a live agent by its name, the common case: its own
        # reference is the receiver (asks across processes in benchmarks/run.py)
        cell = self.registry.cells.get(receiver)
        if cell is not None:
            env.receiver = cell.ref
            if not (env.reply_with is not None and self._handoff and handoff(cell, env)):
                cell.deliver(cell, env)
            return
    if receiver is not None:
        env.receiver = AgentRef(self.address, receiver)
    if error is not None:
        self.dead(env, DeadLetterReason.UNDECODABLE, None)
        return
    if receiver is not None and "/" in receiver:
        # A name, never an address: a peer must not reach past this container.
        self.dead(env, DeadLetterReason.UNKNOWN_RECIPIENT, NoProc())
        return
    if receiver is None:
        subscribers = self.subscriptions.topics.get(env.topic)
        if not subscribers:
            self.dead(env, DeadLetterReason.NO_SUBSCRIBERS, None)
            return
        for cell in subscribers:
            cell.deliver(cell, env)
        return
    target = self.resolve(receiver)
    if isinstance(target, list):
        if env.reply_with is not None and len(target) != 1:
            self.reply_error(
                env, ValueError(f"{receiver!r} names {len(target)} agents; an ask needs one")
            )
            return
        for member in target:
            member.deliver(member, env)
    elif target is not None:
        if not (env.reply_with is not None and self._handoff and handoff(target, env)):
            target.deliver(target, env)
    else:
        self.dead(env, DeadLetterReason.UNKNOWN_RECIPIENT, NoProc())


def members(self: Router, group: str) -> list[str]:
    """The names of the agents here of the class called ``group``, and the members
    of the receiver group ``group``."""
    found = self._members(self.registry.of_class(group), group)
    return (
        []
        if found is None
        else [cell.name for cell in (found if isinstance(found, list) else [found])]
    )


def matching(self: Router, name: str | None, cls: str | None, topic: str | None) -> list[str]:
    """The names of this container's live agents named ``name``, of a class called
    ``cls`` or subscribed to ``topic`` (None matches everything)."""
    subscribers = None if topic is None else self.subscriptions.topics.get(topic, {})
    return [
        cell.name
        for cell in self.registry.cells.values()
        if (name is None or cell.name == name)
        and (cls is None or type(cell.agent).__name__ == cls)
        and (subscribers is None or cell in subscribers)
    ]

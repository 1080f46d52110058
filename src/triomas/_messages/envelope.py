"""The envelope every message travels in."""

from __future__ import annotations

from typing import Any, Protocol, final

import attrs

from .ref import AgentRef


class ReplySlot(Protocol):
    """Where the answer to an ask goes: a :class:`Future`, or a reply to another container."""

    done: bool
    """Whether it was answered, or closed because its asker stopped waiting."""

    def set_result(self, value: Any) -> bool:
        """Answer with ``value``; False if already answered."""
        ...

    def set_error(self, error: BaseException) -> bool:
        """Answer with ``error``; False if already answered."""
        ...


@final
@attrs.define(slots=True, eq=True)
class Envelope:
    """A message with its routing and conversation fields.

    One envelope is shared by every recipient of a send (a group, a topic, the
    trackers), so treat it as read-only. It is not frozen only because building
    frozen attrs instances costs about three times as much on the hot path.

    ``receiver`` is what the sender addressed: the agent's reference when it named
    one agent (by reference, name or address; locally as over the wire), the name
    written for a class or a group (or a name nobody has), or ``None`` for a
    publish. ``sent_at`` is clock time.

    ``performative`` names a speech act (``"tell"``, ``"cfp"``, ...) and is None
    for plain messages. ``conversation_id``, ``reply_with``, ``in_reply_to`` and
    ``reply_by`` (clock time) thread conversations; ``protocol`` (such as
    ``"fipa-contract-net"``), ``ontology`` and ``language`` are FIPA-ACL's fields,
    carried for the agents and never read by the runtime. ``trace`` is the W3C
    ``traceparent`` of the span that sent the message, set only when the container
    is observed (``triomas.otel``).
    """

    body: Any
    sender: AgentRef | None = None
    receiver: AgentRef | str | None = None
    topic: str = ""
    performative: str | None = None
    conversation_id: str | None = None
    reply_with: str | None = None
    in_reply_to: str | None = None
    reply_by: float | None = None
    sent_at: float = 0.0
    protocol: str | None = None
    ontology: str | None = None
    language: str | None = None
    # The W3C ``traceparent`` of the span that sent it, when an instrumentation is on
    # (``triomas.otel``); it travels with the message to other containers.
    trace: str | None = attrs.field(default=None, eq=False, repr=False)
    # The reply slot of an ask: where the answer goes (the asker's future, or a reply
    # to another container). The runtime's own: not set by users, not copied by
    # ``attrs.evolve`` (trackers get copies), cleared once answered.
    _reply_to: ReplySlot | None = attrs.field(default=None, init=False, eq=False, repr=False)


def tell_envelope(
    body: Any, sender: AgentRef | None, receiver: AgentRef | str, sent_at: float
) -> Envelope:
    """The envelope of a plain tell (no option set): the one place that builds it positionally."""
    # PERF: positional arguments; attrs' __init__ with keywords costs ~10 % more per tell.
    return Envelope(
        body, sender, receiver, type(body).__name__, None, None, None, None, None, sent_at
    )

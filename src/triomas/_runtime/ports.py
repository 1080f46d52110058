"""The ports between the runtime and a network: what each may call of the other.

The runtime never imports the network layer: a network implements :class:`Remote` and
is attached to a container by the composition root (``open_container``); it reaches
the container only through :class:`Inbound`, which the container's router implements.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._messages.envelope import Envelope, ReplySlot
    from .._messages.errors import DecodeError
    from .._messages.events import DeadLetterReason, ExitReason
    from .._messages.ref import AgentRef
    from .._time.timers import TimerHandle

__all__ = ["Inbound", "PeerLink", "Remote", "TieOp"]


class TieOp(enum.IntEnum):
    """What a tie between containers says: a monitor or link between an agent of the
    sending container (``ours``) and one of the receiving container (``theirs``).

    Monitors and links belong to one connection's life: when it ends, both sides
    drop them, and the side that held a monitor gets ``Down(noconnection)``.
    """

    MONITOR = 0
    """``ours`` watches ``theirs``, under the sender's monitor ``id``."""
    DEMONITOR = 1
    """``ours`` stops watching under monitor ``id``."""
    DOWN = 2
    """``ours``, watched under the receiver's monitor ``id``, stopped for good: ``reason``."""
    LINK = 3
    """Link ``ours`` and ``theirs``."""
    UNLINK = 4
    """Remove the link of ``ours`` and ``theirs``."""
    EXIT = 5
    """``ours``, linked to ``theirs``, ended an incarnation: ``reason`` (the link is gone)."""


class PeerLink(Protocol):
    """Where frames for one peer container go (a connection, or a simulated path)."""

    address: str

    @property
    def frame_limit(self) -> int:
        """The largest frame the peer accepts."""
        ...

    def send_frame(self, data: bytes) -> bool:
        """Queue ``data`` for the peer; False if it cannot be sent (the buffer is full)."""
        ...


class Remote(Protocol):
    """A container's way to other containers: a socket network or a simulated one."""

    codec: Codec

    def reaches(self, container: str) -> bool:
        """Whether this network can carry messages to ``container``."""
        ...

    def forward(self, env: Envelope, to: AgentRef, reply: ReplySlot | None = None) -> None:
        """Send ``env`` to agent ``to`` in another container; never blocks.

        Raises :exc:`EncodeError` if the message cannot travel; what cannot be
        delivered later becomes a dead letter. ``reply``: the envelope is an ask and
        this is where its answer goes; the network keeps it until the answer comes
        (a run-wide table exists only there, where a reply crosses a network), and
        the writing is left to a :meth:`flush` the caller makes next.
        """
        ...

    async def flush(self, to: AgentRef) -> None:
        """Write what waits for ``to``'s container, from the calling task."""
        ...

    def ask_direct(
        self,
        sender: AgentRef | None,
        to: AgentRef,
        body: Any,
        performative: str | None,
        conversation_id: str | None,
        reply: ReplySlot,
        now: float,
    ) -> bool:
        """Send and write a plain ask to agent ``to`` (its answer goes to ``reply``)
        with no envelope made, if this network has such a path and it is open now;
        False, with nothing done, sends it by :meth:`forward` and :meth:`flush`."""
        ...

    def tell_direct(self, sender: AgentRef | None, to: AgentRef, body: Any, now: float) -> bool:
        """Send a plain tell (no option, no performative) to agent ``to`` with no
        envelope made, if this network has such a path for ``to``'s container now;
        False, with nothing done, sends it by :meth:`forward`."""
        ...

    def publish(self, env: Envelope) -> int:
        """Send a publish to every peer with subscribers of ``env.topic``; how many."""
        ...

    def interest(self, topic: str, add: bool) -> None:
        """Tell peers that this container gained or lost subscribers of ``topic``."""
        ...

    def group(self, name: str, add: bool) -> None:
        """This container gained its first (or lost its last) agent of a class called
        ``name``, or member of the receiver group ``name``; a network that carries
        messages to a class or group across containers follows it."""
        ...

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        """Send a tie to ``container``; never blocks.

        Returns the name the network knows that container by (the one its
        :meth:`Inbound.tie` and :meth:`Inbound.peer_down` calls will use), or None if
        it cannot be sent: then the tie is as good as broken (``noconnection``). A
        ``MONITOR`` or ``LINK`` connects if need be; the others go only over a
        connection already open, since without one the peer has dropped its side.
        """
        ...

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        ...

    async def discover(
        self, name: str | None, cls: str | None, topic: str | None, timeout: float | None
    ) -> list[AgentRef]:
        """The agents of other containers named ``name``, of the class called ``cls``,
        or subscribed to ``topic``, as far as this network sees (see
        :meth:`Inbound.matching`)."""
        ...


def no_direct_ask(
    self: object,
    sender: AgentRef | None,
    to: AgentRef,
    body: Any,
    performative: str | None,
    conversation_id: str | None,
    reply: ReplySlot,
    now: float,
) -> bool:
    """:meth:`Remote.ask_direct` of a network with no path of its own (assign it in the
    class body): every ask goes by :meth:`Remote.forward`."""
    return False


def no_direct_tell(
    self: object, sender: AgentRef | None, to: AgentRef, body: Any, now: float
) -> bool:
    """:meth:`Remote.tell_direct` of a network with no path of its own (assign it in the
    class body): every tell goes by :meth:`Remote.forward`."""
    return False


class Inbound(Protocol):
    """What a network may call of the container it serves (the router implements it)."""

    address: str
    codec: Codec

    def arrive(
        self,
        env: Envelope,
        receiver: str | None,
        reply: ReplySlot | None,
        error: DecodeError | None,
    ) -> None:
        """Deliver a message from another container; ``reply`` answers it if an ask."""
        ...

    def arrive_tell(
        self, receiver: str, sender: AgentRef | None, body: Any, sent_at: float
    ) -> bool:
        """Deliver a plain tell from another container (``sender``: None from outside the
        agents there) to the live agent ``receiver`` with no envelope, if that agent
        takes its tells so; False, with nothing done, delivers it by :meth:`arrive`."""
        ...

    def dead(
        self,
        env: Envelope,
        reason: DeadLetterReason,
        down: ExitReason | None,
        reply: ReplySlot | None = None,
    ) -> None:
        """Report ``env`` as undeliverable (an asker waiting on it, or on ``reply``,
        fails at once)."""
        ...

    def topics(self) -> list[str]:
        """The topics this container's agents subscribe to."""
        ...

    def subscribed(self, topic: str) -> bool:
        """Whether some agent of this container subscribes to ``topic``."""
        ...

    def now(self) -> float:
        """The container's clock time."""
        ...

    def call_at(self, when: float, callback: Callable[[], object], blocking: bool) -> TimerHandle:
        """A timer on the container's clock (the virtual network's delays)."""
        ...

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> None:
        """A tie from ``container``; ``ours`` names its agent, ``theirs`` one of this
        container. Raises :exc:`ProtocolError` if the peer holds too many ties here."""
        ...

    def members(self, group: str) -> list[str]:
        """The names of this container's agents of the class called ``group`` and the
        members of the receiver group ``group``."""
        ...

    def matching(self, name: str | None, cls: str | None, topic: str | None) -> list[str]:
        """The names of this container's agents named ``name``, of a class called
        ``cls``, or subscribed to ``topic`` (None: any), for a discovery."""
        ...

    def peer_down(self, container: str, detail: str) -> None:
        """The connection to ``container`` ended, or it was declared down: every tie
        with it is gone (monitors on its agents get ``Down(noconnection)``, links to
        them break with that reason)."""
        ...

    def renamed(self, old: str, new: str) -> None:
        """The container dialed as ``old`` goes by ``new`` (the name it announced)."""
        ...

"""The ports between the runtime and a network: what each may call of the other.

The runtime never imports the network layer: a network implements :class:`Remote` and
is attached to a container by the composition root (``open_container``); it reaches
the container only through :class:`Inbound`, which the container's router implements.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._messages.envelope import Envelope, ReplySlot
    from .._messages.errors import DecodeError
    from .._messages.events import DeadLetterReason, ExitReason
    from .._messages.ref import AgentRef
    from .._time.timers import TimerHandle

__all__ = ["Inbound", "PeerLink", "Remote"]


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

    def publish(self, env: Envelope) -> int:
        """Send a publish to every peer with subscribers of ``env.topic``; how many."""
        ...

    def interest(self, topic: str, add: bool) -> None:
        """Tell peers that this container gained or lost subscribers of ``topic``."""
        ...

    async def aclose(self) -> None:
        """Close every connection and stop listening."""
        ...


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

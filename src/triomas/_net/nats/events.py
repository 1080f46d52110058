"""What the NATS client reports through its ``on_event`` callback.

Each event is a small frozen attrs class. They are called synchronously from the
client's own tasks: a callback must be quick and must not raise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias, final

import attrs

from .protocol import parse_pub

__all__ = [
    "Closed",
    "Disconnected",
    "Discovered",
    "LameDuck",
    "Lost",
    "LostPublish",
    "NatsEvent",
    "Reconnected",
    "ServerError",
    "SlowConsumer",
    "lost_publishes",
]


@final
@attrs.frozen
class LostPublish:
    """A publish the client gave up on: it may or may not have reached the server."""

    subject: str
    reply: str | None
    payload: bytes
    headers: dict[str, list[str]] | None = None


@final
@attrs.frozen
class Disconnected:
    """The connection to ``server`` ended; ``error`` is what ended it, if anything
    raised (a :exc:`NatsProtocolError` for a server that broke the protocol)."""

    server: str
    reason: str
    error: BaseException | None = attrs.field(default=None, eq=False)


@final
@attrs.frozen
class Reconnected:
    """The client is connected again, to ``server``, and has sent its subscriptions
    again (same sids) followed by the publishes that waited."""

    server: str


@final
@attrs.frozen
class Lost:
    """Publishes handed back to the caller, who may turn them into dead letters.

    ``uncertain`` is true when they were being written as the connection broke:
    any of them may have reached the server (they are never sent again). Otherwise
    they were never written: the client gave up reconnecting, or closed before it
    could send them.
    """

    messages: tuple[LostPublish, ...]
    reason: str
    uncertain: bool


@final
@attrs.frozen
class ServerError:
    """The server sent ``-ERR``; for most errors it closes the connection next."""

    server: str
    message: str


@final
@attrs.frozen
class SlowConsumer:
    """The server reports this client as a slow consumer (``-ERR 'Slow Consumer'``):
    it drops messages for it, and may close the connection."""

    server: str
    message: str


@final
@attrs.frozen
class LameDuck:
    """``server`` is going away soon (lame duck mode); the client reconnects elsewhere
    when it closes the connection."""

    server: str


@final
@attrs.frozen
class Discovered:
    """The servers the client would try changed: the cluster advertised other client
    URLs (``connect_urls``). ``servers`` is the new list, given ones first."""

    servers: tuple[str, ...]


@final
@attrs.frozen
class Closed:
    """The client is closed for good: ``aclose``, or it gave up reconnecting."""

    reason: str
    error: BaseException | None = attrs.field(default=None, eq=False)


NatsEvent: TypeAlias = (
    Disconnected | Reconnected | Lost | ServerError | SlowConsumer | LameDuck | Discovered | Closed
)
"""Any event of the client."""


def lost_publishes(frames: Sequence[bytes]) -> tuple[LostPublish, ...]:
    """The publishes among queued client lines (``SUB``, ``PING``... are skipped)."""
    found = []
    for frame in frames:
        pub = parse_pub(frame)
        if pub is not None:
            found.append(LostPublish(pub.subject, pub.reply, pub.payload, pub.headers))
    return tuple(found)

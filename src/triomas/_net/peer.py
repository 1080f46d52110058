"""The record one container keeps of another: its connection, what waits for one, the
asks sent to it, and the topics its agents subscribe to."""

from __future__ import annotations

import os
from collections import deque
from typing import TYPE_CHECKING, Any, final

from .._messages.errors import ProtocolError
from .wire import MAX_FRAME

if TYPE_CHECKING:
    from .._messages.envelope import ReplySlot
    from .connection import Connection
    from .network import Network

PRUNE_AT = 1024
"""Asks pending to one peer before those whose askers stopped waiting are forgotten."""
MAX_TOPICS = 10_000
"""The most topics one peer may announce subscribers of."""


@final
class ReplyIds:
    """Random reply ids for the wire: 8 bytes from the OS's random source each, drawn
    512 at a time (one system call per ask costs a few per cent of a round trip)."""

    __slots__ = ("_at", "_pool")

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> str:
        """A fresh reply id, as 16 hexadecimal digits."""
        at = self._at
        if at >= len(self._pool):
            self._pool = os.urandom(4096)
            at = 0
        self._at = at + 8
        return self._pool[at : at + 8].hex()


@final
class Peer:
    """Another container, as seen from this one: its connection, or what waits for one."""

    __slots__ = (
        "address",
        "conn",
        "dialing",
        "network",
        "pending",
        "prune_at",
        "queue",
        "queued_bytes",
        "topics",
    )

    def __init__(self, address: str, network: Network) -> None:
        self.address = address
        self.network = network
        self.conn: Connection | None = None
        self.queue: deque[bytes] = deque()
        self.queued_bytes = 0
        self.dialing = False
        self.pending: dict[str, ReplySlot] = {}
        """The asks sent to this peer and not yet answered: the reply id on the wire
        (random), and the key of the ask's reply slot here. Only this peer's
        replies are looked up in it."""
        self.prune_at = PRUNE_AT
        self.topics: set[str] = set()
        """Topics the peer's agents subscribe to."""

    def send_frame(self, data: bytes) -> bool:
        """The :class:`Link` side: a reply to an ask the peer made goes out on its
        connection. With none, the asker has already been told the connection was
        lost, so the reply is not sent (False), and no connection is dialed for it."""
        conn = self.conn
        if conn is None or not conn.accepting:
            current = self.network.peers.get(self.address)
            conn = None if current is None else current.conn
            if conn is None or not conn.accepting:
                return False
        return conn.send_frame(data)

    def send_ask(self, conn: Connection, data: bytes, wire: str, reply: ReplySlot) -> bool:
        """Write an ask's frame on ``conn`` (this peer's, open) at once, its reply slot
        kept under the reply id ``wire``; False, with nothing done, if the send buffer
        is full."""
        self.expect(wire, reply)
        if not conn.send_frame(data, False):
            del self.pending[wire]
            return False
        conn.flush()
        return True

    def expect(self, wire: str, reply: ReplySlot) -> None:
        """Keep an ask's reply slot under its reply id ``wire`` until the answer comes,
        forgetting first the asks whose askers stopped waiting, once there are many."""
        if len(self.pending) >= self.prune_at:
            self.prune()
        self.pending[wire] = reply

    def prune(self) -> None:
        """Forget the asks whose askers stopped waiting (timed out)."""
        self.pending = {wire: slot for wire, slot in self.pending.items() if not slot.done}
        self.prune_at = max(PRUNE_AT, 2 * len(self.pending))

    def interest(self, item: list[Any]) -> None:
        """Take an ``INTEREST`` payload (parsed): the peer's agents (un)subscribed to
        topics. :exc:`ProtocolError` if it is malformed or over :data:`MAX_TOPICS`."""
        if len(item) != 3 or not isinstance(item[2], list):
            raise ProtocolError("malformed INTEREST")
        topics = self.topics
        if item[1]:
            topics.update(t for t in item[2] if isinstance(t, str))
            if len(topics) > MAX_TOPICS:
                raise ProtocolError(f"more than {MAX_TOPICS} topics")
        else:
            topics.difference_update(t for t in item[2] if isinstance(t, str))

    @property
    def frame_limit(self) -> int:
        """The largest frame the peer accepts, as its handshake told."""
        conn = self.conn
        return MAX_FRAME if conn is None else conn.peer_max_frame

    def enqueue(self, data: bytes, limit: float) -> bool:
        if self.queued_bytes + len(data) > limit:
            return False
        self.queue.append(data)
        self.queued_bytes += len(data)
        return True

    @property
    def unused(self) -> bool:
        """Nothing refers to this record: no connection, nothing waiting, no ask."""
        return self.conn is None and not self.queue and not self.pending and not self.dialing

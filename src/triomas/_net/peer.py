"""The record one container keeps of another: its connection, what waits for one, the
asks sent to it, and the topics its agents subscribe to."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, final

from .wire import MAX_FRAME

if TYPE_CHECKING:
    from .._messages.envelope import ReplySlot
    from .connection import Connection
    from .network import Network

PRUNE_AT = 1024
"""Asks pending to one peer before those whose askers stopped waiting are forgotten."""


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

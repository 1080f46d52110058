"""The socket network of one container: its listener, one connection per peer
container, reconnection with backoff, and the frames' way into the container."""

from __future__ import annotations

import logging
import ssl
from collections import deque
from typing import TYPE_CHECKING, final

import attrs
import trio

from ._codec import Codec
from ._connection import Connection
from ._envelope import Envelope
from ._errors import AuthenticationError, CalleeDown, DecodeError, EncodeError, ProtocolError
from ._events import DeadLetterReason, NoProc, Shutdown
from ._ref import AgentRef
from ._remote import answer, arrive
from ._transport import Transport, transport_for
from ._wire import (
    Kind,
    decode_message,
    encode_message,
    frame,
    parse,
    raw_parse,
)

if TYPE_CHECKING:
    from ._container import Container

log = logging.getLogger("triomas.network")

_DIAL_ERRORS = (
    OSError,
    trio.BrokenResourceError,
    trio.ClosedResourceError,
    ProtocolError,
    AuthenticationError,
    trio.TooSlowError,
)
_DRAIN_LIMIT = 2.0
_FIRST_RETRY = 0.05
_MAX_RETRY = 2.0


@final
@attrs.frozen(kw_only=True)
class NetworkOptions:
    """The knobs of a container's network (see :func:`open_container`)."""

    max_frame: int
    max_buffer: int
    handshake_timeout: float
    reconnect_timeout: float
    secret: bytes | None = None
    ssl_server: ssl.SSLContext | None = None
    ssl_client: ssl.SSLContext | None = None


@final
class Peer:
    """Another container, as seen from this one: its connection, or what waits for one."""

    __slots__ = (
        "address",
        "conn",
        "dialing",
        "network",
        "pending",
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
        self.pending: dict[str, None] = {}
        """Reply ids of asks sent to this peer and not yet answered."""
        self.topics: set[str] = set()
        """Topics the peer's agents subscribe to."""

    def send_frame(self, data: bytes) -> bool:
        """The :class:`Link` side: frames for the peer (replies, mostly); without a
        connection they wait for one, within the send buffer."""
        conn = self.conn
        if conn is not None:
            return conn.send_frame(data)
        if not self._enqueue(data, self.network.options.max_buffer):
            return False
        self.network._dial(self)
        return True

    def _enqueue(self, data: bytes, limit: float) -> bool:
        if self.queued_bytes + len(data) > limit:
            return False
        self.queue.append(data)
        self.queued_bytes += len(data)
        return True


@final
class Network:
    """Connections from one container to the others it talks to.

    At most one connection per peer container, used in both directions: when two
    containers dial each other at once, the connection dialed by the container
    with the smaller address is kept. Frames wait in a bounded queue while a peer
    is unreachable; the network redials with backoff, and after
    ``reconnect_timeout`` seconds what still waits becomes dead letters.
    """

    def __init__(
        self, container: Container, transport: Transport, codec: Codec, options: NetworkOptions
    ) -> None:
        self.container = container
        self.transport = transport
        self.codec = codec
        self.options = options
        self.address = container.address
        self.peers: dict[str, Peer] = {}
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._reachable: dict[str, bool] = {}

    # ---- lifetime -----------------------------------------------------------------------

    async def run(
        self,
        listeners: list[trio.abc.Listener[trio.abc.Stream]],
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Serve ``listeners`` and hold the connections' tasks until :meth:`aclose`.

        Shielded: a cancelled container still needs its connections to stop its
        agents and nodes; :meth:`aclose` ends them.
        """
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._serve, listeners)
                task_status.started()

    async def _serve(self, listeners: list[trio.abc.Listener[trio.abc.Stream]]) -> None:
        assert self._nursery is not None
        await trio.serve_listeners(self._inbound, listeners, handler_nursery=self._nursery)

    async def aclose(self) -> None:
        """Stop listening, close every connection, forget what waits."""
        self._closing = True
        with trio.move_on_after(_DRAIN_LIMIT):
            for peer in self.peers.values():
                if peer.conn is not None:
                    await peer.conn.drain()  # what teardowns sent still goes out
        for peer in self.peers.values():
            if peer.conn is not None:
                peer.conn.close("container closed")
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        self.transport.close(self.address)
        await trio.lowlevel.checkpoint()

    # ---- the Remote interface -----------------------------------------------------------

    def reaches(self, container: str) -> bool:
        """Every container with a socket or memory address is reachable."""
        known = self._reachable.get(container)
        if known is None:
            try:
                transport_for(container)
                known = True
            except ValueError:
                known = False
            if len(self._reachable) < 10_000:
                self._reachable[container] = known
        return known and not self._closing

    async def flush(self, to: AgentRef) -> None:
        """Write what waits for ``to``'s container from this task (see ``forward``)."""
        peer = self.peers.get(to.container)
        if peer is not None and peer.conn is not None:
            await peer.conn.flush()

    def forward(self, env: Envelope, to: AgentRef, wake: bool = True) -> None:
        """Encode ``env`` for agent ``to`` and send it, or queue it until connected.

        ``wake=False``: the caller will :meth:`flush` at once (an ask does).
        """
        data = encode_message(self.codec, env, to.name)
        if len(data) - 4 > self.options.max_frame:
            raise EncodeError(
                f"{type(env.body).__name__} takes {len(data) - 4} bytes on the wire, over the "
                f"frame limit of {self.options.max_frame}"
            )
        peer = self._peer(to.container)
        if env.reply_with is not None:
            peer.pending[env.reply_with] = None
        conn = peer.conn
        sent = (
            conn.send_frame(data, wake)
            if conn is not None
            else peer._enqueue(data, self.options.max_buffer)
        )
        if not sent:
            peer.pending.pop(env.reply_with or "", None)
            self.container._dead(env, DeadLetterReason.SEND_BUFFER_FULL, NoProc())
        elif conn is None:
            self._dial(peer)

    def publish(self, env: Envelope) -> int:
        """Send ``env`` to every connected peer whose agents subscribe to its topic."""
        data: bytes | None = None
        reached = 0
        for peer in self.peers.values():
            if peer.conn is not None and env.topic in peer.topics:
                if data is None:
                    data = encode_message(self.codec, env, None)
                if peer.conn.send_frame(data):
                    reached += 1
        return reached

    def interest(self, topic: str, add: bool) -> None:
        """Tell every connected peer about a topic gained or lost here."""
        data: bytes | None = None
        for peer in self.peers.values():
            if peer.conn is not None:
                if data is None:
                    data = frame(self.codec.pack((Kind.INTEREST, add, [topic])))
                peer.conn.send_frame(data)

    def _peer(self, address: str) -> Peer:
        peer = self.peers.get(address)
        if peer is None:
            peer = self.peers[address] = Peer(address, self)
        return peer

    # ---- connecting ---------------------------------------------------------------------

    def _dial(self, peer: Peer) -> None:
        if not peer.dialing and self._nursery is not None and not self._closing:
            peer.dialing = True
            self._nursery.start_soon(self._redial, peer)

    async def _redial(self, peer: Peer) -> None:
        delay = _FIRST_RETRY
        deadline = trio.current_time() + self.options.reconnect_timeout
        reason = "no connection"
        try:
            while peer.conn is None and peer.queue and not self._closing:
                try:
                    conn = await self._connect(peer.address)
                except _DIAL_ERRORS as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    log.debug("%s: dialing %s failed: %s", self.address, peer.address, reason)
                else:
                    if conn is not None:
                        assert self._nursery is not None
                        self._attach(peer, conn)
                        self._nursery.start_soon(self._run_connection, peer, conn)
                        return
                    reason = "the peer declined, having a connection of its own"
                if trio.current_time() >= deadline:
                    self._give_up(peer, reason)
                    return
                await trio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY)
        finally:
            peer.dialing = False

    async def _connect(self, address: str) -> Connection | None:
        options = self.options
        stream = await transport_for(address).connect(address)
        try:
            with trio.fail_after(options.handshake_timeout):
                if options.ssl_client is not None:
                    host = address.partition("://")[2].rpartition(":")[0].strip("[]")
                    stream = trio.SSLStream(
                        stream,
                        options.ssl_client,
                        server_hostname=host if address.startswith("tcp://") else None,
                    )
                    await stream.do_handshake()
                conn = Connection(
                    stream,
                    self.codec,
                    outbound=True,
                    max_frame=options.max_frame,
                    max_buffer=options.max_buffer,
                )
                accepted = await conn.dial_handshake(self.address, options.secret)
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        if not accepted:
            await trio.aclose_forcefully(stream)
            return None
        return conn

    async def _inbound(self, stream: trio.abc.Stream) -> None:
        options = self.options
        conn = Connection(
            stream,
            self.codec,
            outbound=False,
            max_frame=options.max_frame,
            max_buffer=options.max_buffer,
        )
        try:
            with trio.fail_after(options.handshake_timeout):
                if options.ssl_server is not None:
                    conn.stream = trio.SSLStream(stream, options.ssl_server, server_side=True)
                    await conn.stream.do_handshake()
                keep = await conn.accept_handshake(self.address, options.secret, self._decide)
        except (ProtocolError, AuthenticationError) as exc:
            log.warning("%s: refused a connection from %s: %s", self.address, conn.address, exc)
            await conn.refuse(str(exc))
            return
        except trio.TooSlowError:
            log.warning("%s: a peer did not finish the handshake in time", self.address)
            await conn.refuse("handshake timeout")
            return
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, ssl.SSLError) as exc:
            log.warning("%s: an inbound connection failed: %s", self.address, exc)
            await trio.aclose_forcefully(conn.stream)
            return
        except Exception:
            log.exception("%s: an inbound handshake failed", self.address)
            await trio.aclose_forcefully(conn.stream)
            return
        if not keep:
            await trio.aclose_forcefully(conn.stream)
            return
        assert conn.peer is not None
        await self._run_connection(conn.peer, conn)

    def _decide(self, conn: Connection) -> bool:
        """Whether to keep an inbound connection, whose handshake just told its peer."""
        peer = self._peer(conn.address)
        ours = peer.dialing or (peer.conn is not None and peer.conn.outbound)
        if ours and self.address < conn.address:
            return False  # the connection we dial wins
        self._attach(peer, conn)
        return True

    def _attach(self, peer: Peer, conn: Connection) -> None:
        old = peer.conn
        waiting = old.take_unsent() if old is not None else []
        if old is not None:
            old.close("replaced by a newer connection")
        peer.conn = conn
        conn.peer = peer  # the address we dialed may differ from the one it announced
        topics = list(self.container._subscriptions.topics)
        if topics:
            conn.send_frame(frame(self.codec.pack((Kind.INTEREST, True, topics))))
        waiting.extend(peer.queue)
        peer.queue.clear()
        peer.queued_bytes = 0
        for data in waiting:
            if not conn.send_frame(data):
                self._undeliverable(peer, [data], DeadLetterReason.SEND_BUFFER_FULL)
        log.debug("%s: connected to %s", self.address, peer.address)

    async def _run_connection(self, peer: Peer, conn: Connection) -> None:
        reason = await conn.run(self._on_frame)
        log.debug("%s: connection to %s ended: %s", self.address, peer.address, reason)
        if peer.conn is not conn:
            return
        peer.conn = None
        peer.topics.clear()
        unsent = conn.take_unsent()
        pending, peer.pending = peer.pending, {}
        replies = self.container._replies
        lost = CalleeDown(peer.address, Shutdown("connection lost"))
        failed = set()
        for rid in pending:
            fut = replies.pop(rid, None)
            if fut is not None:
                failed.add(rid)
                fut.set_error(lost)
        # Requests whose asker was just told they failed are not sent again later.
        for data in unsent:
            item = raw_parse(data[4:])
            if item is not None and item[0] == Kind.MSG and item[6] in failed:
                continue
            peer.queue.append(data)
            peer.queued_bytes += len(data)
        if peer.queue and not self._closing:
            self._dial(peer)

    def _give_up(self, peer: Peer, reason: str) -> None:
        log.warning("%s: giving up on %s: %s", self.address, peer.address, reason)
        waiting = list(peer.queue)
        peer.queue.clear()
        peer.queued_bytes = 0
        self._undeliverable(peer, waiting, DeadLetterReason.UNREACHABLE)

    def _undeliverable(self, peer: Peer, frames: list[bytes], reason: DeadLetterReason) -> None:
        for data in frames:
            item = raw_parse(data[4:])
            if item is None or item[0] != Kind.MSG:
                continue  # replies and interest: the peer's asker times out
            try:
                env, receiver = decode_message(self.codec, item)
            except (ProtocolError, DecodeError):
                continue
            env.receiver = AgentRef(peer.address, receiver) if receiver is not None else None
            peer.pending.pop(env.reply_with or "", None)
            self.container._dead(env, reason, NoProc())

    # ---- receiving ----------------------------------------------------------------------

    def _on_frame(self, conn: Connection, payload: bytes) -> bool:
        """Handle one payload from ``conn``; True if it answered an ask here."""
        item = parse(self.codec, payload)
        kind = item[0]
        peer = conn.peer
        assert peer is not None
        if kind == Kind.MSG:
            arrive(self.container, self.codec, item, peer)
            return False
        if kind == Kind.REPLY:
            rid = answer(self.container, item)
            peer.pending.pop(rid, None)
            return True
        if kind == Kind.INTEREST:
            if len(item) != 3 or not isinstance(item[2], list):
                raise ProtocolError("malformed INTEREST")
            topics = peer.topics
            if item[1]:
                topics.update(t for t in item[2] if isinstance(t, str))
            else:
                topics.difference_update(item[2])
            return False
        if kind == Kind.ERROR:
            raise ProtocolError(f"the peer reports: {item[1] if len(item) > 1 else '?'}")
        raise ProtocolError(f"unexpected {Kind(kind).name} after the handshake")

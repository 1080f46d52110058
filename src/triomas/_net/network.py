"""The socket network of one container: its listener, one connection per peer
container, reconnection with backoff, and the frames' way into the container."""

from __future__ import annotations

import logging
import secrets
import ssl
from typing import TYPE_CHECKING, Any, final

import attrs
import trio

from .._messages.codec import Codec
from .._messages.envelope import Envelope
from .._messages.errors import (
    AuthenticationError,
    CalleeDown,
    DecodeError,
    EncodeError,
    ProtocolError,
)
from .._messages.events import DeadLetterReason, ExitReason, NoConnection, NoProc
from .._messages.ref import AgentRef
from .._runtime.ports import TieOp, no_direct_tell
from .connection import Connection, PeerReportedError
from .handshakes import Handshakes
from .outcomes import decode_tie, encode_tie
from .peer import PRUNE_AT, Peer, ReplyIds
from .remote import arrive, settle
from .transport import CLIENT, Transport, transport_for
from .wire import (
    Kind,
    decode_message,
    encode_ask,
    encode_message,
    frame,
    parse,
    raw_parse,
)

if TYPE_CHECKING:
    from .._messages.envelope import ReplySlot
    from .._runtime.ports import Inbound

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
    max_handshakes: int = 64
    heartbeat: float = 5.0
    missed_beats: int = 3


@final
class Network:
    """Connections from one container to the others it talks to.

    At most one connection per peer container, used in both directions: when two
    containers dial each other at once, the connection dialed by the container
    with the smaller address is kept. Frames wait in a bounded queue while a peer
    is unreachable; the network redials with backoff, and ``reconnect_timeout``
    seconds after the first attempt what still waits becomes dead letters.
    """

    def __init__(
        self,
        inbound: Inbound,
        transport: Transport | None,
        codec: Codec,
        options: NetworkOptions,
        *,
        client: str | None = None,
    ) -> None:
        """``transport``: the one this container listens by (None: it does not listen).

        ``client``: the ``client://`` address a container without a listening address
        goes by on the network; its agents' references travel under it.
        """
        self.inbound = inbound
        self.transport = transport
        self.codec = codec
        self.options = options
        self.address = inbound.address if client is None else client
        self._home = None if client is None else inbound.address
        self.peers: dict[str, Peer] = {}
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._reachable: dict[str, bool] = {}
        self._secrets: dict[str, bytes] = {}
        self._node_secret: bytes | None = None
        self._reply_id = ReplyIds().next
        self._handshakes = Handshakes(self.address, codec, options, self.secret_for, self._decide)
        # Addresses dialed -> the address the container there announced (it wins).
        self._aliases: dict[str, str] = {}

    def trust(self, address: str, secret: bytes) -> None:
        """Use ``secret`` (not the container's) with the container at ``address``, both
        to dial it and to accept it; :func:`spawn_container` does so for its nodes."""
        self._secrets[address] = secret

    def node_secret(self) -> bytes:
        """The random secret of the nodes this container spawns (made once)."""
        if self._node_secret is None:
            self._node_secret = secrets.token_hex(32).encode()
        return self._node_secret

    def secret_for(self, address: str) -> bytes | None:
        """The shared secret a peer at ``address`` must prove it knows."""
        return self._secrets.get(address, self.options.secret)

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
        if self._closing:  # closed before it ran (a client network made at the end)
            task_status.started()
            return
        with trio.CancelScope(shield=True):
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                if listeners:
                    nursery.start_soon(self._serve, listeners)
                for peer in list(self.peers.values()):
                    if peer.queue:  # sent to before the network ran
                        self._dial(peer)
                task_status.started()

    async def _serve(self, listeners: list[trio.abc.Listener[trio.abc.Stream]]) -> None:
        assert self._nursery is not None
        await trio.serve_listeners(self._inbound, listeners, handler_nursery=self._nursery)

    async def aclose(self) -> None:
        """Stop listening, close every connection, forget what waits."""
        self._closing = True
        with trio.move_on_after(_DRAIN_LIMIT):
            for peer in list(self.peers.values()):
                if peer.conn is not None:
                    await peer.conn.drain()  # what teardowns sent still goes out
        for peer in list(self.peers.values()):
            if peer.conn is not None:
                peer.conn.close("container closed")
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        if self.transport is not None:
            self.transport.close(self.address)
        await trio.lowlevel.checkpoint()

    # ---- the Remote interface -----------------------------------------------------------

    def reaches(self, container: str) -> bool:
        """Every container with a socket or memory address is reachable, and a
        ``client://`` one while it is connected (or may come back)."""
        known = self._reachable.get(container)
        if known is None:
            if container.startswith(CLIENT):
                return container in self.peers and not self._closing
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
        peer = self.peers.get(self._aliases.get(to.container, to.container))
        if peer is not None and peer.conn is not None:
            peer.conn.flush()

    def forward(self, env: Envelope, to: AgentRef, reply: ReplySlot | None = None) -> None:
        """Encode ``env`` for agent ``to`` and send it, or queue it until connected.

        ``reply``: an ask's reply slot; the caller will :meth:`flush` at once. The
        reply id on the wire is random, kept with the slot in this peer's table, and
        only ``to``'s container may answer it. A tell's own ``reply_with`` travels as is.
        """
        peer = self._peer(to.container)
        conn = peer.conn
        ask = reply is not None
        wire = None if reply is None else self._reply_id()
        sender = None if self._home is None else self._sender_address(env)  # PERF: a call less
        data = encode_message(self.codec, env, to.name, wire, sender)
        limit = self.options.max_frame
        if conn is not None and conn.peer_max_frame < limit:
            limit = conn.peer_max_frame
        if len(data) - 4 > limit:
            self._release(peer)
            raise EncodeError(
                f"{type(env.body).__name__} takes {len(data) - 4} bytes on the wire, over the "
                f"frame limit of {limit}"
                + ("" if limit == self.options.max_frame else f" of {to.container}")
            )
        if wire is not None:
            assert reply is not None
            peer.expect(wire, reply)
        if conn is not None and conn.accepting:
            sent = conn.send_frame(data, not ask)
        else:
            sent = peer.enqueue(data, self.options.max_buffer)
            if sent:
                self._dial(peer)
        if not sent:
            if wire is not None:
                peer.pending.pop(wire, None)
            self._release(peer)
            self.inbound.dead(env, DeadLetterReason.SEND_BUFFER_FULL, NoProc(), reply)

    tell_direct = no_direct_tell  # a tell goes by forward(), which is as direct

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
        """An ask to ``to`` over a connection that is up, written at once with no
        envelope made; False (nothing done) where :meth:`forward` must take it: no
        connection yet, a frame over the limit, a full send buffer.

        PERF: asks across processes (net_seq_tcp, net_inflight_tcp in benchmarks/run.py).
        """
        peer = self.peers.get(self._aliases.get(to.container, to.container))
        conn = None if peer is None else peer.conn
        if peer is None or conn is None or not conn.accepting:
            return False
        wire = self._reply_id()
        address = None
        if sender is not None:
            address = (
                sender.address
                if self._home is None or sender.container != self._home
                else f"{self.address}/{sender.name}"
            )
        data = encode_ask(
            self.codec, address, to.name, body, performative, conversation_id, wire, now
        )
        if len(data) - 4 > min(self.options.max_frame, conn.peer_max_frame):
            return False  # forward says why
        return peer.send_ask(conn, data, wire, reply)

    def _sender_address(self, env: Envelope) -> str | None:
        """The sender's address on the wire, where it is not the envelope's: a client
        container's own agents go by its ``client://`` address."""
        sender = env.sender
        if self._home is None or sender is None or sender.container != self._home:
            return None
        return f"{self.address}/{sender.name}"

    def publish(self, env: Envelope) -> int:
        """Send ``env`` to every connected peer whose agents subscribe to its topic."""
        data: bytes | None = None
        reached = 0
        for peer in self.peers.values():
            conn = peer.conn
            if conn is not None and env.topic in peer.topics and conn.accepting:
                if data is None:
                    data = encode_message(self.codec, env, None, None, self._sender_address(env))
                if len(data) - 4 <= conn.peer_max_frame and conn.send_frame(data):
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

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        """Send a monitor or link frame to ``container`` (see :meth:`Remote.tie`)."""
        if self._closing:
            return None
        peer = self._peer(container)
        conn = peer.conn
        data = encode_tie(self.codec, op, id, ours, theirs, reason, self.address)
        if conn is not None and conn.accepting:
            # Past the buffer's limit if need be: a monitor's DOWN must not be lost
            # to a full buffer, and a peer holds at most MAX_TIES of them here.
            conn.send_control(data)
        elif op is TieOp.MONITOR or op is TieOp.LINK:
            if not peer.enqueue(data, self.options.max_buffer):
                self._release(peer)
                return None
            self._dial(peer)
        else:
            self._release(peer)
            return None  # no connection: the peer dropped its side with the last one
        return peer.address

    def group(self, name: str, add: bool) -> None:
        """Nothing to follow: a socket network reaches a class or group in the
        container an address names (``tcp://host:port/Worker``)."""

    async def discover(
        self, name: str | None, cls: str | None, topic: str | None, timeout: float | None
    ) -> list[AgentRef]:
        """A socket network sees no agents but its own container's: none to add."""
        await trio.lowlevel.checkpoint()
        return []

    def _peer(self, address: str) -> Peer:
        address = self._aliases.get(address, address)
        peer = self.peers.get(address)
        if peer is None:
            peer = self.peers[address] = Peer(address, self)
        return peer

    def _release(self, peer: Peer) -> None:
        """Drop the record of a peer that nothing refers to any more."""
        if peer.unused and self.peers.get(peer.address) is peer:
            del self.peers[peer.address]

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
                    conn = await self._handshakes.dial(peer.address)
                except _DIAL_ERRORS as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                    log.debug("%s: dialing %s failed: %s", self.address, peer.address, reason)
                else:
                    target = self._adopt(peer, conn.address)
                    if not conn.declined:
                        assert self._nursery is not None
                        self._attach(target, conn)
                        self._nursery.start_soon(self._run_connection, target, conn)
                        return
                    reason = "the peer declined, having a connection of its own"
                    if target is not peer:
                        self._requeue(target, [])  # onto the connection it has, or dial it
                        return
                now = trio.current_time()
                if now >= deadline:
                    self._give_up(peer, reason)
                    return
                # The last wait ends at the deadline, for one last attempt then: the
                # give-up is not late by a whole backoff step.
                await trio.sleep(min(delay, deadline - now))
                delay = min(delay * 2, _MAX_RETRY)
        finally:
            peer.dialing = False
            self._release(peer)

    def _adopt(self, peer: Peer, announced: str) -> Peer:
        """The record for the container that announced itself as ``announced`` when
        dialed at ``peer.address``: the name it announced wins, and from now on the
        dialed one is an alias of it, so that a container is never two peers."""
        dialed = peer.address
        if announced == dialed:
            return peer
        if len(self._aliases) < 10_000:
            self._aliases[dialed] = announced
        if self.peers.get(dialed) is peer:
            del self.peers[dialed]
        self.inbound.renamed(dialed, announced)
        target = self.peers.get(announced)
        if target is None:
            peer.address = announced
            self.peers[announced] = peer
            return peer
        target.queue.extend(peer.queue)
        target.queued_bytes += peer.queued_bytes
        target.pending.update(peer.pending)
        peer.queue.clear()
        peer.queued_bytes = 0
        peer.pending = {}
        return target

    async def _inbound(self, stream: trio.abc.Stream) -> None:
        conn, failure = await self._handshakes.accept(stream)
        if failure is not None:
            if conn.peer is not None:
                # It was chosen, then failed before it started: undo that.
                self._connection_ended(conn.peer, conn, failure)
            return
        assert conn.peer is not None
        await self._run_connection(conn.peer, conn)

    def _decide(self, conn: Connection) -> bool:
        """Whether to keep an inbound connection, whose handshake just told its peer."""
        peer = self._peer(conn.address)
        ours = peer.dialing or (peer.conn is not None and peer.conn.outbound)
        # A client container cannot be dialed: its own connection always wins.
        if ours and self.address < conn.address and not conn.address.startswith(CLIENT):
            self._release(peer)
            return False  # the connection we dial wins
        self._attach(peer, conn)
        return True

    def _attach(self, peer: Peer, conn: Connection) -> None:
        old = peer.conn
        waiting = old.take_unsent() if old is not None else []
        if old is not None:
            old.close("replaced by a newer connection")
            # The ties were the old connection's: the peer drops its side as it ends.
            waiting = [data for data in waiting if not _is_tie(data)]
            self.inbound.peer_down(peer.address, "the connection was replaced")
        peer.conn = conn
        conn.peer = peer  # the address we dialed may differ from the one it announced
        topics = self.inbound.topics()
        if topics:
            conn.send_frame(frame(self.codec.pack((Kind.INTEREST, True, topics))))
        waiting.extend(peer.queue)
        peer.queue.clear()
        peer.queued_bytes = 0
        limit = min(self.options.max_frame, conn.peer_max_frame)
        too_large: list[bytes] = []
        full: list[bytes] = []
        for data in waiting:
            if len(data) - 4 > limit:
                too_large.append(data)
            elif not conn.send_frame(data):
                full.append(data)
        self._undeliverable(peer, too_large, DeadLetterReason.TOO_LARGE)
        self._undeliverable(peer, full, DeadLetterReason.SEND_BUFFER_FULL)
        log.debug("%s: connected to %s", self.address, peer.address)

    async def _run_connection(self, peer: Peer, conn: Connection) -> None:
        try:
            reason = await conn.run(self._on_frame)
        except Exception as exc:  # run() keeps its errors; this is a last guard
            log.exception("%r failed", conn)
            reason = f"internal error: {type(exc).__name__}: {exc}"
        log.debug("%s: connection to %s ended: %s", self.address, peer.address, reason)
        try:
            self._connection_ended(peer, conn, reason)
        except Exception:
            log.exception("%s: cleaning up after %r failed", self.address, conn)

    def _connection_ended(self, peer: Peer, conn: Connection, reason: str) -> None:
        """What ``conn`` did not write goes back in front of the peer's queue, for the
        next connection; asks waiting on it fail; what may or may not have arrived
        (a failed write over TLS) becomes dead letters."""
        unsent = conn.take_unsent()
        if peer.conn is not conn:
            # Replaced: the newer connection took what waited when it came.
            self._undeliverable(peer, conn.take_uncertain(), DeadLetterReason.LOST)
            if unsent:
                self._requeue(peer, unsent)
            return
        peer.conn = None
        peer.topics.clear()
        pending, peer.pending = peer.pending, {}
        peer.prune_at = PRUNE_AT
        lost = CalleeDown(peer.address, NoConnection(f"connection lost: {reason}"))
        failed = set()
        for wire, slot in pending.items():
            if slot.set_error(lost):
                failed.add(wire)
        # Replies and INTEREST are for the connection that is gone (its askers were
        # told, the interest is sent again on connecting); requests whose asker was
        # just told they failed are not sent again either.
        again: list[bytes] = []
        for data in unsent:
            item = raw_parse(data[4:])
            if item is not None and item[0] == Kind.MSG and item[6] not in failed:
                again.append(data)
        self._undeliverable(peer, conn.take_uncertain(), DeadLetterReason.LOST)
        self.inbound.peer_down(peer.address, reason)
        if conn.unresponsive:
            # Declared down: what waits for it is undeliverable now, not after a
            # reconnect_timeout of dials into the same silence.
            self._undeliverable(peer, again, DeadLetterReason.UNREACHABLE)
            again = []
        self._requeue(peer, again)

    def _requeue(self, peer: Peer, frames: list[bytes]) -> None:
        current = self._peer(peer.address)  # the live record, if ``peer`` was released
        conn = current.conn
        if conn is not None and conn.accepting:
            waiting = [*frames, *current.queue]
            current.queue.clear()
            current.queued_bytes = 0
            for data in waiting:
                if not conn.send_frame(data):
                    self._undeliverable(current, [data], DeadLetterReason.SEND_BUFFER_FULL)
            return
        if frames:
            current.queue.extendleft(reversed(frames))
            current.queued_bytes += sum(len(data) for data in frames)
        if current.queue and not self._closing:
            self._dial(current)
        else:
            self._release(current)

    def _give_up(self, peer: Peer, reason: str) -> None:
        log.warning("%s: giving up on %s: %s", self.address, peer.address, reason)
        waiting = list(peer.queue)
        peer.queue.clear()
        peer.queued_bytes = 0
        self._undeliverable(peer, waiting, DeadLetterReason.UNREACHABLE)
        self.inbound.peer_down(peer.address, f"unreachable: {reason}")

    def _undeliverable(self, peer: Peer, frames: list[bytes], reason: DeadLetterReason) -> None:
        for data in frames:
            item = raw_parse(data[4:])
            if item is None or item[0] != Kind.MSG:
                continue  # replies and interest: the peer's asker was told, or times out
            try:
                env, receiver = decode_message(self.codec, item)
            except (ProtocolError, DecodeError):
                continue
            env.receiver = AgentRef(peer.address, receiver) if receiver is not None else None
            slot = None
            if env.reply_with is not None:
                slot = peer.pending.pop(env.reply_with, None)
                if slot is None:
                    env.reply_with = None  # its asker was told already
            self.inbound.dead(env, reason, NoProc(), slot)

    # ---- receiving ----------------------------------------------------------------------

    def _on_frame(self, conn: Connection, payload: bytes) -> bool:
        """Handle one payload from ``conn``; True if it answered an ask here."""
        item = parse(self.codec, payload)
        kind = item[0]
        peer = conn.peer
        assert peer is not None
        if kind == Kind.MSG:
            arrive(self.inbound, self.codec, item, peer, conn.address)
            return False
        if kind == Kind.REPLY:
            # A reply is taken only from the peer asked: its own pending asks.
            return settle(peer.pending, item)
        if kind == Kind.INTEREST:
            peer.interest(item)
            return False
        if kind == Kind.TICK:
            return False
        if kind == Kind.TIE:
            op, id, theirs, ours, reason = decode_tie(item)
            self.inbound.tie(peer.address, TieOp(op), id, theirs, ours, reason)
            return False
        if kind == Kind.ERROR:
            raise PeerReportedError(f"the peer reports: {item[1] if len(item) > 1 else '?'!r:.300}")
        raise ProtocolError(f"unexpected {Kind(kind).name} after the handshake")


def _is_tie(data: bytes) -> bool:
    """Whether a framed payload is a ``TIE`` (its first byte after the array header)."""
    return len(data) > 5 and data[5] == Kind.TIE

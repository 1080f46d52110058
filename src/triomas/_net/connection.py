"""One connection between two containers: the handshake, a reader, and one writer."""

from __future__ import annotations

import logging
import os
import ssl
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, final

import trio

from .._messages.codec import Codec
from .._messages.errors import AuthenticationError, ProtocolError
from .sockets import SocketIO
from .transport import TRANSPORTS, is_client
from .wire import (
    HANDSHAKE_MAX_FRAME,
    MAX_FRAME,
    NONCE_SIZE,
    PROTOCOL,
    VERSION,
    FrameDecoder,
    Kind,
    check_hello,
    frame,
    parse_handshake,
    proof,
    proof_ok,
)

log = logging.getLogger("triomas.network")

_READ_SIZE = 65536
_HANDSHAKE_READ = 4096
_CHUNK = 256 * 1024
"""At most this many bytes go into one write (one ``send_all`` over TLS)."""
_IOV = 512
"""At most this many frames go into one ``writev``."""
_CORK = 16
"""While the reader holds writes back (see ``_read_loop``), a write goes out anyway once
this many frames wait: the peer starts on them while the rest are made. Fewer means
more system calls; more, that the two sides take turns instead of working at once."""
_ERROR_LIMIT = 1.0
"""How long a connection that met a protocol error waits for its ERROR frame to go out."""
BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError)
"""What a stream raises when the connection under it is gone."""


@final
class PeerReportedError(Exception):
    """The peer sent an ERROR frame after the handshake: it is closing the connection,
    and says why (there is nothing to answer)."""


@final
class PeerUnresponsive(Exception):
    """Nothing came from the peer for as many heartbeats as it may miss: it is
    declared down (a machine gone, a network cut, a peer stuck)."""


@final
class Connection:
    """A stream to one peer container, used in both directions.

    Frames are queued (never awaited by the sender) and leave the queue only once
    the stream took all of their bytes; one task at a time writes, and only through
    :meth:`_write_some` (a plain socket, never waiting) or the writer task.

    Over a plain socket, an ask's request and the replies the reader makes while
    handling a chunk are written at once from that task, as far as the socket
    takes them without waiting; the writer task waits for room for the rest. Over
    other streams (TLS, memory) only the writer task writes, at most ``_CHUNK``
    bytes per ``send_all``: if one fails, the frames in it are *uncertain* (some may
    have arrived), see :meth:`take_uncertain`.

    ``on_frame`` gets every payload after the handshake, and says whether it
    answered an ask.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        codec: Codec,
        *,
        outbound: bool,
        max_frame: int,
        max_buffer: int,
        heartbeat: float = 0.0,
        missed_beats: int = 3,
    ) -> None:
        self.stream = stream
        self.codec = codec
        self.outbound = outbound
        self.address = "?"
        """The peer container's address, as its HELLO announced it."""
        self.peer_max_frame = MAX_FRAME
        """The largest frame the peer accepts, as its HELLO announced it."""
        self.max_frame = max_frame
        self.max_buffer = max_buffer
        self.heartbeat = heartbeat
        """Seconds between this side's ``TICK`` frames (0: it sends none)."""
        self.missed_beats = missed_beats
        self.peer_heartbeat = 0.0
        """Seconds between the peer's ``TICK`` frames, as its HELLO announced (0: none)."""
        self.declined = False
        """Whether the peer declined this connection in the handshake (it has one)."""
        self.unresponsive = False
        """Whether the peer was declared down for its silence."""
        self._reads = 0  # chunks read: the heartbeat's sign of life, one add per read
        self.closed = False
        self.accepting = True
        """Whether frames may still be queued here (it is neither closed nor closing)."""
        self._decoder = FrameDecoder(HANDSHAKE_MAX_FRAME)
        # Frames not yet wholly taken by the stream, in order; the first may be
        # partly written already (``_offset`` bytes of it, plain sockets only).
        self._out: deque[bytes] = deque()
        self._offset = 0
        self._out_bytes = 0
        self._inflight: list[bytes] = []
        self._uncertain: list[bytes] = []
        # Frames kept back when the connection ends with an ERROR frame.
        self._held: list[bytes] = []
        self._final: bytes | None = None
        self._writer_idle: trio.Event | None = None
        self._drained: trio.Event | None = None
        self._socket: SocketIO | None = None  # set by run(): TLS may wrap the stream first
        # The reader is handling a chunk, or letting the askers it answered run: it
        # writes what queues meanwhile itself, in one go.
        self._reading = False
        self.peer: Any = None
        """The network's record of the peer this connection serves."""
        self._close_reason = ""
        self._scope: trio.CancelScope | None = None

    def __repr__(self) -> str:
        way = "to" if self.outbound else "from"
        return f"<Connection {way} {self.address}>"

    # ---- writing ------------------------------------------------------------------------

    def send_frame(self, data: bytes, wake: bool = True) -> bool:
        """Queue a framed payload; False if the connection is closing or its buffer full.

        With ``wake=False`` the caller promises to :meth:`flush` right after.
        """
        if self._out_bytes + len(data) > self.max_buffer or not self.accepting:
            return False
        self._out.append(data)
        self._out_bytes += len(data)
        if wake and not self._reading:
            self._wake_writer()
        return True

    def send_control(self, data: bytes) -> None:
        """Queue a small frame the peer must get even past the buffer's limit (a
        monitor's ``DOWN``, a link's ``EXIT``); nothing once the connection is closing."""
        if self.accepting:
            self._out.append(data)
            self._out_bytes += len(data)
            if not self._reading:
                self._wake_writer()

    def _wake_writer(self) -> None:
        idle = self._writer_idle
        if idle is not None:
            self._writer_idle = None
            idle.set()

    def _write_some(self, sock: SocketIO) -> bool:
        """Give the socket what it takes now, without waiting; True if nothing is left.

        A frame leaves the queue once the socket took its last byte.
        """
        out = self._out
        while out:
            if len(out) == 1:
                head = out[0]
                if not self._offset:
                    written = sock.write(head)
                    if written == len(head):  # the common case: one frame, all taken
                        out.clear()
                        self._out_bytes -= written
                        return True
                    self._consume(written)
                    return False
                data = memoryview(head)[self._offset :]
                offered = len(data)
                written = sock.write(data)
            else:
                parts: list[bytes | memoryview] = []
                offered = 0
                for item in out:
                    if not parts and self._offset:
                        parts.append(memoryview(item)[self._offset :])
                    else:
                        parts.append(item)
                    offered += len(parts[-1])
                    if offered >= _CHUNK or len(parts) >= _IOV:
                        break
                written = sock.writev(parts)
            self._consume(written)
            if written < offered:
                return False
        return True

    def _consume(self, written: int) -> None:
        out = self._out
        self._out_bytes -= written
        offset = self._offset + written
        while out and offset >= len(out[0]):
            offset -= len(out.popleft())
        self._offset = offset

    def flush(self) -> None:
        """Write what is queued from the calling task as far as the socket takes it now;
        the writer task gets the rest. Over other streams, wake the writer. An ask's
        request saves waking the writer task this way.

        It neither blocks nor yields, so the reader may call it: a reader stuck in a
        write while its peer's reader is stuck in one too would be a deadlock.
        """
        if not self._out or self.closed or (self._reading and len(self._out) < _CORK):
            return  # the reader writes what queued once it is done (see _read_loop)
        sock = self._socket
        if sock is None:
            self._wake_writer()
            return
        try:
            done = self._write_some(sock)
        except (OSError, trio.ClosedResourceError) as exc:
            self.close(f"{type(exc).__name__}: {exc}")
            return
        if done:
            self._set_drained()
        else:
            self._wake_writer()

    def take_unsent(self) -> list[bytes]:
        """Remove and return the frames queued and not wholly written (a frame cut off
        midway included: the peer cannot have read it), in order."""
        final_frame = self._final
        out = [data for data in self._out if data is not final_frame]
        out += self._held
        self._out = deque()
        self._held = []
        self._offset = 0
        self._out_bytes = 0
        return out

    def take_uncertain(self) -> list[bytes]:
        """Remove and return the frames of a write that failed midway (not over a plain
        socket): some of them may have reached the peer."""
        uncertain, self._uncertain = self._uncertain, []
        return [data for data in uncertain if data is not self._final]

    async def drain(self) -> None:
        """Wait until everything queued has been handed to the stream, or it closed."""
        while (self._out or self._inflight) and not self.closed:
            self.flush()
            if not (self._out or self._inflight) or self.closed:
                return
            if self._drained is None:
                self._drained = trio.Event()
            await self._drained.wait()

    def _set_drained(self) -> None:
        drained = self._drained
        if drained is not None:
            self._drained = None
            drained.set()

    async def _write_loop(self) -> None:
        sock = self._socket
        out = self._out
        while True:
            if not out:
                self._set_drained()
                if self._final is not None:
                    return  # the ERROR frame is out: the connection ends
                idle = self._writer_idle = trio.Event()
                await idle.wait()
                out = self._out
                continue
            if sock is not None:
                if not self._write_some(sock):
                    await trio.lowlevel.wait_writable(sock.socket)
            else:
                await self._send_chunk()
            out = self._out

    async def _send_chunk(self) -> None:
        out = self._out
        chunk: list[bytes] = []
        size = 0
        while out and size < _CHUNK:
            data = out.popleft()
            chunk.append(data)
            size += len(data)
        self._inflight = chunk
        try:
            await self.stream.send_all(chunk[0] if len(chunk) == 1 else b"".join(chunk))
        except BaseException:
            self._uncertain = chunk
            raise
        finally:
            self._inflight = []
            self._out_bytes -= size

    def _end_with_error(self, reason: str) -> None:
        """Queue an ERROR frame to end the connection with; the writer sends it after
        the frame it is in the middle of, if any. What waited behind is held back for
        the next connection (see :meth:`take_unsent`)."""
        if not self.accepting:
            return
        out = self._out
        if self._offset:
            head = out.popleft()
            self._held = list(out)
            self._out = deque([head])
        else:
            self._held = list(out)
            self._out = deque()
        self.accepting = False
        self._final = frame(self.codec.pack((Kind.ERROR, reason[:500])))
        self._out.append(self._final)
        self._out_bytes = sum(len(data) for data in self._out) - self._offset
        self._wake_writer()

    # ---- reading ------------------------------------------------------------------------

    async def _read_loop(self, on_frame: Callable[[Connection, bytes], bool]) -> None:
        frames = self._decoder.feed(b"")  # what came right behind the handshake
        receive = self.stream.receive_some if self._socket is None else self._socket.read
        answered = 0
        while True:
            self._reading = True
            try:
                for payload in frames:
                    if on_frame(self, payload):
                        answered += 1
            finally:
                self._reading = False
            self.flush()
            if answered:
                # Let the askers just answered run (and maybe ask again) before this
                # task reads on: a round trip then waits for nothing else. If there
                # were several, what they write meanwhile waits (``_reading``) and goes
                # out together: with many asks in flight that is one system call per
                # chunk, not per ask; a lone asker writes at once, as soon as it can.
                # PERF: net_inflight_tcp and net_seq_tcp in benchmarks/run.py.
                self._reading = answered > 1
                answered = 0
                try:
                    await trio.lowlevel.cancel_shielded_checkpoint()
                    await trio.lowlevel.cancel_shielded_checkpoint()
                finally:
                    self._reading = False
                self.flush()
            data = await receive(_READ_SIZE)
            if not data:
                return
            self._reads += 1
            frames = self._decoder.feed(data)

    # ---- handshake ----------------------------------------------------------------------

    async def _send_now(self, payload: tuple[Any, ...]) -> None:
        """Write one handshake frame; no writer task runs before the handshake is done."""
        await self.stream.send_all(frame(self.codec.pack(payload)))

    async def _next_handshake_item(self) -> list[Any]:
        """The next handshake frame, read a little at a time and under the small limit."""
        decoder = self._decoder
        while True:
            payload = decoder.next_frame()
            if payload is not None:
                break
            data = await self.stream.receive_some(_HANDSHAKE_READ)
            if not data:
                raise ProtocolError("the peer closed the connection during the handshake")
            decoder.add(data)
        item = parse_handshake(payload)
        if item[0] == Kind.ERROR:
            reason = item[1] if len(item) > 1 else "?"
            raise ProtocolError(f"the peer refused the connection: {reason!r:.300}")
        return item

    def _hello(self, own: str, nonce: bytes) -> tuple[Any, ...]:
        beat = round(self.heartbeat * 1000)
        return (Kind.HELLO, PROTOCOL, VERSION, own, nonce, self.max_frame, beat)

    async def refuse(self, reason: str) -> None:
        """Tell the peer why, and close (best effort); only while no writer task runs."""
        self.closed = True
        self.accepting = False
        try:
            with trio.move_on_after(_ERROR_LIMIT):
                await self._send_now((Kind.ERROR, reason[:500]))
        except Exception:  # a stream that is already gone, or worse: nothing to do
            pass
        await trio.aclose_forcefully(self.stream)

    async def dial_handshake(self, own: str, secret: bytes | None, nonces: set[bytes]) -> bool:
        """The dialer's side: True if the peer accepted, False if it declined (it
        has a connection to us already). Raises on any failure.

        ``nonces`` holds the nonces of every handshake of this container under way;
        a peer that answers with one of them is reflecting it.
        """
        nonce = os.urandom(NONCE_SIZE)
        nonces.add(nonce)
        try:
            await self._send_now(self._hello(own, nonce))
            peer, peer_nonce, limit, beat = check_hello(await self._next_handshake_item())
            _check_peer_address(peer, own)
            self.peer_heartbeat = beat
            if peer_nonce in nonces:
                raise ProtocolError("the peer echoes a nonce of this container")
            self.address = peer
            self.peer_max_frame = limit
            await self._send_now(
                (Kind.PROOF, proof(secret, "dialer", nonce, peer_nonce, own, peer))
            )
            welcome = await self._next_handshake_item()
            if welcome[0] != Kind.WELCOME or len(welcome) != 4 or type(welcome[1]) is not bool:
                raise ProtocolError("expected a WELCOME")
            if not proof_ok(secret, "acceptor", nonce, peer_nonce, own, peer, welcome[3]):
                raise AuthenticationError(f"{peer} failed the shared-secret challenge")
            return welcome[1]
        finally:
            nonces.discard(nonce)

    async def accept_handshake(
        self,
        own: str,
        secret_for: Callable[[str], bytes | None],
        decide: Callable[[Connection], bool],
        nonces: set[bytes],
    ) -> bool:
        """The acceptor's side: ``decide`` says whether to keep this connection.

        The dialer proves first; this side proves only to a dialer that did, so its
        answer can never serve a stranger as a proof.
        """
        peer, peer_nonce, limit, beat = check_hello(await self._next_handshake_item())
        _check_peer_address(peer, own)
        self.address = peer
        self.peer_heartbeat = beat
        if peer_nonce in nonces:
            raise ProtocolError("a peer echoes a nonce of this container")
        nonce = os.urandom(NONCE_SIZE)
        nonces.add(nonce)
        try:
            self.peer_max_frame = limit
            await self._send_now(self._hello(own, nonce))
            answer = await self._next_handshake_item()
            if answer[0] != Kind.PROOF or len(answer) != 2:
                raise ProtocolError("expected a PROOF")
            secret = secret_for(peer)
            if not proof_ok(secret, "dialer", peer_nonce, nonce, peer, own, answer[1]):
                raise AuthenticationError(f"{peer} failed the shared-secret challenge")
            keep = decide(self)
            await self._send_now(
                (
                    Kind.WELCOME,
                    keep,
                    "" if keep else "duplicate connection",
                    proof(secret, "acceptor", peer_nonce, nonce, peer, own),
                )
            )
            return keep
        finally:
            nonces.discard(nonce)

    # ---- running ------------------------------------------------------------------------

    async def run(self, on_frame: Callable[[Connection, bytes], bool]) -> str:
        """Read and write until the stream ends or fails; return why it ended.

        No exception of this connection leaves it (but cancellation): a peer can
        cost its own connection, never the container.
        """
        reason = "closed by peer"
        self._socket = SocketIO.of(self.stream)
        self._decoder.max_frame = self.max_frame

        async def guarded(loop: Callable[[], Awaitable[None]], scope: trio.CancelScope) -> None:
            nonlocal reason
            try:
                await loop()
            except PeerReportedError as exc:
                reason = str(exc)
            except PeerUnresponsive as exc:
                reason = str(exc)
                self.unresponsive = True
            except ProtocolError as exc:
                reason = f"protocol error: {exc}"
                # The writer sends the ERROR frame and then ends the connection; a
                # peer that will not take it costs at most _ERROR_LIMIT seconds.
                self._end_with_error(str(exc))
                await trio.sleep(_ERROR_LIMIT)
            except BROKEN as exc:
                reason = f"{type(exc).__name__}: {exc}"
            except Exception as exc:
                # A bug on our side: it costs this connection, not the container.
                log.exception("%r failed", self)
                reason = f"internal error: {type(exc).__name__}: {exc}"
            scope.cancel()

        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                if self.closed:
                    nursery.cancel_scope.cancel()
                nursery.start_soon(guarded, self._write_loop, nursery.cancel_scope)
                nursery.start_soon(guarded, lambda: self._read_loop(on_frame), nursery.cancel_scope)
                if self.heartbeat > 0:
                    nursery.start_soon(guarded, self._tick_loop, nursery.cancel_scope)
        finally:
            self.closed = True
            self.accepting = False
            self._set_drained()
            await trio.aclose_forcefully(self.stream)
        return self._close_reason or reason

    async def _tick_loop(self) -> None:
        """Send a ``TICK`` every heartbeat; declare the peer down when nothing came from
        it for ``missed_beats`` of the longer of the two heartbeats.

        A tick goes out whatever else is sent: a few bytes every few seconds cost less
        than noting the time of every write. A peer that sends no ticks (its HELLO
        says so) is never declared down for its silence.
        """
        tick = frame(self.codec.pack((Kind.TICK,)))
        interval = self.heartbeat
        peer_beat = self.peer_heartbeat
        limit = self.missed_beats * max(interval, peer_beat)
        seen = self._reads
        silent = 0.0
        while True:
            await trio.sleep(interval)
            self.send_frame(tick)  # a full buffer has ticks enough in it
            if self._reads != seen:
                seen = self._reads
                silent = 0.0
                continue
            silent += interval
            if peer_beat > 0 and silent >= limit:
                raise PeerUnresponsive(
                    f"declared down: nothing from {self.address} for {silent:g} s "
                    f"({self.missed_beats} heartbeats missed)"
                )

    def close(self, reason: str) -> None:
        """Mark the connection closed; its task ends the stream."""
        self.closed = True
        self.accepting = False
        self._close_reason = self._close_reason or reason
        self._set_drained()
        if self._scope is not None:
            self._scope.cancel()


def _check_peer_address(peer: str, own: str) -> None:
    """Refuse an announced address that is ours, or that no socket reaches (a
    ``local://`` one would pose as a container of this process); a dial-out-only
    container's ``client://`` address is reached over its own connection."""
    if peer == own:
        raise ProtocolError("the peer announces this container's own address")
    if peer.partition("://")[0] not in TRANSPORTS and not is_client(peer):
        raise ProtocolError(f"the peer announces an address no network reaches: {peer!r:.200}")

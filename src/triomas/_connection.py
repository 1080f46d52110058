"""One connection between two containers: handshake, a reader, a coalescing writer."""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Awaitable, Callable
from typing import Any, final

import trio

from ._codec import Codec
from ._errors import AuthenticationError, ProtocolError
from ._socketio import SocketIO
from ._wire import PROTOCOL, VERSION, FrameDecoder, Kind, frame, parse, proof, proof_ok

log = logging.getLogger("triomas.network")

_READ_SIZE = 65536
_FLUSH_LIMIT = 10.0
_BROKEN = (trio.BrokenResourceError, trio.ClosedResourceError, OSError, ssl.SSLError)


@final
class Connection:
    """A stream to one peer container, used in both directions.

    Writes are queued (never awaited by the sender) and a writer task sends all
    that has queued up in one ``send_all``. Over a plain socket, an ask's request
    and the replies the reader makes while handling a chunk are written at once
    from that task, as far as the socket takes them without waiting; the writer
    gets the rest. ``on_frame`` gets every payload after the handshake, and says
    whether it answered an ask.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        codec: Codec,
        *,
        outbound: bool,
        max_frame: int,
        max_buffer: int,
    ) -> None:
        self.stream = stream
        self.codec = codec
        self.outbound = outbound
        self.address = "?"
        """The peer container's address, once the handshake told it."""
        self.max_buffer = max_buffer
        self.closed = False
        self._decoder = FrameDecoder(max_frame)
        self._frames: list[bytes] = []
        self._out: list[bytes] = []
        self._out_bytes = 0
        self._writer_idle: trio.Event | None = None
        self._writing = False
        # Set by run(): the acceptor may wrap the stream in TLS after the handshake.
        self._socket: SocketIO | None = None
        # Bytes handed to the write path that the socket has not taken yet: the
        # writer sends them before anything queued.
        self._tail = b""
        # The reader is handling a chunk: it writes what queues meanwhile itself.
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
        """Queue a framed payload; False if the connection is closed or its buffer full.

        With ``wake=False`` the caller promises to :meth:`flush` right after.
        """
        if self.closed or self._out_bytes + len(data) > self.max_buffer:
            return False
        self._out.append(data)
        self._out_bytes += len(data)
        if wake and not self._reading:
            self._wake_writer()
        return True

    def _wake_writer(self) -> None:
        idle = self._writer_idle
        if idle is not None:
            self._writer_idle = None
            idle.set()

    def _write_queued(self) -> None:
        """Give what is queued to the socket without waiting; the writer gets the rest.

        It neither blocks nor yields, so the reader may call it: a reader stuck in a
        write while its peer's reader is stuck in one too would be a deadlock.
        """
        if self._writing or not self._out or self.closed:
            return
        sock = self._socket
        if sock is not None and not self._tail:
            out = self.take_unsent()
            data = out[0] if len(out) == 1 else b"".join(out)
            try:
                written = sock.write(data)
            except (OSError, trio.ClosedResourceError) as exc:
                self._out = out  # nothing was written: what waits becomes dead letters
                self._out_bytes = len(data)
                self.close(f"{type(exc).__name__}: {exc}")
                return
            if written == len(data):
                return
            self._tail = data[written:]
        self._wake_writer()

    async def flush(self) -> None:
        """Write what is queued from the calling task, unless a write is under way
        (which then takes it along). A round trip saves waking the writer task.

        Over a plain socket this never waits (see :meth:`_write_queued`). Otherwise
        the write is shielded, since a cancelled write would leave half a frame on
        the stream; a peer that will not take it within ``_FLUSH_LIMIT`` seconds
        costs the connection.
        """
        if self._writing or not self._out or self.closed:
            return
        if self._socket is not None:
            self._write_queued()
            return
        self._writing = True
        try:
            out = self.take_unsent()
            with trio.move_on_after(_FLUSH_LIMIT, shield=True) as scope:
                await self.stream.send_all(out[0] if len(out) == 1 else b"".join(out))
            if scope.cancelled_caught:
                self.close("a write took too long")
        except _BROKEN as exc:
            self.close(f"{type(exc).__name__}: {exc}")
        finally:
            self._writing = False
            if self._out:
                self._wake_writer()

    def take_unsent(self) -> list[bytes]:
        """Remove and return the frames queued and not yet handed to the stream."""
        out, self._out = self._out, []
        self._out_bytes = 0
        return out

    async def drain(self) -> None:
        """Wait until everything queued has been handed to the stream."""
        while (self._out or self._tail or self._writing) and not self.closed:
            await self.flush()
            if self._out or self._tail or self._writing:
                await trio.sleep(0.001)

    async def _write_loop(self) -> None:
        while True:
            if not (self._out or self._tail) or self._writing:
                idle = self._writer_idle = trio.Event()
                await idle.wait()
                continue
            self._writing = True
            try:
                out = self.take_unsent()
                if self._tail:
                    out.insert(0, self._tail)
                    self._tail = b""
                await self.stream.send_all(out[0] if len(out) == 1 else b"".join(out))
            finally:
                self._writing = False

    # ---- reading ------------------------------------------------------------------------

    async def _next_payload(self) -> bytes:
        while not self._frames:
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise ProtocolError("the peer closed the connection during the handshake")
            self._frames.extend(self._decoder.feed(data))
        return self._frames.pop(0)

    async def _expect(self, kind: Kind) -> list[Any]:
        item = parse(self.codec, await self._next_payload())
        if item[0] == Kind.ERROR:
            reason = item[1] if len(item) > 1 else "?"
            raise ProtocolError(f"the peer refused the connection: {reason}")
        if item[0] != kind:
            raise ProtocolError(f"expected {kind.name} during the handshake, got kind {item[0]}")
        return item

    async def _read_loop(self, on_frame: Callable[[Connection, bytes], bool]) -> None:
        frames, self._frames = self._frames, []
        receive = self.stream.receive_some if self._socket is None else self._socket.read
        answered = False
        while True:
            self._reading = True
            try:
                for payload in frames:
                    if on_frame(self, payload):
                        answered = True
            finally:
                self._reading = False
            self._write_queued()
            if answered:
                # Let the askers just answered run (and maybe ask again) before this
                # task reads on: a round trip then waits for nothing else.
                answered = False
                await trio.lowlevel.cancel_shielded_checkpoint()
                await trio.lowlevel.cancel_shielded_checkpoint()
            data = await receive(_READ_SIZE)
            if not data:
                return
            frames = self._decoder.feed(data)

    # ---- handshake ----------------------------------------------------------------------

    async def _send_now(self, payload: tuple[Any, ...]) -> None:
        await self.stream.send_all(frame(self.codec.pack(payload)))

    async def refuse(self, reason: str) -> None:
        """Tell the peer why, and close (best effort)."""
        self.closed = True
        try:
            with trio.move_on_after(1):
                await self._send_now((Kind.ERROR, reason))
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        await trio.aclose_forcefully(self.stream)

    async def dial_handshake(self, own: str, secret: bytes | None) -> bool:
        """The dialer's side: True if the peer accepted, False if it declined (it
        has a connection to us already). Raises on any failure."""
        nonce = os.urandom(16)
        await self._send_now((Kind.HELLO, PROTOCOL, VERSION, own, nonce, None))
        hello = await self._expect(Kind.HELLO)
        peer, peer_nonce, peer_proof = _check_hello(hello)
        if not proof_ok(secret, nonce, peer, peer_proof):
            raise AuthenticationError(f"{peer} failed the shared-secret challenge")
        self.address = peer
        await self._send_now((Kind.PROOF, proof(secret, peer_nonce, own)))
        welcome = await self._expect(Kind.WELCOME)
        if len(welcome) != 3 or not isinstance(welcome[1], bool):
            raise ProtocolError("malformed WELCOME")
        return welcome[1]

    async def accept_handshake(
        self, own: str, secret: bytes | None, decide: Callable[[Connection], bool]
    ) -> bool:
        """The acceptor's side: ``decide`` says whether to keep this connection."""
        hello = await self._expect(Kind.HELLO)
        peer, peer_nonce, _ = _check_hello(hello)
        self.address = peer
        nonce = os.urandom(16)
        await self._send_now(
            (Kind.HELLO, PROTOCOL, VERSION, own, nonce, proof(secret, peer_nonce, own))
        )
        answer = await self._expect(Kind.PROOF)
        if len(answer) != 2 or not proof_ok(secret, nonce, peer, answer[1]):
            raise AuthenticationError(f"{peer} failed the shared-secret challenge")
        keep = decide(self)
        await self._send_now((Kind.WELCOME, keep, "" if keep else "duplicate connection"))
        return keep

    # ---- running ------------------------------------------------------------------------

    async def run(self, on_frame: Callable[[Connection, bytes], bool]) -> str:
        """Read and write until the stream ends or fails; return why it ended."""
        reason = "closed by peer"
        self._socket = SocketIO.of(self.stream)

        async def guarded(loop: Callable[[], Awaitable[None]], scope: trio.CancelScope) -> None:
            nonlocal reason
            try:
                await loop()
            except ProtocolError as exc:
                reason = f"protocol error: {exc}"
                await self.refuse(str(exc))
            except _BROKEN as exc:
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
        finally:
            self.closed = True
            await trio.aclose_forcefully(self.stream)
        return self._close_reason or reason

    def close(self, reason: str) -> None:
        """Mark the connection closed; its task ends the stream."""
        self.closed = True
        self._close_reason = reason
        if self._scope is not None:
            self._scope.cancel()


def _check_hello(item: list[Any]) -> tuple[str, bytes, Any]:
    if len(item) != 6 or item[1] != PROTOCOL:
        raise ProtocolError("not a triomas HELLO")
    if item[2] != VERSION:
        raise ProtocolError(f"protocol version {item[2]!r} is not supported (this is {VERSION})")
    address, nonce = item[3], item[4]
    if not isinstance(address, str) or "://" not in address or not isinstance(nonce, bytes):
        raise ProtocolError("malformed HELLO")
    return address, nonce, item[5]

"""mosaik's channel on a trio stream: requests both ways, each side numbering its own.

The session's one task reads frames (mosaik's calls, and answers to the simulator's own
requests, which settle whoever made them), handles each call and writes its answer; the
requests agents make during a call are queued, and sent when the call waits for their
answers. A frame over the limit, one that is not JSON or not ``[type, id, content]``, or
an answer to a request never made is a :exc:`~triomas.ProtocolError`: the connection is
closed, and :func:`serve` raises it.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from typing import Any, final

import trio

from .._messages.errors import EncodeError, ProtocolError
from .._net.wire import FrameDecoder
from ._serve import run_session
from ._session import failure_of
from ._simulator import Simulator
from ._wire import Frame, Kind, Request, decode, encode, request_of

log = logging.getLogger("triomas.mosaik")

_RECEIVE_SIZE = 64 * 1024
_GONE = ["ConnectionError", "mosaik closed the connection", ""]


@final
class Channel:
    """One connection to mosaik, for the session: its calls, their answers, and the
    simulator's own requests."""

    def __init__(self, stream: trio.abc.Stream, max_frame: int) -> None:
        self.stream = stream
        # PERF: on a TCP socket, read and write the descriptor directly, blocking in trio
        # only when there is nothing to read: trio's socket calls take a scheduler pass
        # even when they need not wait, some 100 us of a step's round trip here
        # (mosaik_world in benchmarks/run.py, docs/mosaik.md).
        self._fd = (
            stream.socket.fileno()
            if isinstance(stream, trio.SocketStream) and os.name == "posix"
            else None
        )
        self._decoder = FrameDecoder(max_frame)
        self._calls: collections.deque[Request] = collections.deque()
        self._queued: list[bytes] = []
        self._pending: dict[int, Callable[[bool, Any], object]] = {}
        self._next_id = 0
        self._closed = False

    # ---- mosaik's calls and their answers ------------------------------------------------

    async def next_call(self) -> Request | None:
        """mosaik's next call (answers read meanwhile settle their requests); None once
        mosaik has hung up."""
        while not self._calls:
            if self._queued:
                await self._send(b"")  # the answer to a malformed call, say
            if not await self._read():
                return None
        return self._calls.popleft()

    async def ok(self, msg_id: int, value: Any) -> None:
        """Answer mosaik's call ``msg_id`` with ``value`` (a failure if it is not JSON)."""
        try:
            data = encode(Kind.SUCCESS, msg_id, value)
        except EncodeError as exc:
            data = encode(Kind.FAILURE, msg_id, failure_of(exc))
        await self._send(data)

    async def fail(self, msg_id: int, exc: BaseException) -> None:
        """Answer mosaik's call ``msg_id`` with a FAILURE reporting ``exc``."""
        await self._send(encode(Kind.FAILURE, msg_id, failure_of(exc)))

    # ---- the simulator's requests --------------------------------------------------------

    def request(
        self,
        func: str,
        args: list[Any],
        kwargs: dict[str, Any],
        done: Callable[[bool, Any], object],
    ) -> None:
        """Queue a request to mosaik; ``done(ok, value)`` gets its answer.
        :exc:`EncodeError` if the arguments are not JSON (nothing is queued then)."""
        data = encode(Kind.REQUEST, self._next_id, [func, args, kwargs])
        if self._closed:
            done(False, _GONE)
            return
        self._pending[self._next_id] = done
        self._next_id += 1
        self._queued.append(data)

    async def wait(self, until: Callable[[], bool]) -> None:
        """Send the queued requests, then read until ``until()`` holds (or mosaik hangs
        up, which fails what is still waiting)."""
        await self._send(b"")
        while not until() and await self._read():
            pass

    # ---- the stream ----------------------------------------------------------------------

    async def _send(self, data: bytes) -> None:
        if self._queued:
            data = b"".join([*self._queued, data])
            self._queued.clear()
        if not data or self._closed:
            return
        try:
            if self._fd is not None:
                try:
                    sent = os.write(self._fd, data)
                except BlockingIOError:
                    sent = 0
                if sent == len(data):
                    return
                data = data[sent:]
            await self.stream.send_all(data)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            self._hung_up()

    async def _receive(self) -> bytes | bytearray:
        if self._fd is None:
            return await self.stream.receive_some(_RECEIVE_SIZE)
        while True:
            try:
                return os.read(self._fd, _RECEIVE_SIZE)
            except BlockingIOError:
                await trio.lowlevel.wait_readable(self._fd)

    async def _read(self) -> bool:
        """Read and route what arrives; False at the end of the stream."""
        if self._closed:
            return False
        try:
            data = await self._receive()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError):
            data = b""
        if not data:
            self._hung_up()
            return False
        try:
            payloads = self._decoder.feed(data)
        except ProtocolError as exc:
            raise ProtocolError(f"mosaik sent a bad frame: {exc}") from None
        for payload in payloads:
            self._route(decode(payload))
        return True

    def _route(self, received: Frame) -> None:
        if received.kind is Kind.REQUEST:
            try:
                self._calls.append(request_of(received))
            except ValueError as exc:
                # the framing holds: only this call fails, answered with the next write
                self._queued.append(encode(Kind.FAILURE, received.id, failure_of(exc)))
            return
        done = self._pending.pop(received.id, None)
        if done is None:
            raise ProtocolError(f"mosaik answered request {received.id}, which was never made")
        done(received.kind is Kind.SUCCESS, received.content)

    def _hung_up(self) -> None:
        # No answer comes any more: a request waiting for one fails, so that its call ends.
        self._closed = True
        pending, self._pending = self._pending, {}
        for done in pending.values():
            done(False, _GONE)


async def serve(sim: Simulator, stream: trio.abc.Stream) -> None:
    """Be ``sim`` for the mosaik at the other end of ``stream``, until it stops the
    simulator or hangs up; the stream is closed on the way out.

    :exc:`~triomas.ProtocolError` if mosaik's frames break the protocol (too large,
    not JSON, ...): the connection is closed at once.
    """
    channel = Channel(stream, sim.max_frame)
    async with stream:
        stopped = await run_session(sim, channel, channel)
    if not stopped:
        log.warning("mosaik closed the connection without stopping the simulator")


def _split(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{addr!r} is not an address like host:port")
    return host.strip("[]"), int(port)


async def connect(sim: Simulator, addr: str) -> None:
    """Connect to mosaik at ``addr`` (``host:port``, what mosaik's ``cmd`` starter puts for
    ``%(addr)s``) and :func:`serve` it."""
    host, port = _split(addr)
    stream = await trio.open_tcp_stream(host, port)
    await serve(sim, stream)


async def listen(
    sim: Simulator,
    addr: str,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Listen at ``addr`` (``host:port``; port 0 picks one) for mosaik's ``connect``
    starter, and :func:`serve` the first connection. ``task_status.started`` gets the
    address listened at."""
    host, port = _split(addr)
    listeners = await trio.open_tcp_listeners(port, host=host)
    try:
        host, port = listeners[0].socket.getsockname()[:2]
        task_status.started(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
        stream = await _accept_one(listeners)
    finally:
        for listener in listeners:
            await listener.aclose()
    await serve(sim, stream)


async def _accept_one(listeners: list[trio.SocketListener]) -> trio.SocketStream:
    """The first connection any of ``listeners`` accepts (a host name may resolve to
    several addresses)."""
    if len(listeners) == 1:
        return await listeners[0].accept()
    accepted: list[trio.SocketStream] = []
    async with trio.open_nursery() as nursery:

        async def accept(listener: trio.SocketListener) -> None:
            stream = await listener.accept()
            if accepted:
                await trio.aclose_forcefully(stream)
                return
            accepted.append(stream)
            nursery.cancel_scope.cancel()

        for listener in listeners:
            nursery.start_soon(accept, listener)
    return accepted[0]

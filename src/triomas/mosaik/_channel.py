"""mosaik's channel on a trio stream: requests both ways, each side numbering its own.

A reader task routes every frame: mosaik's requests to the session, one at a time, and
the answers to the simulator's own requests to whoever made them; a writer task sends
what is queued, all at once. A frame over the limit, one that is not JSON or not
``[type, id, content]``, or an answer to a request never made is a
:exc:`~triomas.ProtocolError`: the connection is closed, and :func:`serve` raises it.
"""

from __future__ import annotations

import logging
import math
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
_QUEUED_CALLS = 16
"""mosaik's calls read ahead of the one being served (mosaik sends one at a time)."""


@final
class Channel:
    """One connection to mosaik: the session's :class:`Answers` and :class:`Requester`."""

    def __init__(self, stream: trio.abc.Stream, max_frame: int) -> None:
        self.stream = stream
        self._decoder = FrameDecoder(max_frame)
        self._out_send, self._out_receive = trio.open_memory_channel[bytes](math.inf)
        self._calls_send, self.calls = trio.open_memory_channel[Request](_QUEUED_CALLS)
        self._pending: dict[int, Callable[[bool, Any], object]] = {}
        self._next_id = 0
        self.error: ProtocolError | None = None
        """Why the connection was closed on mosaik, if it was."""

    # ---- the session's side --------------------------------------------------------------

    def ok(self, msg_id: int, value: Any) -> None:
        """Answer mosaik's call ``msg_id`` with ``value`` (a failure if it is not JSON)."""
        try:
            data = encode(Kind.SUCCESS, msg_id, value)
        except EncodeError as exc:
            data = encode(Kind.FAILURE, msg_id, failure_of(exc))
        self._out_send.send_nowait(data)

    def fail(self, msg_id: int, exc: BaseException) -> None:
        """Answer mosaik's call ``msg_id`` with a FAILURE reporting ``exc``."""
        self._out_send.send_nowait(encode(Kind.FAILURE, msg_id, failure_of(exc)))

    def request(
        self,
        func: str,
        args: list[Any],
        kwargs: dict[str, Any],
        done: Callable[[bool, Any], object],
    ) -> None:
        """Send a request to mosaik; ``done(ok, value)`` gets its answer.
        :exc:`EncodeError` if the arguments are not JSON (nothing is sent then)."""
        msg_id = self._next_id
        data = encode(Kind.REQUEST, msg_id, [func, args, kwargs])
        self._next_id += 1
        self._pending[msg_id] = done
        self._out_send.send_nowait(data)

    # ---- the tasks -----------------------------------------------------------------------

    async def read(self, stop: trio.CancelScope) -> None:
        """Read frames until the other side closes. A :exc:`ProtocolError` is kept in
        :attr:`error` and cancels ``stop`` (the whole connection)."""
        try:
            async with self._calls_send:
                while True:
                    data = await self.stream.receive_some(_RECEIVE_SIZE)
                    if not data:
                        break
                    try:
                        payloads = self._decoder.feed(data)
                    except ProtocolError as exc:
                        raise ProtocolError(f"mosaik sent a bad frame: {exc}") from None
                    for payload in payloads:
                        await self._route(decode(payload))
        except ProtocolError as exc:
            self.error = exc
            stop.cancel()
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the connection went away: as an end of file
        # No answer comes any more: a request waiting for one fails, so that its step ends.
        pending, self._pending = self._pending, {}
        for done in pending.values():
            done(False, ["ConnectionError", "mosaik closed the connection", ""])

    async def _route(self, received: Frame) -> None:
        if received.kind is Kind.REQUEST:
            try:
                request = request_of(received)
            except ValueError as exc:
                self.fail(received.id, exc)  # the framing holds: only this call fails
                return
            await self._calls_send.send(request)
            return
        done = self._pending.pop(received.id, None)
        if done is None:
            raise ProtocolError(f"mosaik answered request {received.id}, which was never made")
        done(received.kind is Kind.SUCCESS, received.content)

    async def write(self) -> None:
        """Send queued frames (those queued meanwhile in the same write) until
        :meth:`close_writes`; a connection that went away ends it quietly."""
        try:
            async for data in self._out_receive:
                chunks = [data]
                while True:
                    try:
                        chunks.append(self._out_receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                await self.stream.send_all(b"".join(chunks))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            log.debug("mosaik went away before every answer was written")

    def close_writes(self) -> None:
        """Nothing more will be queued: :meth:`write` ends once the queue is sent."""
        self._out_send.close()


async def serve(sim: Simulator, stream: trio.abc.Stream) -> None:
    """Be ``sim`` for the mosaik at the other end of ``stream``, until it stops the
    simulator or hangs up; the stream is closed on the way out.

    :exc:`~triomas.ProtocolError` if mosaik's frames break the protocol (too large,
    not JSON, ...): the connection is closed at once.
    """
    channel = Channel(stream, sim.max_frame)
    error: Exception | None = None
    stopped = False
    async with stream, trio.open_nursery() as nursery:
        nursery.start_soon(channel.read, nursery.cancel_scope)
        written = trio.Event()

        async def write() -> None:
            try:
                await channel.write()
            finally:
                written.set()

        nursery.start_soon(write)
        try:
            stopped = await run_session(sim, channel.calls, channel, channel)
        except Exception as exc:  # raised below, outside the nursery (no group)
            error = exc
        channel.close_writes()
        with trio.move_on_after(5):  # a guard: a peer that reads nothing holds no one
            await written.wait()
        nursery.cancel_scope.cancel()
    if channel.error is not None:
        raise channel.error
    if error is not None:
        raise error
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
        sockname = listeners[0].socket.getsockname()
        task_status.started(f"{sockname[0]}:{sockname[1]}")
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

"""Reading and writing a plain socket with no scheduler pass per call."""

from __future__ import annotations

import errno
import os
from typing import final

import trio

YIELD_EVERY = 8
"""Reads in a row that found data at once before :meth:`SocketIO.read` yields anyway."""


@final
class SocketIO:
    """The socket under a plain :class:`trio.SocketStream`, read and written directly.

    trio's stream yields to the scheduler after every receive and send that
    succeeds, which costs a round trip two scheduler passes on each side. Here a
    read yields only when it has to wait for data (or after ``YIELD_EVERY`` reads in
    a row that did not, so that a busy peer cannot starve the other tasks), and a
    write never waits: it takes what the socket takes now and says how much.

    The stream itself must not be read or written meanwhile: whoever uses this
    owns the socket (one reader, and writes that never wait, so one writer).
    """

    __slots__ = ("_reads", "socket")

    def __init__(self, stream: trio.SocketStream) -> None:
        self.socket = stream.socket
        """The trio socket, for :func:`trio.lowlevel.wait_writable`."""
        self._reads = 0

    @classmethod
    def of(cls, stream: trio.abc.Stream) -> SocketIO | None:
        """One for ``stream`` if it is a plain socket stream on a POSIX system."""
        if isinstance(stream, trio.SocketStream) and os.name == "posix":
            return cls(stream)
        return None

    def _fd(self) -> int:
        # -1 once the socket is closed: its old number may belong to another file by now.
        fd = self.socket.fileno()
        if fd < 0:
            raise trio.ClosedResourceError("the socket is closed")
        return fd

    def write(self, data: bytes | memoryview) -> int:
        """Write what the socket takes without waiting; return how many bytes (maybe 0).

        Raises :exc:`OSError` if the connection is broken and
        :exc:`trio.ClosedResourceError` if the socket is closed.
        """
        try:
            return os.write(self._fd(), data)
        except BlockingIOError:
            return 0

    def writev(self, buffers: list[bytes | memoryview]) -> int:
        """Like :meth:`write`, for several buffers in one system call."""
        try:
            return os.writev(self._fd(), buffers)
        except BlockingIOError:
            return 0

    async def read(self, max_bytes: int) -> bytes:
        """Up to ``max_bytes`` bytes, at least one; ``b""`` at the end of the stream.

        A checkpoint, like any trio receive: it raises if cancelled, and it yields
        at least every ``YIELD_EVERY`` calls.
        """
        await trio.lowlevel.checkpoint_if_cancelled()
        while True:
            try:
                data = os.read(self._fd(), max_bytes)
            except BlockingIOError:
                self._reads = 0
                await trio.lowlevel.wait_readable(self.socket)
                continue
            except OSError as exc:
                if exc.errno == errno.EBADF:
                    raise trio.ClosedResourceError("the socket is closed") from exc
                raise
            self._reads += 1
            if self._reads >= YIELD_EVERY:
                self._reads = 0
                await trio.lowlevel.cancel_shielded_checkpoint()
            return data

"""Transports: how a container listens and dials, over TCP, unix sockets or memory.

Each transport turns a container address into listeners and streams; everything
above (frames, handshake, routing) is the same for all of them.
"""

from __future__ import annotations

import errno
import os
import secrets
import socket
import stat
from typing import Protocol, final

import attrs
import trio
import trio.testing

_UNIX_BACKLOG = 128


class Transport(Protocol):
    """Listens at and dials container addresses of one scheme."""

    scheme: str

    async def listen(self, address: str) -> tuple[list[trio.abc.Listener[trio.abc.Stream]], str]:
        """Listeners for ``address`` and the address they are reachable at (a port 0
        becomes the port picked)."""
        ...

    async def connect(self, address: str) -> trio.abc.Stream:
        """A stream to the container listening at ``address``."""
        ...

    def close(self, address: str) -> None:
        """Release what listening at ``address`` held (a socket file, a name)."""
        ...


def _split_host_port(address: str, scheme: str) -> tuple[str, int]:
    rest = address[len(scheme) + 3 :]
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"{address!r} is not {scheme}://host:port")
    return host.strip("[]"), int(port)


@final
class TcpTransport:
    """``tcp://host:port``; port 0 picks a free port."""

    scheme = "tcp"

    async def listen(self, address: str) -> tuple[list[trio.abc.Listener[trio.abc.Stream]], str]:
        host, port = _split_host_port(address, self.scheme)
        listeners = await trio.open_tcp_listeners(port, host=host)
        bound = listeners[0].socket.getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        return list(listeners), f"tcp://{shown}:{bound}"

    async def connect(self, address: str) -> trio.abc.Stream:
        host, port = _split_host_port(address, self.scheme)
        return await trio.open_tcp_stream(host, port)

    def close(self, address: str) -> None:
        """Nothing to release: the listeners' sockets are closed by their owner."""


def _unix_path(address: str) -> str:
    path = address[len("unix://") :]
    if not path.startswith("/"):
        raise ValueError(f"{address!r}: a unix address needs an absolute path (unix:///path)")
    return path


@final
class UnixTransport:
    """``unix:///path/to.sock``. A socket file left by a dead container is replaced;
    one whose container still answers is not."""

    scheme = "unix"

    async def listen(self, address: str) -> tuple[list[trio.abc.Listener[trio.abc.Stream]], str]:
        path = _unix_path(address)
        await _clear_stale(path)
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            await sock.bind(path)
            sock.listen(_UNIX_BACKLOG)
        except BaseException:
            sock.close()
            raise
        return [trio.SocketListener(sock)], address

    async def connect(self, address: str) -> trio.abc.Stream:
        return await trio.open_unix_socket(_unix_path(address))

    def close(self, address: str) -> None:
        path = _unix_path(address)
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                os.unlink(path)
        except FileNotFoundError:
            pass


async def _clear_stale(path: str) -> None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise OSError(errno.EEXIST, f"{path} exists and is not a socket")
    probe = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        await probe.connect(path)
    except ConnectionRefusedError:
        os.unlink(path)  # nobody listens: a leftover of a container that died
        return
    except FileNotFoundError:
        return
    finally:
        probe.close()
    raise OSError(errno.EADDRINUSE, f"a container is already listening at {path}")


@final
@attrs.define(eq=False)
class _MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """The accepting end of an in-process address: connections arrive on a channel."""

    send_channel: trio.MemorySendChannel[trio.abc.Stream]
    receive_channel: trio.MemoryReceiveChannel[trio.abc.Stream]

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self.receive_channel.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError("the listener is closed") from None

    async def aclose(self) -> None:
        self.receive_channel.close()
        await trio.lowlevel.checkpoint()


_MEMORY: trio.lowlevel.RunVar[dict[str, _MemoryListener]] = trio.lowlevel.RunVar(
    "triomas_memory_listeners"
)


def _memory_table() -> dict[str, _MemoryListener]:
    try:
        return _MEMORY.get()
    except LookupError:
        table: dict[str, _MemoryListener] = {}
        _MEMORY.set(table)
        return table


@final
class MemoryTransport:
    """``memory://name``: streams inside one trio run, for tests without sockets."""

    scheme = "memory"

    async def listen(self, address: str) -> tuple[list[trio.abc.Listener[trio.abc.Stream]], str]:
        table = _memory_table()
        if address in table:
            raise OSError(errno.EADDRINUSE, f"{address} is already listening")
        send, receive = trio.open_memory_channel[trio.abc.Stream](16)
        listener = _MemoryListener(send, receive)
        table[address] = listener
        await trio.lowlevel.checkpoint()
        return [listener], address

    async def connect(self, address: str) -> trio.abc.Stream:
        listener = _memory_table().get(address)
        if listener is None:
            await trio.lowlevel.checkpoint()
            raise ConnectionRefusedError(errno.ECONNREFUSED, f"nothing listens at {address}")
        ours, theirs = trio.testing.memory_stream_pair()
        try:
            await listener.send_channel.send(theirs)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            raise ConnectionRefusedError(
                errno.ECONNREFUSED, f"nothing listens at {address}"
            ) from None
        return ours

    def close(self, address: str) -> None:
        listener = _memory_table().pop(address, None)
        if listener is not None:
            listener.send_channel.close()


TRANSPORTS: dict[str, Transport] = {
    "tcp": TcpTransport(),
    "unix": UnixTransport(),
    "memory": MemoryTransport(),
}


CLIENT = "client://"
"""The scheme of a container that has no listening address but dials out: its peers
reach it only over the connections it opened (see :func:`client_address`)."""


def client_address() -> str:
    """A fresh address for a container that dials out without listening: unique, so
    that peers tell its connections apart, and dialable by nobody."""
    return CLIENT + secrets.token_hex(8)


def is_client(address: str) -> bool:
    """Whether ``address`` is a dial-out-only container's (well formed: a short token
    of letters, digits, ``-`` and ``_``)."""
    token = address[len(CLIENT) :]
    return (
        address.startswith(CLIENT)
        and 0 < len(token) <= 64
        and token.isascii()
        and token.replace("-", "").replace("_", "").isalnum()
    )


def transport_for(address: str) -> Transport:
    """The transport for ``address``'s scheme; :exc:`ValueError` if there is none."""
    scheme, sep, _ = address.partition("://")
    transport = TRANSPORTS.get(scheme) if sep else None
    if transport is None:
        raise ValueError(
            f"{address!r}: no transport for this scheme (use tcp://, unix://, memory:// or local://)"
        )
    return transport

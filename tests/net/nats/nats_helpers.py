"""Helpers for the NATS client tests: collecting messages and events, and fake
servers (a trio TCP listener on loopback speaking just enough protocol)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import trio

from triomas._net.nats import Msg, NatsEvent

LIMIT = 10.0
"""Seconds any wait in these tests may take before the test fails."""


class Inbox:
    """Collects messages; ``await until(n)`` waits for the n-th."""

    def __init__(self) -> None:
        self.msgs: list[Msg] = []
        self._changed = trio.Event()

    def __call__(self, msg: Msg) -> None:
        self.msgs.append(msg)
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, n: int) -> list[Msg]:
        with trio.fail_after(LIMIT):
            while len(self.msgs) < n:
                await self._changed.wait()
        return self.msgs

    @property
    def payloads(self) -> list[bytes]:
        return [msg.payload for msg in self.msgs]


INFO: dict[str, Any] = {
    "server_id": "FAKE",
    "version": "2.99.0",
    "proto": 1,
    "headers": True,
    "max_payload": 1024,
}


Handler = Callable[[trio.SocketStream], Awaitable[None]]


@asynccontextmanager
async def fake_server(handler: Handler) -> AsyncIterator[str]:
    """Serve ``handler`` on a free loopback port; yield the URL. A handler whose
    client went away just ends."""

    async def guarded(stream: trio.SocketStream) -> None:
        with contextlib.suppress(EOFError, trio.BrokenResourceError):
            await handler(stream)

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(partial(trio.serve_listeners, guarded, listeners))
        yield f"nats://127.0.0.1:{port}"
        nursery.cancel_scope.cancel()


class Lines:
    """Reads a client's lines."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            data = await self.stream.receive_some(65536)
            if not data:
                raise EOFError
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker


async def greet(stream: trio.SocketStream, **info: Any) -> Lines:
    """INFO, then wait for CONNECT and PING, and answer PONG."""
    await stream.send_all(b"INFO " + json.dumps({**INFO, **info}).encode() + b"\r\n")
    lines = Lines(stream)
    connect = await lines.until(b"PING\r\n")
    assert connect.startswith(b"CONNECT {")
    await stream.send_all(b"PONG\r\n")
    return lines


class Events:
    """Records events; ``await until(kind)`` waits for one of that kind."""

    def __init__(self) -> None:
        self.seen: list[NatsEvent] = []
        self._changed = trio.Event()

    def __call__(self, event: NatsEvent) -> None:
        self.seen.append(event)
        self._changed.set()
        self._changed = trio.Event()

    async def until(self, kind: type[Any], n: int = 1) -> list[Any]:
        with trio.fail_after(LIMIT):
            while sum(isinstance(e, kind) for e in self.seen) < n:
                await self._changed.wait()
        return [e for e in self.seen if isinstance(e, kind)]

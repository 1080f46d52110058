"""The NATS client against fake servers written here, speaking just enough protocol:
stale connections (PINGs unanswered), server PINGs, server errors and INFO updates,
and hostile servers (oversize lines, garbage, huge payloads, not reading)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.lowlevel
from nats_helpers import LIMIT, Events, fake_server, greet

from triomas._net.nats import (
    Closed,
    Disconnected,
    LameDuck,
    NatsConnectionError,
    NatsProtocolError,
    Reconnected,
    ServerError,
    SlowConsumer,
    open_nats,
)

FAST_CLOSE = 0.05
"""drain_timeout for fake servers that do not answer the closing PING."""


async def test_unanswered_pings_make_the_connection_stale() -> None:
    connections = 0

    async def handler(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        lines = await greet(stream)
        while True:  # reads every PING, answers none
            await lines.until(b"PING\r\n")

    events = Events()
    async with (
        fake_server(handler) as url,
        open_nats(
            url, ping_interval=0.02, max_pings_out=2, reconnect_wait=0.01, on_event=events
        ) as nc,
    ):
        (gone,) = await events.until(Disconnected)
        assert "stale connection: 2 PINGs unanswered" in gone.reason
        await events.until(Reconnected)
        assert connections == 2
        assert nc.connected
        assert nc.stats().reconnects == 1


async def test_stale_without_reconnecting_closes() -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await greet(stream)
        await trio.sleep_forever()

    events = Events()
    async with (
        fake_server(handler) as url,
        open_nats(url, ping_interval=0.02, reconnect=False, on_event=events) as nc,
    ):
        (closed,) = await events.until(Closed)
        assert "stale" in closed.reason
        assert nc.closed
        assert not nc.publish("x", b"")


async def test_server_pings_are_answered_and_errors_reported() -> None:
    answered = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        lines = await greet(stream)
        await stream.send_all(b"PING\r\n")
        await lines.until(b"PONG\r\n")
        answered.set()
        await stream.send_all(
            b"-ERR 'Slow Consumer'\r\n"
            b"-ERR 'Permissions Violation for Publish to \"x\"'\r\n"
            b"+OK\r\n"
            b'INFO {"max_payload":2048,"connect_urls":["10.1.2.3:4222","[::1]:4223", 7],'
            b'"ldm":true}\r\n'
        )
        await trio.sleep_forever()

    events = Events()
    async with (
        fake_server(handler) as url,
        open_nats(url, on_event=events, drain_timeout=FAST_CLOSE) as nc,
    ):
        with trio.fail_after(LIMIT):
            await answered.wait()
        (lame,) = await events.until(LameDuck)
        assert lame.server == url
        assert [e.message for e in events.seen if isinstance(e, SlowConsumer)] == ["Slow Consumer"]
        (error,) = [e for e in events.seen if isinstance(e, ServerError)]
        assert error.message.startswith("Permissions Violation")
        assert nc.max_payload == 2048
        assert nc.servers == [url, "nats://10.1.2.3:4222", "nats://[::1]:4223"]
        assert nc.connected


@pytest.mark.parametrize(
    ("attack", "info"),
    [
        (b"MSG " + b"x" * 5000, {}),  # a line that never ends
        (b"HELLO THERE\r\n", {}),
        (b"MSG a 1 999999999999\r\n", {}),  # a huge payload announced
        # The INFO claims a huge max_payload; the client caps it (64 MiB).
        (b"MSG a 1 %d\r\n" % (100 * 1024 * 1024), {"max_payload": 2**60}),
        (b"MSG a 1 3\r\nabcdefgh", {}),  # payload longer than announced
        (b"INFO " + b"[" * 60_000 + b"\r\n", {}),
    ],
)
async def test_hostile_servers_fail_the_connection_with_a_typed_error(
    attack: bytes, info: dict[str, Any]
) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        lines = await greet(stream, **info)
        await lines.until(b"SUB a 1\r\n")  # connected: the attack is not in the handshake
        await stream.send_all(attack)
        await trio.sleep_forever()

    events = Events()
    async with (
        fake_server(handler) as url,
        open_nats(url, reconnect=False, on_event=events) as nc,
    ):
        nc.subscribe("a", lambda m: None)
        (gone,) = await events.until(Disconnected)
        assert isinstance(gone.error, NatsProtocolError)
        assert "broke the protocol" in gone.reason
        await events.until(Closed)


@pytest.mark.parametrize(
    "greeting",
    [
        b"HELLO\r\n",
        b"PING\r\n",
        b"INFO {}\r\nMSG a 1 0\r\n\r\n",
        b'INFO {"max_payload":"lots"}\r\n',
        b"I" * 70_000,
    ],
)
async def test_a_hostile_handshake_fails_to_connect(greeting: bytes) -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await stream.send_all(greeting)
        await trio.sleep_forever()

    async with fake_server(handler) as url:
        with trio.fail_after(LIMIT), pytest.raises(NatsConnectionError) as info:
            async with open_nats(url):
                pass
    assert isinstance(info.value.__cause__, NatsProtocolError)


async def test_a_silent_server_times_the_handshake_out() -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await trio.sleep_forever()

    async with fake_server(handler) as url:
        with trio.fail_after(LIMIT), pytest.raises(NatsConnectionError, match="timed out"):
            async with open_nats(url, connect_timeout=0.05):
                pass


async def test_a_server_that_does_not_read_cannot_make_the_client_buffer_without_bound() -> None:
    async def handler(stream: trio.SocketStream) -> None:
        await greet(stream)
        await trio.sleep_forever()  # never reads again

    async with fake_server(handler) as url, open_nats(url, max_pending_bytes=64 * 1024) as nc:
        refused = 0
        published = 0
        with trio.fail_after(LIMIT):
            while refused < 100:
                if nc.publish("flood", bytes(1000)):
                    published += 1
                else:
                    refused += 1
                    await trio.lowlevel.checkpoint()  # let the writer fill the kernel's buffers
        assert nc._pending_bytes + nc._inflight_bytes <= 64 * 1024
        assert published > 64
        await nc.aclose(drain=False)

"""Reconnection: a server restarted under the client, a cluster node killed (failover
to a node learned from ``connect_urls``), giving up, and what is reported lost."""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
from nats_helpers import INFO, LIMIT, Events, Inbox, Lines, fake_server, greet

from nats_server import Launcher, nats_servers
from triomas._net.nats import (
    Closed,
    Disconnected,
    Discovered,
    Lost,
    LostPublish,
    NatsClosedError,
    Reconnected,
    open_nats,
)

FAST = {"reconnect_wait": 0.01, "max_reconnect_wait": 0.05, "drain_timeout": 0.1}


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Launcher]:
    async with nats_servers(tmp_path) as launcher:
        yield launcher


async def test_server_restart_resubscribes_and_sends_what_waited(servers: Launcher) -> None:
    server = await servers.start()
    events = Events()
    async with open_nats(server.url, on_event=events, **FAST) as nc:  # type: ignore[arg-type]
        got = Inbox()
        queued = Inbox()
        nc.subscribe("r.>", got)
        nc.subscribe("q", queued, queue="workers")
        await nc.flush()
        await server.stop()
        await events.until(Disconnected)
        assert not nc.connected
        # While disconnected: publishes wait, subscriptions are taken, a flush waits.
        assert nc.publish("r.during", b"waited")
        late = Inbox()
        nc.subscribe("late", late)
        flushed = trio.Event()

        async def flush() -> None:
            await nc.flush()
            flushed.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(flush)
            await server.start()
            (back,) = await events.until(Reconnected)
            assert back.server == server.url
            with trio.fail_after(LIMIT):
                await flushed.wait()
        assert (await got.until(1))[0].payload == b"waited"
        async with open_nats(server.url) as other:
            other.publish("r.after", b"after")
            other.publish("q", b"queue")
            other.publish("late", b"late")
        assert [m.payload for m in await got.until(2)] == [b"waited", b"after"]
        assert (await queued.until(1))[0].payload == b"queue"
        assert (await late.until(1))[0].payload == b"late"
        assert not [e for e in events.seen if isinstance(e, Lost)]
        assert nc.stats().reconnects == 1


async def test_giving_up_reports_what_waited(servers: Launcher) -> None:
    server = await servers.start()
    events = Events()
    async with open_nats(
        server.url,
        on_event=events,
        reconnect_timeout=0.2,
        **FAST,  # type: ignore[arg-type]
    ) as nc:
        nc.subscribe("x", lambda m: None)
        await nc.flush()
        await server.stop()
        await events.until(Disconnected)
        assert nc.publish("x", b"1", reply="r")
        assert nc.publish("y", b"2", headers={"K": "v"})

        async def request() -> None:
            with pytest.raises(NatsClosedError):
                await nc.request("x", b"ask", timeout=LIMIT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(request)
            (closed,) = await events.until(Closed)
        assert "gave up reconnecting" in closed.reason
        (lost,) = await events.until(Lost)
        assert not lost.uncertain
        assert lost.messages[:2] == (
            LostPublish("x", "r", b"1"),
            LostPublish("y", None, b"2", {"K": ["v"]}),
        )
        assert lost.messages[2].payload == b"ask"
        assert not nc.publish("x", b"too late")
        with pytest.raises(NatsClosedError):
            await nc.flush()


async def test_closing_while_disconnected_reports_what_waited(servers: Launcher) -> None:
    server = await servers.start()
    events = Events()
    async with open_nats(server.url, on_event=events, **FAST) as nc:  # type: ignore[arg-type]
        await server.stop()
        await events.until(Disconnected)
        nc.publish("x", b"unsent")
    assert [e for e in events.seen if isinstance(e, Lost)] == [
        Lost(
            (LostPublish("x", None, b"unsent"),), "not sent before the client closed: closed", False
        )
    ]
    assert isinstance(events.seen[-1], Closed)


async def test_cluster_failover_to_a_node_learned_from_connect_urls(servers: Launcher) -> None:
    a = await servers.start(cluster=True)
    b = await servers.start(routes=[a])
    events = Events()
    async with open_nats(a.url, on_event=events, **FAST) as nc:  # type: ignore[arg-type]
        # The route is up; the node's client URL reaches the client in an INFO.
        if b.url not in nc.servers:
            await events.until(Discovered)
        assert nc.servers == [a.url, b.url]
        got = Inbox()
        nc.subscribe("fail.over", got)
        await nc.flush()
        await a.stop(kill=True)
        (back,) = await events.until(Reconnected)
        assert back.server == b.url
        assert nc.connected_url == b.url
        async with open_nats(b.url) as other:
            other.publish("fail.over", b"via b")
        assert (await got.until(1))[0].payload == b"via b"


async def test_a_write_cut_off_is_uncertain_and_never_sent_again() -> None:
    """The first connection resets while a large publish is being written: it is
    reported lost (uncertain); the publish queued behind it and the subscriptions go
    to the next connection, with the same sids."""
    second: list[bytes] = []
    done = trio.Event()
    connections = 0

    async def handler(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        lines = await greet(stream, max_payload=64 * 1024 * 1024)
        if connections == 1:
            await lines.until(b"PUB big")
            # Reset (SO_LINGER 0): the client's write breaks midway.
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            stream.socket.close()
            return
        second.append(await lines.until(b"PUB small 5\r\nafter\r\n"))
        done.set()
        await trio.sleep_forever()

    events = Events()
    big = bytes(16 * 1024 * 1024)
    async with (
        fake_server(handler) as url,
        open_nats(url, on_event=events, max_pending_bytes=32 * 1024 * 1024, **FAST) as nc,  # type: ignore[arg-type]
    ):
        nc.subscribe("a", lambda m: None)
        nc.subscribe("b", lambda m: None, queue="q")
        nc.unsubscribe(nc.subscribe("c", lambda m: None))
        accepted = nc.publish("big", big)
        assert accepted
        assert nc.publish("small", b"after")  # queued behind: not in the same write
        with trio.fail_after(LIMIT):
            await done.wait()
        (lost,) = await events.until(Lost)
        assert lost.uncertain
        assert [(m.subject, len(m.payload)) for m in lost.messages] == [("big", len(big))]
        assert second == [b"SUB a 1\r\nSUB b q 2\r\nPUB small 5\r\nafter\r\n"]
        kinds = [type(e) for e in events.seen]
        assert kinds == [Disconnected, Lost, Reconnected]


def _info(**fields: Any) -> bytes:
    return b"INFO " + json.dumps({**INFO, **fields}).encode() + b"\r\n"


async def test_a_server_with_a_smaller_limit_after_reconnecting() -> None:
    """What waited and is over the new server's max_payload is reported, not sent."""
    connections = 0
    seen: list[bytes] = []
    done = trio.Event()

    async def handler(stream: trio.SocketStream) -> None:
        nonlocal connections
        connections += 1
        if connections == 1:
            await greet(stream, max_payload=4096)
            await stream.send_all(b"-ERR 'going away'\r\n")
            return  # closes
        await stream.send_all(_info(max_payload=100))
        lines = Lines(stream)
        await lines.until(b"PING\r\n")
        await stream.send_all(b"PONG\r\n")
        seen.append(await lines.until(b"fits\r\n"))
        done.set()
        await trio.sleep_forever()

    events = Events()
    async with fake_server(handler) as url, open_nats(url, on_event=events, **FAST) as nc:  # type: ignore[arg-type]
        await events.until(Disconnected)
        assert nc.publish("x", bytes(1000))
        assert nc.publish("y", b"fits")
        with trio.fail_after(LIMIT):
            await done.wait()
        (lost,) = await events.until(Lost)
        assert lost.messages == (LostPublish("x", None, bytes(1000)),)
        assert seen == [b"PUB y 4\r\nfits\r\n"]
        assert nc.max_payload == 100

"""The NATS client against a real nats-server: publish and subscribe, queue groups,
headers, request/reply, no responders, timeouts, limits, closing."""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.lowlevel
from nats_helpers import LIMIT, Inbox

from nats_server import Launcher, NatsServer, nats_servers
from triomas._net.nats import (
    Closed,
    NatsArgumentError,
    NatsBufferFull,
    NatsClosedError,
    NatsConnectionError,
    NatsEvent,
    NatsPayloadTooLarge,
    NatsTimeout,
    NoResponders,
    open_nats,
)
from triomas._net.sockets import SocketIO


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Launcher]:
    async with nats_servers(tmp_path) as launcher:
        yield launcher


@pytest.fixture
async def server(servers: Launcher) -> NatsServer:
    return await servers.start()


def _task_count() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def test_publish_subscribe_wildcards_reply_and_unsubscribe(server: NatsServer) -> None:
    async with open_nats(server.url, name="t") as a, open_nats(server.url) as b:
        assert a.connected
        assert a.max_payload == 1024 * 1024
        assert a.server_info["headers"] is True
        assert a.connected_url == server.url
        star, full, exact = Inbox(), Inbox(), Inbox()
        a.subscribe("t.*", star)
        a.subscribe("t.>", full)
        sub = a.subscribe("t.x", exact)
        await a.flush()
        assert b.publish("t.x", b"1")
        assert b.publish("t.x.y", b"2", reply="back")
        assert b.publish("u", b"not for a")
        await b.flush()
        await full.until(2)
        assert full.payloads == [b"1", b"2"]
        assert full.msgs[1].reply == "back"
        assert full.msgs[1].subject == "t.x.y"
        assert full.msgs[0].headers is None
        assert (await star.until(1))[0].payload == b"1"
        assert (await exact.until(1))[0].payload == b"1"
        a.unsubscribe(sub)
        a.unsubscribe(sub)  # twice is harmless
        await a.flush()
        b.publish("t.x", b"3")
        await b.flush()
        await full.until(3)
        await a.flush()
        assert exact.payloads == [b"1"]
        assert star.payloads == [b"1", b"3"]
        stats = a.stats()
        assert stats.msgs_in == 6  # one per subscription a message matched
        assert stats.reconnects == 0
        assert b.stats().msgs_out == 4


async def test_headers_both_ways(server: NatsServer) -> None:
    async with open_nats(server.url) as nc:
        got = Inbox()
        nc.subscribe("h", got)
        await nc.flush()
        nc.publish("h", b"body", headers={"A": "1", "B": ["2", "3"]})
        msg = (await got.until(1))[0]
        assert msg.payload == b"body"
        assert msg.headers == {"A": ["1"], "B": ["2", "3"]}
        assert msg.header("B") == "2"
        assert msg.header("C", "none") == "none"
        assert msg.status is None


async def test_echo_off_skips_own_publishes(server: NatsServer) -> None:
    async with open_nats(server.url, echo=False) as nc, open_nats(server.url) as other:
        got = Inbox()
        nc.subscribe("e", got)
        await nc.flush()
        nc.publish("e", b"own")
        await nc.flush()
        other.publish("e", b"other")
        assert (await got.until(1))[0].payload == b"other"


async def test_queue_group_splits_the_work(server: NatsServer) -> None:
    async with open_nats(server.url) as a, open_nats(server.url) as b:
        one, two, everyone = Inbox(), Inbox(), Inbox()
        a.subscribe("work", one, queue="workers")
        b.subscribe("work", two, queue="workers")
        b.subscribe("work", everyone)
        await a.flush()
        await b.flush()
        for i in range(200):
            a.publish("work", b"%d" % i)
        await everyone.until(200)
        await a.flush()
        await b.flush()
        assert len(one.msgs) + len(two.msgs) == 200
        assert sorted(one.payloads + two.payloads) == sorted(everyone.payloads)
        assert one.msgs
        assert two.msgs


async def test_request_reply(server: NatsServer) -> None:
    async with open_nats(server.url) as client, open_nats(server.url) as service:
        service.subscribe(
            "svc.echo",
            lambda m: service.publish(m.reply or "", b"re:" + m.payload, headers={"X": "y"}),
        )
        await service.flush()
        reply = await client.request("svc.echo", b"hi")
        assert reply.payload == b"re:hi"
        assert reply.header("X") == "y"
        # Concurrent requests share one inbox subscription, each with its token.
        results: dict[int, bytes] = {}

        async def ask(i: int) -> None:
            results[i] = (await client.request("svc.echo", b"%d" % i, timeout=LIMIT)).payload

        async with trio.open_nursery() as nursery:
            for i in range(50):
                nursery.start_soon(ask, i)
        assert results == {i: b"re:%d" % i for i in range(50)}
        inbox = client.new_inbox()
        assert inbox.startswith("_INBOX.")
        assert inbox != client.new_inbox()


async def test_no_responders_fails_at_once(server: NatsServer) -> None:
    async with open_nats(server.url) as nc:
        with trio.fail_after(LIMIT / 2), pytest.raises(NoResponders) as info:
            await nc.request("nobody.home", b"?", timeout=LIMIT)
        assert info.value.subject == "nobody.home"


async def test_request_timeout(server: NatsServer) -> None:
    async with open_nats(server.url) as nc:
        nc.subscribe("silent", lambda m: None)
        await nc.flush()
        with pytest.raises(NatsTimeout):
            await nc.request("silent", b"?", timeout=0.05)
        with pytest.raises(trio.TooSlowError):  # it is one too
            await nc.request("silent", b"?", timeout=0.01)


async def test_limits(server: NatsServer) -> None:
    async with open_nats(server.url, max_pending_bytes=4096) as nc:
        with pytest.raises(NatsPayloadTooLarge):
            nc.publish("big", bytes(nc.max_payload + 1))
        with pytest.raises(NatsPayloadTooLarge):
            nc.publish("big", bytes(nc.max_payload), headers={"K": "v"})
        with pytest.raises(NatsArgumentError):
            nc.publish("bad subject", b"")
        with pytest.raises(NatsArgumentError):
            nc.subscribe("", lambda m: None)
        got = Inbox()
        nc.subscribe("p", got)
        await nc.flush()
        # Without a yield, what the socket does not take at once waits, up to the
        # limit: then publish refuses (the first ones may have gone out directly). The
        # server is stopped meanwhile, so that the socket fills: a server that reads on
        # would drain it, and echo it all back until it dropped this slow consumer.
        assert server.process is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            accepted = 0
            while nc.publish("p", bytes(100)):
                accepted += 1
            assert accepted > 30
            with pytest.raises(NatsBufferFull):
                await nc.request("p", bytes(100))
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
        await nc.flush()  # room again
        assert nc.publish("p", b"last")
        await got.until(accepted + 1)


async def test_close_drains_then_refuses(server: NatsServer) -> None:
    events: list[NatsEvent] = []
    got = Inbox()
    tasks = _task_count()
    async with open_nats(server.url) as receiver:
        receiver.subscribe("d", got)
        await receiver.flush()
        async with open_nats(server.url, on_event=events.append) as nc:
            for i in range(1000):
                nc.publish("d", b"%d" % i)
        # Everything queued before the exit went out and reached the server.
        assert events == [Closed("closed")]
        await got.until(1000)
        assert nc.closed
        assert not nc.connected
        assert not nc.publish("d", b"late")
        with pytest.raises(NatsClosedError):
            nc.subscribe("d", got)
        with pytest.raises(NatsClosedError):
            await nc.request("d", b"")
        with pytest.raises(NatsClosedError):
            await nc.flush()
        await nc.aclose()  # again: nothing happens
    assert _task_count() == tasks


async def test_aclose_inside_the_block_and_waiters_are_woken(server: NatsServer) -> None:
    async with open_nats(server.url) as nc:
        nc.subscribe("never", lambda m: None)

        async def wait_reply() -> None:
            with pytest.raises(NatsClosedError):
                await nc.request("never", b"", timeout=LIMIT)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_reply)
            await nc.flush()
            await trio.testing.wait_all_tasks_blocked()
            await nc.aclose()


async def test_a_raising_callback_ends_the_block(server: NatsServer) -> None:
    with pytest.raises(ExceptionGroup) as info:  # noqa: PT012
        async with open_nats(server.url) as nc:
            nc.subscribe("boom", lambda m: 1 / 0)
            await nc.flush()
            nc.publish("boom", b"")
            await trio.sleep_forever()
    assert info.group_contains(ZeroDivisionError)


async def test_an_error_in_the_body_comes_out_as_is(server: NatsServer) -> None:
    with pytest.raises(KeyError):
        async with open_nats(server.url):
            raise KeyError("mine")


async def test_no_server_reachable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(NatsConnectionError, match="no NATS server reachable"):
        async with open_nats([f"nats://127.0.0.1:{port}", f"127.0.0.1:{port + 0}"]):
            pass
    with pytest.raises(NatsArgumentError):
        async with open_nats("http://example.com"):
            pass
    with pytest.raises(ValueError, match="positive"):
        async with open_nats("nats://127.0.0.1:1", ping_interval=0):
            pass


async def test_a_burst_of_publishes_goes_out_in_a_few_writes(
    server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A publish while the writer is idle is written at once, from the publishing task
    (an ask's latency); what more is published before the reader or the writer runs
    again waits for the writer, and goes out with it in one write: a burst of 200 is
    not 200 system calls (nor 200 packets for the server to read)."""
    writes: list[int] = []
    write = SocketIO.write
    send_all = trio.SocketStream.send_all

    def counted_write(self: SocketIO, data: bytes | memoryview) -> int:
        writes.append(len(data))
        return write(self, data)

    async def counted_send_all(self: trio.SocketStream, data: bytes | memoryview) -> None:
        writes.append(len(data))
        await send_all(self, data)

    monkeypatch.setattr(SocketIO, "write", counted_write)
    monkeypatch.setattr(trio.SocketStream, "send_all", counted_send_all)
    async with open_nats(server.url) as a, open_nats(server.url) as b:
        got = Inbox()
        b.subscribe("burst", got)
        await b.flush()
        await a.flush()
        writes.clear()
        assert a.publish("burst", b"0")
        assert len(writes) == 1  # at once
        for n in range(1, 200):
            assert a.publish("burst", str(n).encode())
        assert len(writes) == 1  # the rest waits for the writer's turn
        await a.flush()  # its PING goes with them
        assert len(writes) <= 3
        await got.until(200)
        assert got.payloads == [str(n).encode() for n in range(200)]
        writes.clear()
        await trio.testing.wait_all_tasks_blocked()
        assert a.publish("burst", b"after")  # a new turn: at once again
        assert len(writes) == 1
        await got.until(201)

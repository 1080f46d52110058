"""Interop with nats-py (the reference asyncio client), both ways: it publishes and
requests, the triomas client receives and answers; and the reverse.

nats-py runs on asyncio in a worker thread; the two sides synchronise through
flushes and events (``trio.from_thread``), never sleeps.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import trio

from nats_server import Launcher, NatsServer, nats_servers
from triomas._net.nats import Msg, NoResponders, open_nats

nats = pytest.importorskip("nats")

LIMIT = 10.0
N = 200


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[NatsServer]:
    launcher: Launcher
    async with nats_servers(tmp_path) as launcher:
        yield await launcher.start()


async def in_asyncio(main: Callable[[], Awaitable[Any]]) -> Any:
    """Run ``main()`` on a fresh asyncio loop in a worker thread, bounded by LIMIT."""

    async def bounded() -> Any:
        return await asyncio.wait_for(main(), LIMIT)

    return await trio.to_thread.run_sync(lambda: asyncio.run(bounded()))


async def until_subscribed(nc: Any, probe: str) -> None:
    """Wait until the server has nats-py's subscriptions: nats-py's ``flush`` can send
    its PING before a SUB still in its buffer (seen in the server's trace), so a PONG
    does not prove it. A message to a fresh subscription made after them comes back
    only once the server has read them all."""
    seen = asyncio.Event()

    async def back(msg: Any) -> None:
        seen.set()

    sub = await nc.subscribe(probe, cb=back)
    while not seen.is_set():
        await nc.publish(probe, b"")
        await nc.flush()
        try:
            await asyncio.wait_for(seen.wait(), 0.05)
        except TimeoutError:
            continue  # the probe went out before its own SUB did: again
    await sub.unsubscribe()


def _collect(into: list[Msg], n: int, done: trio.Event) -> Callable[[Msg], None]:
    def callback(msg: Msg) -> None:
        into.append(msg)
        if len(into) == n:
            done.set()

    return callback


async def test_nats_py_publishes_triomas_receives_with_queue_groups(server: NatsServer) -> None:
    async with open_nats(server.url) as a, open_nats(server.url) as b:
        one: list[Msg] = []
        two: list[Msg] = []
        everything: list[Msg] = []
        all_in = trio.Event()
        a.subscribe("jobs.*", _collect(one, -1, trio.Event()), queue="workers")
        b.subscribe("jobs.*", _collect(two, -1, trio.Event()), queue="workers")
        b.subscribe("jobs.>", _collect(everything, N + 1, all_in))
        await a.flush()
        await b.flush()

        async def publish() -> None:
            nc = await nats.connect(server.url)
            for i in range(N):
                await nc.publish("jobs.new", b"%d" % i, reply="answers")
            await nc.publish("jobs.h.x", b"with headers", headers={"Trace": "t-1"})
            await nc.flush()
            await nc.close()

        await in_asyncio(publish)
        with trio.fail_after(LIMIT):
            await all_in.wait()
        assert [m.payload for m in everything[:N]] == [b"%d" % i for i in range(N)]
        assert everything[0].reply == "answers"
        assert everything[N].header("Trace") == "t-1"
        await a.flush()
        await b.flush()
        assert len(one) + len(two) == N
        assert one
        assert two
        assert sorted(m.payload for m in one + two) == sorted(m.payload for m in everything[:N])


async def test_triomas_publishes_nats_py_receives(server: NatsServer) -> None:
    ready = trio.Event()

    async def receive() -> list[tuple[str, bytes, dict[str, str] | None]]:
        nc = await nats.connect(server.url)
        got: list[Any] = []
        done = asyncio.Event()

        async def callback(msg: Any) -> None:
            got.append((msg.subject, msg.data, msg.headers))
            if len(got) == N + 1:
                done.set()

        await nc.subscribe("to.py.>", cb=callback)
        await until_subscribed(nc, "probe.to-py")
        trio.from_thread.run_sync(ready.set)
        await done.wait()
        await nc.close()
        return got

    result: list[Any] = []
    async with trio.open_nursery() as nursery:

        async def run_receiver() -> None:
            result.extend(await in_asyncio(receive))

        nursery.start_soon(run_receiver)
        async with open_nats(server.url) as nc:
            with trio.fail_after(LIMIT):
                await ready.wait()
            for i in range(N):
                assert nc.publish(f"to.py.{i % 3}", b"m%d" % i)
            assert nc.publish("to.py.h", b"h", headers={"A": "1", "B": ["2"]})
    assert [payload for _, payload, _ in result[:N]] == [b"m%d" % i for i in range(N)]
    assert result[1][0] == "to.py.1"
    assert result[N] == ("to.py.h", b"h", {"A": "1", "B": "2"})


async def test_triomas_requests_nats_py_answers(server: NatsServer) -> None:
    ready = trio.Event()
    requests = 20

    async def respond() -> int:
        nc = await nats.connect(server.url)
        done = asyncio.Event()
        served = 0

        async def callback(msg: Any) -> None:
            nonlocal served
            await msg.respond(b"py:" + msg.data)
            served += 1
            if served == requests:
                done.set()

        await nc.subscribe("py.svc", cb=callback, queue="svc")
        await until_subscribed(nc, "probe.py-svc")
        trio.from_thread.run_sync(ready.set)
        await done.wait()
        await nc.flush()
        await nc.close()
        return served

    replies: list[bytes] = []
    async with trio.open_nursery() as nursery:
        served: list[int] = []

        async def run_responder() -> None:
            served.append(await in_asyncio(respond))

        nursery.start_soon(run_responder)
        async with open_nats(server.url) as nc:
            with trio.fail_after(LIMIT):
                await ready.wait()
            for i in range(requests):
                replies.append((await nc.request("py.svc", b"%d" % i, timeout=LIMIT)).payload)
            with pytest.raises(NoResponders):
                await nc.request("py.nobody", b"", timeout=LIMIT)
    assert replies == [b"py:%d" % i for i in range(requests)]
    assert served == [requests]


async def test_nats_py_requests_triomas_answers(server: NatsServer) -> None:
    async with open_nats(server.url) as nc:
        nc.subscribe(
            "tm.svc",
            lambda m: nc.publish(m.reply or "", m.payload[::-1], headers={"By": "triomas"}),
        )
        await nc.flush()

        async def ask() -> list[tuple[bytes, str | None]]:
            py = await nats.connect(server.url)
            answers = []
            for word in (b"abc", b"nats", b""):
                reply = await py.request("tm.svc", word, timeout=LIMIT)
                answers.append((reply.data, (reply.headers or {}).get("By")))
            with pytest.raises(nats.errors.NoRespondersError):
                await py.request("tm.nobody", b"", timeout=LIMIT)
            await py.close()
            return answers

        assert await in_asyncio(ask) == [
            (b"cba", "triomas"),
            (b"stan", "triomas"),
            (b"", "triomas"),
        ]

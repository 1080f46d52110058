"""Containers in a NATS cluster (``nats://``): the transport conformance suite, asks to
nobody, cluster-wide topics, discovery, remote monitors and links, presence and
failure detection, the server restarted, and a two-node cluster failing over."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio

import triomas
from triomas import (
    Agent,
    AgentRef,
    CalleeDown,
    DeadLetter,
    Down,
    NameTaken,
    NoConnection,
    NoProc,
    Normal,
    message,
    on,
)
from triomas.testing import NatsServer, check_transport, find_nats_server, nats_server

pytestmark = pytest.mark.skipif(find_nats_server() is None, reason="no nats-server binary")

HERE = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


@message(tag="nats.Echo")
class Echo:
    n: int


@message(tag="nats.Quit")
class Quit:
    pass


@message(tag="nats.News")
class News:
    text: str


class Echoer(Agent):
    @on(Echo)
    def echo(self, msg: Echo) -> int:
        return msg.n + 1

    @on(Quit)
    def quit(self, msg: Quit) -> None:
        self.stop()


class Reader(Agent):
    def __init__(self, out: trio.MemorySendChannel[str]) -> None:
        self.out = out

    def setup(self) -> None:
        self.subscribe(topic=News)

    @on(News)
    def news(self, msg: News) -> None:
        self.out.send_nowait(f"{self.name}: {msg.text}")


class Watcher(Agent):
    def __init__(self, target: str, out: trio.MemorySendChannel[Down]) -> None:
        self.target = target
        self.out = out

    def setup(self) -> None:
        self.monitor(self.target)

    @on(Down)
    def down(self, msg: Down) -> None:
        self.out.send_nowait(msg)


@pytest.fixture
async def server() -> AsyncIterator[NatsServer]:
    async with nats_server() as running:
        yield running


def _opener(url: str, **options: object) -> Callable[[], object]:
    return lambda: triomas.open_container(url, **options)  # type: ignore[arg-type]


async def test_the_nats_transport_conforms(server: NatsServer) -> None:
    await check_transport(lambda: triomas.open_container(server.url))


async def test_an_ask_to_a_container_nobody_runs_fails_at_once(server: NatsServer) -> None:
    with trio.fail_after(5):
        async with triomas.open_container(server.url, name="alone") as c:
            assert c.address == f"{server.url}/alone"
            with pytest.raises(CalleeDown) as info:
                await c.ask(f"{server.url}/nobody/x", Echo(1), timeout=60)
            assert isinstance(info.value.reason, NoConnection)


async def test_a_name_is_taken_once_in_the_cluster(server: NatsServer) -> None:
    with trio.fail_after(5):
        async with triomas.open_container(f"{server.url}/shop"):
            with pytest.raises(NameTaken):
                async with triomas.open_container(server.url, name="shop"):
                    pass


async def test_publish_reaches_subscribers_across_the_cluster(server: NatsServer) -> None:
    send, heard = trio.open_memory_channel[str](10)
    dead: list[DeadLetter] = []
    with trio.fail_after(5):
        async with (
            triomas.open_container(server.url, name="press") as press,
            triomas.open_container(server.url, name="home") as home,
            triomas.open_container(server.url, name="office") as office,
        ):
            press.on_event(lambda e: dead.append(e) if isinstance(e, DeadLetter) else None)
            press.publish(News("nobody listens yet"))
            await home.start(Reader, send, name="r1")
            await office.start(Reader, send, name="r2")
            # their presence says so at once; discovery asks everyone
            assert await press.discover(topic=News) == [
                AgentRef(home.address, "r1"),
                AgentRef(office.address, "r2"),
            ]
            press.publish(News("hello"))
            assert sorted([await heard.receive(), await heard.receive()]) == [
                "r1: hello",
                "r2: hello",
            ]
            assert [d.reason for d in dead] == [triomas.DeadLetterReason.NO_SUBSCRIBERS]


async def test_remote_monitors_over_nats_and_a_killed_process(server: NatsServer) -> None:
    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(30):
        async with (
            triomas.open_container(server.url, name="here", heartbeat=0.1) as here,
            triomas.open_container(server.url, name="there", heartbeat=0.1) as there,
        ):
            target = await there.spawn(Echoer, name="target")
            await here.spawn(Watcher, target.address, send)
            assert await here.ask(target.address, Echo(1)) == 2
            here.send(target.address, Quit())
            assert (await downs.receive()).reason == Normal()
            await here.spawn(Watcher, f"{there.address}/nobody", send)
            assert (await downs.receive()).reason == NoProc()
            await here.spawn(Watcher, f"{server.url}/ghost/x", send)
            assert (await downs.receive()).reason == NoConnection()
        # a container in another process, killed: its beats stop
        async with triomas.open_container(server.url, name="boss", heartbeat=0.1) as boss:
            command = ["-m", "triomas", "node", "--nats", server.url, "--name", "worker"]
            node = await trio.lowlevel.open_process(
                [sys.executable, *command, "--heartbeat", "0.1"],
                env=ENV,
                stdout=subprocess.PIPE,
            )
            try:
                assert node.stdout is not None
                ready = await node.stdout.receive_some(1000)
                assert ready == f"triomas-node {server.url}/worker\n".encode()
                await boss.spawn(Watcher, f"{server.url}/worker/node", send)
                # the MONITOR went before this ask, on the same way
                assert await boss.discover(name="node") == [
                    AgentRef(f"{server.url}/worker", "node")
                ]
            finally:
                os.kill(node.pid, signal.SIGKILL)
                await node.wait()
            killed_at = trio.current_time()
            down = await downs.receive()
            assert down.reason == NoConnection()
            assert "declared down" in str(down.reason)
            assert trio.current_time() - killed_at < 3


class Worker(Agent):
    def __init__(self, out: trio.MemorySendChannel[str]) -> None:
        self.out = out

    @on(Echo)
    def echo(self, msg: Echo) -> int:
        self.out.send_nowait(f"{self.container.address.rpartition('/')[2]}/{self.name}")
        return msg.n


class Member(Worker):
    def setup(self) -> None:
        self.subscribe(receiver="crew")


async def test_classes_and_groups_across_the_cluster(server: NatsServer) -> None:
    send, seen = trio.open_memory_channel[str](100)
    with trio.fail_after(10):
        async with (
            triomas.open_container(server.url, name="hq") as hq,
            triomas.open_container(server.url, name="east") as east,
            triomas.open_container(server.url, name="west") as west,
        ):
            for place in (east, west):
                await place.start(Worker, send, name="w1")
                await place.start(Worker, send, name="w2")
                await place.start(Member, send, name="m")
            await hq.discover(cls=Worker)  # every container answered: subscribed
            # every agent of the class called Worker (exact names, as MASlite's receivers:
            # a Member is not one)
            hq.send(f"{server.url}/@all/Worker", Echo(0))
            got = sorted([await seen.receive() for _ in range(4)])
            assert got == ["east/w1", "east/w2", "west/w1", "west/w2"]
            hq.send(f"{server.url}/@all/crew", Echo(0))
            assert sorted([await seen.receive() for _ in range(2)]) == ["east/m", "west/m"]
            # one of them, for each message: an ask has one answer
            answers = [await hq.ask(f"{server.url}/@any/Worker", Echo(n)) for n in range(40)]
            assert answers == list(range(40))
            spread = [await seen.receive() for _ in range(40)]
            assert len(set(spread)) == 4  # the server spreads over containers, each over its own
            with pytest.raises(ValueError, match="an ask needs one agent"):
                await hq.ask(f"{server.url}/@all/Worker", Echo(1))
            # a container whose last Worker stopped is no longer chosen
            for name in ("w1", "w2"):
                await west.remove(name)
            await hq.discover(cls=Worker)  # the UNSUBs went before west's answer
            for n in range(10):
                await hq.ask(f"{server.url}/@any/Worker", Echo(n))
            assert {await seen.receive() for _ in range(10)} == {"east/w1", "east/w2"}


async def _until_found(c: triomas.Container, name: str, ref: AgentRef) -> None:
    """Wait until a discovery from ``c`` finds ``ref``: the servers and the clients are
    outside trio's view, so this polls (the test's deadline is the guard)."""
    while await c.discover(name=name, timeout=0.5) != [ref]:  # noqa: ASYNC110
        await trio.sleep(0.05)


async def test_the_server_restarted_mid_run() -> None:
    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(20):
        async with nats_server() as first:
            url, port = first.url, first.port
            async with (
                triomas.open_container(url, name="a", reconnect_timeout=30) as a,
                triomas.open_container(url, name="b", reconnect_timeout=30) as b,
            ):
                target = await b.start(Echoer, name="target")
                await a.start(Watcher, target.address, send)
                assert await a.ask(target.address, Echo(1)) == 2
                first.process.terminate()
                await first.process.wait()
                # the connection to the server is gone: so are the ties over it
                assert (await downs.receive()).reason == NoConnection()
                async with nats_server(port=port):
                    await _until_found(a, "target", target)  # both reconnected, resubscribed
                    assert await a.ask(target.address, Echo(2)) == 3
                    a.publish(News("after"))  # nobody subscribes: a dead letter, not an error


async def test_a_two_node_cluster_fails_over() -> None:
    with trio.fail_after(30):
        async with nats_server(cluster="tm") as one:
            assert one.cluster_url is not None
            async with (
                nats_server(cluster="tm", routes=[one.cluster_url]) as two,
                triomas.open_container(one.url, name="a", servers=[two.url]) as a,
                triomas.open_container(two.url, name="b") as b,
            ):
                target = await b.start(Echoer, name="target")
                await _until_found(a, "target", target)  # the route is up
                assert await a.ask(target.address, Echo(1)) == 2
                one.process.kill()
                await one.process.wait()
                await _until_found(a, "target", target)  # a went over to two
                assert await a.ask(target.address, Echo(2)) == 3

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
                ready = b""
                while not ready.endswith(b"\n"):
                    ready += await node.stdout.receive_some(1000)
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
        await trio.sleep(0.05)  # real-time: a server restarting, a client reconnecting


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


class Partner(Agent):
    def __init__(self, peer: str | None, out: trio.MemorySendChannel[object]) -> None:
        self.peer = peer
        self.out = out
        self.trap_exits = True

    def setup(self) -> None:
        if self.peer is not None:
            self.link(self.peer)

    @on(Echo)
    def echo(self, msg: Echo) -> int:
        if msg.n < 0:
            raise RuntimeError("partner broke")
        return msg.n

    @on(triomas.Exit)
    def exited(self, msg: triomas.Exit) -> None:
        self.out.send_nowait(msg)


async def test_links_across_the_cluster(server: NatsServer) -> None:
    send, exits = trio.open_memory_channel[object](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(server.url, name="left") as left,
            triomas.open_container(server.url, name="right") as right,
        ):
            remote = await right.start(Partner, None, send, name="remote", restart="temporary")
            await left.start(Partner, remote.address, send, name="local")
            assert await left.ask(remote.address, Echo(1)) == 1  # the LINK went first
            left.send(remote.address, Echo(-1))
            exit_ = await exits.receive()
            assert isinstance(exit_, triomas.Exit)
            assert exit_.peer == AgentRef(right.address, "remote")
            assert isinstance(exit_.reason, triomas.Failure)
            await left.start(Partner, f"{right.address}/nobody", send, name="late")
            exit_ = await exits.receive()
            assert isinstance(exit_, triomas.Exit)
            assert exit_.reason == NoProc()


async def test_what_the_client_could_not_send_becomes_dead_letters(server: NatsServer) -> None:
    from triomas._net.broker import NatsNetwork
    from triomas._net.cluster import Broker
    from triomas._net.nats import Lost, LostPublish, Reconnected, SlowConsumer
    from triomas._net.wire import encode_message

    dead: list[DeadLetter] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container(server.url, name="a") as a,
            triomas.open_container(server.url, name="b") as b,
        ):
            a.on_event(lambda e: dead.append(e) if isinstance(e, DeadLetter) else None)
            target = await b.start(Echoer, name="target")
            network = a._router.remote
            assert isinstance(network, NatsNetwork)
            assert network.client is not None
            broker = Broker(network.client)  # the client's news, as open_container wires it
            broker.network = network
            env = triomas.Envelope(Echo(5), None, target, "Echo")
            payload = encode_message(a.codec, env, "target")[4:]
            lost = (LostPublish("tm.c.b", None, payload),)
            broker.on_event(Lost(lost, "being written when the connection broke", True))
            broker.on_event(Lost(lost, "not sent before the client closed", False))
            broker.on_event(SlowConsumer(server.url, "Slow Consumer Detected"))
            broker.on_event(Lost(lost, "being written when the connection broke", True))
            broker.on_event(Reconnected(server.url))
            reasons = [letter.reason for letter in dead]
            assert reasons == [
                triomas.DeadLetterReason.LOST,
                triomas.DeadLetterReason.UNREACHABLE,
                triomas.DeadLetterReason.SLOW_CONSUMER,
            ]
            assert all(letter.message == Echo(5) for letter in dead)
            assert dead[0].recipient == AgentRef(b.address, "target")


async def test_credentials_in_the_url() -> None:
    with trio.fail_after(10):
        async with nats_server(args=["--user", "ann", "--pass", "s3cret"]) as guarded:
            host = guarded.url.removeprefix("nats://")
            async with (
                triomas.open_container(f"nats://ann:s3cret@{host}", name="in") as inside,
                triomas.open_container(f"nats://ann:s3cret@{host}/out") as other,
            ):
                assert inside.address == f"nats://{host}/in"  # no password in the address
                target = await other.start(Echoer, name="target")
                assert await inside.ask(target.address, Echo(1)) == 2
            from triomas._net.nats import NatsAuthorizationError

            with pytest.raises(NatsAuthorizationError):
                async with triomas.open_container(f"nats://ann:wrong@{host}"):
                    pass


@pytest.mark.parametrize(("n_agents", "n_containers"), [(2, 2), (10, 2), (10, 10)])
async def test_the_ping_pong_grid_across_processes(
    server: NatsServer, n_agents: int, n_containers: int
) -> None:
    """mango's grid: every agent pings every agent, the containers in processes of
    their own, started as ``triomas node --nats``."""
    from node_agents import PingAll, Pongs

    with trio.fail_after(60):
        async with triomas.open_container(server.url) as here:
            nodes: list[trio.Process] = []
            try:
                for k in range(n_containers):  # all started at once, then each waited for
                    command = ["-m", "triomas", "node", "--nats", server.url, "--name", f"g{k}"]
                    nodes.append(
                        await trio.lowlevel.open_process(
                            [sys.executable, *command, "--allow", "node_agents:GridPlayer"],
                            env=ENV,
                            stdout=subprocess.PIPE,
                        )
                    )
                for node in nodes:
                    assert node.stdout is not None
                    ready = b""
                    while not ready.endswith(b"\n"):
                        ready += await node.stdout.receive_some(1000)
                    assert ready.startswith(b"triomas-node ")
                everyone = []
                for i in range(n_agents):
                    control = await here.connect(f"{server.url}/g{i % n_containers}/node")
                    player = await control.start_agent("node_agents:GridPlayer", [], {}, f"p{i}")
                    everyone.append(player)
                for address in everyone:
                    here.send(address, PingAll(everyone))
                expected = [[address, n] for n, address in enumerate(everyone)]
                for address in everyone:
                    while await here.ask(address, Pongs()) != sorted(expected):  # noqa: ASYNC110
                        await trio.sleep(0.02)  # real-time: other processes' work, polled
                for k in range(n_containers):
                    control = await here.connect(f"{server.url}/g{k}/node")
                    await control.shutdown()
                for node in nodes:
                    assert await node.wait() == 0
            finally:
                for node in nodes:
                    if node.returncode is None:
                        node.kill()
                        await node.wait()


async def test_a_hostile_client_of_the_server_costs_one_message(server: NatsServer) -> None:
    """Anyone the server lets in can publish anything on triomas' subjects: a bad payload
    is logged and dropped, the container carries on."""
    import msgpack

    from triomas._net.nats import open_nats

    send, seen = trio.open_memory_channel[str](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(server.url, name="target") as target,
            triomas.open_container(server.url, name="asker") as asker,
            open_nats(server.url) as rogue,
        ):
            await target.start(Worker, send, name="w1")
            await asker.discover(cls=Worker)  # target subscribed to the Worker subjects
            rogue.publish("tm.q.Worker", msgpack.packb([3, None, "Worker"]))  # a broken header
            rogue.publish("tm.q.Worker", b"\xc1")  # not msgpack
            rogue.publish("tm.g.Worker", msgpack.packb([3, 1, 2, 3]))
            rogue.publish("tm.c.target", msgpack.packb([7, 9, 9, 9, 9, 9]))  # a bad TIE
            inbox = rogue.new_inbox()
            answers: list[bytes] = []
            rogue.subscribe(inbox, lambda msg: answers.append(msg.payload))
            rogue.publish("tm.d", msgpack.packb([[1], None, {"x": 1}]), inbox)  # a bad query
            await rogue.flush()
            # a discovery answered with nonsense does not fail the asker's discovery
            rogue.subscribe(
                "tm.d",
                lambda msg: rogue.publish(
                    msg.reply, msgpack.packb([f"{server.url}/rogue", ["no address"]])
                ),
            )
            await rogue.flush()
            found = await asker.discover(cls=Worker, timeout=0.5)
            assert found == [AgentRef(target.address, "w1")]
            assert await asker.ask(f"{server.url}/@any/Worker", Echo(7)) == 7
            assert await seen.receive() == "target/w1"
            assert answers == []  # the bad query was not answered


class Recorder(Agent):
    """Keeps the tells it gets, with their senders and send times."""

    def __init__(self) -> None:
        self.got: list[tuple[int, AgentRef | None, float]] = []

    @on(Echo)
    def echo(self, msg: Echo, env: triomas.Envelope) -> None:
        self.got.append((msg.n, env.sender, env.sent_at))


class Teller(Agent):
    def __init__(self, to: str) -> None:
        self.to = to

    def setup(self) -> None:
        for n in range(3):
            self.send(self.to, Echo(100 + n))


async def test_plain_tells_travel_with_no_envelope_and_lose_nothing(
    server: NatsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain tell to a container a message went to before is published from its parts
    (no envelope), and arrives at a live agent by name as its parts (no envelope either):
    the senders, the send times and the order are those of the general path; a tell to a
    name nobody has there still becomes a dead letter."""
    from triomas._net import remote
    from triomas._net.broker import NatsNetwork

    direct: list[bool] = []
    arrived: list[bool] = []
    tell_direct = NatsNetwork.tell_direct
    arrive_tell = remote.arrive_tell

    def counted_direct(self: NatsNetwork, *args: object) -> bool:
        direct.append(tell_direct(self, *args))  # type: ignore[arg-type]
        return direct[-1]

    def counted_arrival(*args: object) -> bool:
        arrived.append(arrive_tell(*args))  # type: ignore[arg-type]
        return arrived[-1]

    monkeypatch.setattr(NatsNetwork, "tell_direct", counted_direct)
    monkeypatch.setattr(remote, "arrive_tell", counted_arrival)
    monkeypatch.setattr("triomas._net.broker.arrive_tell", counted_arrival)
    dead: list[DeadLetter] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container(server.url, name="a") as a,
            triomas.open_container(server.url, name="b") as b,
        ):
            b.on_event(lambda e: dead.append(e) if isinstance(e, DeadLetter) else None)
            ref = await b.start(Recorder, name="rec")
            recorder = b.agent(ref)
            assert isinstance(recorder, Recorder)
            to = f"{b.address}/rec"
            for n in range(5):
                a.send(to, Echo(n))
            teller = await a.start(Teller, to)
            a.send(f"{b.address}/nobody", Echo(-1))
            assert await a.ask(to, Echo(0), timeout=5) is None  # after the tells, in order
            assert [n for n, _, _ in recorder.got] == [0, 1, 2, 3, 4, 100, 101, 102, 0]
            senders = [sender for _, sender, _ in recorder.got]
            assert senders[:5] == [None] * 5
            assert senders[5:8] == [teller] * 3
            times = [sent for _, _, sent in recorder.got]
            assert times == sorted(times)
            assert all(isinstance(t, float) for t in times)
            assert len(dead) == 1  # it came before the ask (per-pair order)
    assert direct[0] is False  # the first learns the container's subject
    assert direct[1:] == [True] * (len(direct) - 1)
    assert len(direct) == 9  # 5 from outside, 3 from the agent, 1 to nobody; not the ask
    assert arrived.count(True) == 8
    assert arrived.count(False) == 1  # nobody's: by the general path
    assert [letter.message for letter in dead] == [Echo(-1)]
    assert dead[0].reason == triomas.DeadLetterReason.UNKNOWN_RECIPIENT

"""Erlang's distribution semantics across containers: remote monitors and links,
``noconnection`` when a connection ends, heartbeats that declare a silent peer down,
one name per container, and dynamic supervisors driven by message."""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path

import pytest
import trio

import triomas
from conftest import Addresses
from triomas import (
    Agent,
    AgentRef,
    CalleeDown,
    ChildSpec,
    DeadLetter,
    Down,
    DynamicSupervisor,
    Exit,
    Failure,
    LinkedActorFailed,
    NoConnection,
    NoProc,
    Normal,
    RemoteError,
    StartChild,
    TerminateChild,
    message,
    on,
)
from triomas._runtime.container import network_of

HERE = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}


@message(tag="dist.Crash")
class Crash:
    pass


@message(tag="dist.Quit")
class Quit:
    pass


@message(tag="dist.Hold")
class Hold:
    pass


@message(tag="dist.Echo")
class Echo:
    n: int


class Target(Agent):
    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise ValueError("target broke")

    @on(Quit)
    def quit(self, msg: Quit) -> None:
        self.stop()

    @on(Echo)
    def echo(self, msg: Echo) -> int:
        return msg.n

    @on(Hold)
    async def hold(self, msg: Hold) -> None:
        await trio.sleep_forever()


class Watcher(Agent):
    """Monitors ``target`` and reports each ``Down`` on a channel."""

    def __init__(self, target: AgentRef | str, out: trio.MemorySendChannel[Down]) -> None:
        self.target = target
        self.out = out

    def setup(self) -> None:
        self.mref = self.monitor(self.target)

    @on(Down)
    def down(self, msg: Down) -> None:
        self.out.send_nowait(msg)


class Partner(Agent):
    """Linked to ``peer`` in setup; reports ``Exit`` (when trapping) and its teardowns."""

    def __init__(
        self,
        peer: AgentRef | str | None,
        out: trio.MemorySendChannel[object],
        trap: bool = False,
    ) -> None:
        self.peer = peer
        self.out = out
        self.trap_exits = trap

    def setup(self) -> None:
        if self.peer is not None:
            self.link(self.peer)

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("partner broke")

    @on(Quit)
    def quit(self, msg: Quit) -> None:
        self.stop()

    @on(Echo)
    def echo(self, msg: Echo) -> int:
        return msg.n

    @on(Exit)
    def exited(self, msg: Exit) -> None:
        self.out.send_nowait(msg)

    def teardown(self) -> None:
        self.out.send_nowait(("teardown", self.name))


async def test_a_remote_monitor_gets_one_down_when_the_agent_stops_for_good(
    addresses: Addresses,
) -> None:
    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            target = await there.spawn(Target, name="target")
            watcher = await here.spawn(Watcher, target.address, send)
            assert await here.ask(target.address, Echo(1)) == 1  # the monitor is there now
            for _ in range(2):  # crashes and restarts: no Down
                here.send(target.address, Crash())
            assert await here.ask(target.address, Echo(2)) == 2
            here.send(target.address, Quit())
            down = await downs.receive()
            assert down.reason == Normal()
            assert down.ref == AgentRef.parse(target.address)
            assert down.monitor == here.agent(watcher, Watcher).mref
    with pytest.raises(trio.WouldBlock):
        downs.receive_nowait()  # exactly one


async def test_a_remote_monitor_of_nobody_is_down_noproc(addresses: Addresses) -> None:
    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            await here.spawn(Watcher, f"{there.address}/nobody", send)
            down = await downs.receive()
            assert down.reason == NoProc()
            assert down.ref == AgentRef(there.address, "nobody")


async def test_a_failure_reaches_the_remote_monitor_as_a_remote_error(
    addresses: Addresses,
) -> None:
    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            target = await there.spawn(Target, name="target", restart="temporary")
            await here.spawn(Watcher, target.address, send)
            assert await here.ask(target.address, Echo(1)) == 1
            here.send(target.address, Crash())
            down = await downs.receive()
            assert isinstance(down.reason, Failure)
            assert isinstance(down.reason.exception, RemoteError)
            assert down.reason.exception.type_name == "ValueError"
            assert "target broke" in str(down.reason.exception)


async def test_demonitor_across_containers_means_no_down(addresses: Addresses) -> None:
    first, downs = trio.open_memory_channel[Down](10)
    second, other_downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            target = await there.spawn(Target, name="target")
            await there.spawn(Target, name="other")
            one = await here.spawn(Watcher, target.address, first)
            await here.spawn(Watcher, target.address, second)
            assert await here.ask(target.address, Echo(1)) == 1
            watcher = here.agent(one, Watcher)
            assert watcher.demonitor(watcher.mref)
            here.send(target.address, Quit())  # after the DEMONITOR, on the same connection
            await other_downs.receive()  # the other watcher's Down left in the same step
            assert await here.ask(f"{there.address}/other", Echo(2)) == 2
            with pytest.raises(trio.WouldBlock):
                downs.receive_nowait()
            assert there._router.distant.peers == {}  # nothing left behind there


async def test_a_lost_connection_is_noconnection_on_both_sides(addresses: Addresses) -> None:
    send, downs = trio.open_memory_channel[Down](10)
    exits_send, exits = trio.open_memory_channel[object](10)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            target = await there.spawn(Target, name="target")
            await here.spawn(Watcher, target.address, send)
            partner = await there.spawn(Partner, None, exits_send, name="partner")
            await here.spawn(Partner, partner.address, exits_send, True, name="trapper")
            assert await here.ask(target.address, Echo(1)) == 1
            assert len(there._router.distant.peers[here.address].watched) == 1
            network = network_of(here)
            assert network is not None
            conn = network.peers[there.address].conn  # type: ignore[attr-defined]
            conn.close("cut by the test")
            down = await downs.receive()
            assert down.reason == NoConnection()
            assert "cut by the test" in str(down.reason)
            exit_ = await exits.receive()
            assert isinstance(exit_, Exit)
            assert exit_.peer == AgentRef(there.address, "partner")
            assert exit_.reason == NoConnection()
            assert await here.ask(target.address, Echo(2)) == 2  # a new connection works
            # the other side dropped its half as the old connection ended (at the latest
            # when the new one replaced it)
            assert there._router.distant.peers == {}


async def test_a_failure_travels_along_a_link_both_ways(addresses: Addresses) -> None:
    out, log = trio.open_memory_channel[object](20)
    exits: dict[str, object] = {}
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            here.on_event(
                lambda e: (
                    exits.__setitem__(e.ref.name, e.reason)
                    if isinstance(e, triomas.ChildExited)
                    else None
                )
            )
            remote = await there.spawn(Partner, None, out, name="remote")
            await here.spawn(Partner, remote.address, out, name="local")
            assert await here.ask("local", Echo(1)) == 1
            assert await here.ask(remote.address, Echo(1)) == 1  # the LINK arrived before
            here.send(remote.address, Crash())
            assert await log.receive() == ("teardown", "remote")
            assert await log.receive() == ("teardown", "local")
            reason = exits["local"]
            assert isinstance(reason, Failure)
            assert isinstance(reason.exception, LinkedActorFailed)
            assert reason.exception.peer == AgentRef(there.address, "remote")
            assert isinstance(reason.exception.reason, Failure)
            # both restarted, unlinked: a normal stop now travels nowhere
            here.send(remote.address, Quit())
            assert await log.receive() == ("teardown", "remote")
            assert await here.ask("local", Echo(2)) == 2


async def test_a_trapping_agent_gets_exit_from_a_remote_link(addresses: Addresses) -> None:
    out, log = trio.open_memory_channel[object](20)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            remote = await there.spawn(Partner, None, out, name="remote", restart="temporary")
            await here.spawn(Partner, remote.address, out, True, name="local")
            assert await here.ask(remote.address, Echo(1)) == 1
            here.send(remote.address, Crash())
            assert await log.receive() == ("teardown", "remote")
            exit_ = await log.receive()
            assert isinstance(exit_, Exit)
            assert isinstance(exit_.reason, Failure)
            assert await here.ask("local", Echo(3)) == 3  # alive: it trapped the exit
            await here.spawn(Partner, f"{there.address}/nobody", out, True, name="late")
            exit_ = await log.receive()
            assert isinstance(exit_, Exit)
            assert exit_.reason == NoProc()
            assert exit_.peer == AgentRef(there.address, "nobody")


async def test_a_local_failure_reaches_the_remote_side_of_a_link(addresses: Addresses) -> None:
    out, log = trio.open_memory_channel[object](20)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            remote = await there.spawn(Partner, None, out, True, name="remote")
            local = await here.spawn(Partner, remote.address, out, name="local")
            assert await here.ask(remote.address, Echo(1)) == 1
            here.send(local, Crash())
            assert await log.receive() == ("teardown", "local")
            exit_ = await log.receive()
            assert isinstance(exit_, Exit)
            assert exit_.peer == AgentRef(here.address, "local")
            assert isinstance(exit_.reason, Failure)


async def _blackhole_proxy(target: tuple[str, int], hole: trio.Event, nursery: trio.Nursery) -> int:
    """A TCP proxy to ``target`` that, once ``hole`` is set, keeps its sockets open and
    drops everything both ways (a cable cut that no socket notices)."""

    async def pump(source: trio.SocketStream, sink: trio.SocketStream) -> None:
        while data := await source.receive_some(65536):
            if not hole.is_set():
                await sink.send_all(data)

    async def handle(client: trio.SocketStream) -> None:
        server = await trio.open_tcp_stream(*target)
        async with client, server, trio.open_nursery() as inner:
            inner.start_soon(pump, client, server)
            inner.start_soon(pump, server, client)

    listeners = await nursery.start(functools.partial(trio.serve_tcp, handle, 0, host="127.0.0.1"))
    return int(listeners[0].socket.getsockname()[1])


async def test_heartbeats_declare_a_blackholed_peer_down() -> None:
    send, downs = trio.open_memory_channel[Down](10)
    dead: list[DeadLetter] = []
    beat, missed = 0.1, 3
    with trio.fail_after(20):
        async with (
            trio.open_nursery() as nursery,
            triomas.open_container(
                "tcp://127.0.0.1:0", heartbeat=beat, missed_beats=missed
            ) as there,
            triomas.open_container(
                "tcp://127.0.0.1:0", heartbeat=beat, missed_beats=missed
            ) as here,
        ):
            here.on_event(lambda e: dead.append(e) if isinstance(e, DeadLetter) else None)
            await there.spawn(Target, name="target")
            port = int(there.address.rpartition(":")[2])
            hole = trio.Event()
            proxied = (
                f"tcp://127.0.0.1:{await _blackhole_proxy(('127.0.0.1', port), hole, nursery)}"
            )
            assert await here.ask(f"{proxied}/target", Echo(1)) == 1
            # the container there announced its own address: that one is its name here
            network = network_of(here)
            assert network is not None
            assert list(network.peers) == [there.address]  # type: ignore[attr-defined]
            await here.spawn(Watcher, f"{proxied}/target", send)
            assert await here.ask(f"{proxied}/target", Echo(2)) == 2
            hole.set()
            cut_at = trio.current_time()
            async with trio.open_nursery() as asks:
                failures: list[BaseException] = []

                async def ask_into_the_hole() -> None:
                    try:
                        await here.ask(f"{there.address}/target", Echo(3), timeout=60)
                    except CalleeDown as exc:
                        failures.append(exc)

                asks.start_soon(ask_into_the_hole)
                down = await downs.receive()
            elapsed = trio.current_time() - cut_at
            assert down.reason == NoConnection()
            assert "heartbeats missed" in str(down.reason)
            assert beat * (missed - 1) <= elapsed < beat * missed * 10
            (failure,) = failures
            assert isinstance(failure.reason, NoConnection)  # type: ignore[attr-defined]
            nursery.cancel_scope.cancel()


async def test_a_container_dialed_by_two_names_is_one_peer() -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://localhost:0") as there,
            triomas.open_container("tcp://127.0.0.1:0") as here,
        ):
            assert there.address.startswith("tcp://localhost:")
            await there.spawn(Target, name="target")
            port = there.address.rpartition(":")[2]
            by_number = f"tcp://127.0.0.1:{port}/target"
            assert await here.ask(by_number, Echo(1)) == 1
            assert await here.ask(f"{there.address}/target", Echo(2)) == 2
            assert await here.ask(by_number, Echo(3)) == 3
            network = network_of(here)
            assert network is not None
            assert list(network.peers) == [there.address]  # type: ignore[attr-defined]
            there_network = network_of(there)
            assert there_network is not None
            assert list(there_network.peers) == [here.address]  # type: ignore[attr-defined]


async def test_sigkill_of_a_node_fires_remote_monitors_and_fails_pending_asks() -> None:
    from node_agents import Number

    send, downs = trio.open_memory_channel[Down](10)
    with trio.fail_after(30):
        async with triomas.open_container("tcp://127.0.0.1:0") as here:
            node = await triomas.spawn_container(here, env=ENV)
            doubler = await node.spawn("node_agents:Doubler", 2, name="doubler")
            assert await here.ask(doubler, Number(3)) == 6
            await here.spawn(Watcher, doubler, send)
            assert await here.ask(doubler, Number(4)) == 8
            os.kill(node.process.pid, signal.SIGKILL)
            down = await downs.receive()
            assert down.reason == NoConnection()
            with pytest.raises(CalleeDown):
                await here.ask(doubler, Number(5), timeout=20)
            await node.process.wait()


def test_remote_monitors_over_a_simulated_network_and_its_cut() -> None:
    net = triomas.SimNetwork(latency=0.5)
    seen: list[tuple[float, object]] = []

    async def main() -> None:
        send, downs = trio.open_memory_channel[Down](10)
        async with (
            triomas.open_container("local://a", network=net) as a,
            triomas.open_container("local://b", network=net) as b,
        ):
            await b.spawn(Target, name="one")
            await b.spawn(Target, name="two")
            await a.spawn(Watcher, "local://b/one", send)
            await a.spawn(Watcher, "local://b/two", send)
            await a.run_until_idle()
            a.send("local://b/one", Quit())
            await a.run_until_idle()
            seen.append((a.clock.now(), downs.receive_nowait().reason))
            await a.clock.sleep(1)
            net.cut(a, b)
            await a.run_until_idle()
            seen.append((a.clock.now(), downs.receive_nowait().reason))
            await a.spawn(Watcher, "local://b/two", send)  # across the cut: at once
            await a.run_until_idle()
            seen.append((a.clock.now(), downs.receive_nowait().reason))

    triomas.run(main, clock=triomas.VirtualClock())
    # the MONITORs take 0.5 s, then the Quit 0.5 s, the DOWN 0.5 s back
    assert seen == [(1.5, Normal()), (2.5, NoConnection()), (2.5, NoConnection())]


async def test_a_dynamic_supervisor_started_and_stopped_by_message_from_another_container(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as here,
            triomas.open_container(addresses()) as there,
        ):
            pool = await there.start(DynamicSupervisor, ChildSpec("worker", Target), name="pool")
            child = await here.ask(pool.address, StartChild())
            assert isinstance(child, AgentRef)
            assert child.name == "worker-1"
            assert await here.ask(child, Echo(7)) == 7
            assert await here.ask(pool.address, TerminateChild(child)) is None
            assert there.lookup("worker-1") is None
            with pytest.raises(RemoteError, match="not a child"):
                await here.ask(pool.address, TerminateChild(child))


def test_discovery_over_a_simulated_network_and_locally() -> None:
    net = triomas.SimNetwork()
    found: list[list[AgentRef]] = []

    class Listener(Agent):
        def setup(self) -> None:
            self.subscribe(topic="news")

    async def main() -> None:
        async with (
            triomas.open_container("local://a", network=net) as a,
            triomas.open_container("local://b", network=net) as b,
        ):
            await a.spawn(Target, name="one")
            await b.spawn(Target, name="two")
            await b.spawn(Listener, name="ear")
            await a.run_until_idle()
            found.append(await a.discover(cls=Target))
            found.append(await a.discover(name="ear"))
            found.append(await b.discover(topic="news"))
            found.append(await a.discover(cls="Nobody"))

    triomas.run(main, clock=triomas.VirtualClock())
    assert found == [
        [AgentRef("local://a", "one"), AgentRef("local://b", "two")],
        [AgentRef("local://b", "ear")],
        [AgentRef("local://b", "ear")],
        [],
    ]

"""Containers talking over TCP, unix sockets and memory streams: the same API as in one
process, the delivery guarantee, reconnection, security, and bad peers."""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.lowlevel
import trio.testing
import trustme

import triomas
from conftest import Addresses
from triomas import (
    Agent,
    AgentRef,
    CalleeDown,
    DeadLetter,
    DeadLetterReason,
    DecodeError,
    EncodeError,
    Envelope,
    Failure,
    NoHandler,
    RemoteError,
    message,
    on,
)
from triomas._net.wire import MAX_FRAME, PROTOCOL, VERSION, FrameDecoder, Kind, frame, parse
from triomas._runtime.container import network_of


@message(tag="net.Ping")
class Ping:
    n: int
    src: str


@message(tag="net.Pong")
class Pong:
    n: int


@message(tag="net.Crash")
class Crash:
    pass


@message(tag="net.Unhandled")
class Unhandled:
    pass


@message(tag="net.News")
class News:
    text: str


@message(tag="net.Odd")
class Odd:
    pass


@message(tag="net.Loose")
class Loose:
    value: Any


def _task_count() -> int:
    def count(task: trio.lowlevel.Task) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


@contextlib.asynccontextmanager
async def containers(
    addresses: Addresses, n: int, **options: Any
) -> AsyncIterator[list[triomas.Container]]:
    async with contextlib.AsyncExitStack() as stack:
        opened = [
            await stack.enter_async_context(triomas.open_container(addresses(), **options))
            for _ in range(n)
        ]
        yield opened


# ---- mango's ping-pong grid --------------------------------------------------------------


class GridAgent(Agent):
    def __init__(self, expected: int, done: trio.Event) -> None:
        self.expected = expected
        self.done = done
        self.pongs: set[tuple[str, int]] = set()

    def ping_all(self, everyone: list[AgentRef]) -> None:
        for i, ref in enumerate(everyone):
            self.send(ref, Ping(i, self.ref.address))

    @on(Ping)
    def ping(self, msg: Ping, env: Envelope) -> None:
        assert env.sender is not None
        assert env.sender.address == msg.src
        self.send(env.sender, Pong(msg.n))

    @on(Pong)
    def pong(self, msg: Pong, env: Envelope) -> None:
        assert env.sender is not None
        self.pongs.add((env.sender.address, msg.n))
        if len(self.pongs) == self.expected:
            self.done.set()


@pytest.mark.parametrize(("n_agents", "n_containers"), [(1, 1), (2, 1), (2, 2), (10, 2), (10, 10)])
async def test_every_agent_pings_every_agent(
    addresses: Addresses, n_agents: int, n_containers: int
) -> None:
    before = _task_count()
    with trio.fail_after(20):
        async with containers(addresses, n_containers) as opened:
            events = [trio.Event() for _ in range(n_agents)]
            refs = [
                await opened[i % n_containers].spawn(GridAgent, n_agents, events[i])
                for i in range(n_agents)
            ]
            for i, ref in enumerate(refs):
                opened[i % n_containers].agent(ref, GridAgent).ping_all(refs)
            for event in events:
                await event.wait()
            for i, ref in enumerate(refs):
                agent = opened[i % n_containers].agent(ref, GridAgent)
                assert agent.pongs == {(r.address, k) for k, r in enumerate(refs)}
            for c in opened:
                assert c.dead_letter_counts.total() == 0
                network = network_of(c)
                assert network is not None
                assert len(network.peers) <= n_containers - 1  # type: ignore[attr-defined]
    await trio.testing.wait_all_tasks_blocked()
    assert _task_count() == before


# ---- the same API across containers ------------------------------------------------------


class Echo(Agent):
    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    @on(Ping)
    def ping(self, msg: Ping, env: Envelope) -> int:
        self.seen.append(env)
        return msg.n + 1

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise ValueError("crashed on purpose")

    @on(Loose)
    def loose(self, msg: Loose) -> Any:
        return msg.value

    @on(Odd)
    def odd(self, msg: Odd) -> object:
        return object()  # cannot travel back


async def test_ask_across_containers_with_envelope_fields(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo.address, Ping(1, "-")) == 2
            assert await a.ask(f"{b.address}/echo", Ping(2, "-")) == 3
            assert await a.ask(AgentRef(b.address, "echo"), Ping(3, "-")) == 4
            env = b.agent(echo, Echo).seen[-1]
            assert env.receiver == AgentRef(b.address, "echo")
            assert env.topic == "Ping"
            assert await a.ask(echo, Loose([Pong(1), {"k": b"v"}])) == [Pong(1), {"k": b"v"}]


async def test_ask_errors_cross_the_wire(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            echo = await b.spawn(Echo, name="echo")
            with pytest.raises(CalleeDown) as down:
                await a.ask(f"{b.address}/nobody", Ping(1, "-"))
            assert str(down.value.recipient).endswith("/nobody")
            with pytest.raises(NoHandler):
                await a.ask(echo, Unhandled())
            with pytest.raises(CalleeDown) as crashed:
                await a.ask(echo, Crash())
            assert isinstance(crashed.value.reason, Failure)
            cause = crashed.value.__cause__
            assert isinstance(cause, RemoteError)
            assert cause.type_name == "ValueError"
            assert cause.origin == echo.address
            assert "crashed on purpose" in cause.traceback
            assert await a.ask(echo, Ping(5, "-")) == 6  # restarted: transient
            with pytest.raises(EncodeError):
                a.send(echo, Loose(object()))
            with pytest.raises(EncodeError, match="answer could not be encoded"):
                await a.ask(echo, Odd())


class Sleepy(Agent):
    @on(Ping)
    async def ping(self, msg: Ping) -> int:
        await self.sleep(60)
        return 0


async def test_a_remote_ask_times_out_in_clock_time(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            sleepy = await b.spawn(Sleepy, shutdown=0)
            start = trio.current_time()
            with pytest.raises(triomas.AskTimeout):
                await a.ask(sleepy, Ping(1, "-"), timeout=0.05)
            assert trio.current_time() - start >= 0.05


class Subscriber(Agent):
    def __init__(self, got: list[str]) -> None:
        self.got = got

    async def setup(self) -> None:
        self.subscribe(topic="news")

    @on(News)
    def news(self, msg: News) -> None:
        self.got.append(f"{self.name}:{msg.text}")


async def test_publish_reaches_subscribers_in_connected_containers(addresses: Addresses) -> None:
    got: list[str] = []
    with trio.fail_after(10):
        async with containers(addresses, 3) as (a, b, c):
            await b.start(Subscriber, got, name="sb")
            await c.start(Subscriber, got, name="sc")
            await a.start(Subscriber, got, name="sa")
            echo_b = await b.spawn(Echo)
            echo_c = await c.spawn(Echo)
            await a.ask(echo_b, Ping(0, "-"))  # connect a to b and c: interest travels
            await a.ask(echo_c, Ping(0, "-"))
            a.publish(News("hello"), topic="news")
            while len(got) < 3:
                await trio.lowlevel.checkpoint()
            assert sorted(got) == ["sa:hello", "sb:hello", "sc:hello"]
            await b.remove("sb")
            await a.ask(echo_b, Ping(0, "-"))
            await a.ask(echo_c, Ping(0, "-"))  # the interest change has arrived by now
            got.clear()
            a.publish(News("again"), topic="news")
            while len(got) < 2:
                await trio.lowlevel.checkpoint()
            # What a sent b has arrived once this answer is back (FIFO per pair).
            await a.ask(echo_b, Ping(0, "-"))
            assert sorted(got) == ["sa:again", "sc:again"]
            assert a.dead_letter_counts[DeadLetterReason.NO_SUBSCRIBERS] == 0
            assert b.dead_letter_counts[DeadLetterReason.NO_SUBSCRIBERS] == 0  # not sent to b
            a.publish(News("nobody"), topic="elsewhere")
            assert a.dead_letter_counts[DeadLetterReason.NO_SUBSCRIBERS] == 1


class Collector(Agent):
    def __init__(self) -> None:
        self.got: list[int] = []

    @on(Pong)
    def pong(self, msg: Pong) -> None:
        self.got.append(msg.n)


class Burst(Agent):
    def __init__(self, to: str, n: int) -> None:
        self.to = to
        self.n = n

    async def setup(self) -> None:
        for i in range(self.n):
            self.send(self.to, Pong(i))
        self.stop()


async def test_fifo_per_sender_receiver_pair(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            collector = await b.spawn(Collector)
            await a.spawn(Burst, collector.address, 2000)
            agent = b.agent(collector, Collector)
            while len(agent.got) < 2000:
                await trio.lowlevel.checkpoint()
            assert agent.got == list(range(2000))


async def test_both_sides_dialing_at_once_end_with_one_connection(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            ca = await a.spawn(Collector)
            cb = await b.spawn(Collector)
            for i in range(50):
                a.send(cb.address, Pong(i))
                b.send(ca.address, Pong(i))
            got_a, got_b = a.agent(ca, Collector).got, b.agent(cb, Collector).got
            while len(got_a) < 50 or len(got_b) < 50:
                await trio.lowlevel.checkpoint()
            assert got_a == got_b == list(range(50))
            peers_a = network_of(a).peers  # type: ignore[union-attr]
            peers_b = network_of(b).peers  # type: ignore[union-attr]
            conn_a = peers_a[b.address].conn
            conn_b = peers_b[a.address].conn
            assert conn_a is not None
            assert conn_b is not None
            assert conn_a.outbound != conn_b.outbound  # the two ends of one connection
            assert conn_a.outbound == (a.address < b.address)


# ---- unreachable peers, reconnection -----------------------------------------------------


async def test_messages_for_an_unreachable_container_become_dead_letters(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    letters: list[DeadLetter] = []
    async with triomas.open_container(f"unix://{tmp_path}/a.sock", reconnect_timeout=3) as a:
        a.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
        gone = f"unix://{tmp_path}/gone.sock/x"
        a.send(gone, Pong(1))
        with pytest.raises(CalleeDown):
            await a.ask(gone, Pong(2), timeout=10)
        assert [(d.reason, d.message) for d in letters] == [
            (DeadLetterReason.UNREACHABLE, Pong(1)),
            (DeadLetterReason.UNREACHABLE, Pong(2)),
        ]
        assert trio.current_time() >= 3


async def test_a_restarted_peer_is_reconnected_to(tmp_path: Path) -> None:
    address = f"unix://{tmp_path}/b.sock"
    with trio.fail_after(10):
        async with triomas.open_container(f"unix://{tmp_path}/a.sock") as a:
            for generation in range(2):
                async with triomas.open_container(address) as b:
                    echo = await b.spawn(Echo, name="echo")
                    assert await a.ask(echo, Ping(generation, "-")) == generation + 1


async def test_asks_in_flight_fail_when_the_connection_is_lost(tmp_path: Path) -> None:
    class Slow(Agent):
        @on(Ping)
        async def ping(self, msg: Ping) -> int:
            await self.sleep(60)
            return 0

    with trio.fail_after(10):
        async with triomas.open_container(f"unix://{tmp_path}/a.sock") as a:
            async with triomas.open_container(f"unix://{tmp_path}/b.sock") as b:
                slow = await b.spawn(Slow, shutdown=0)
                async with trio.open_nursery() as nursery:
                    failures: list[BaseException] = []

                    async def ask() -> None:
                        try:
                            await a.ask(slow, Ping(1, "-"), timeout=30)
                        except CalleeDown as exc:
                            failures.append(exc)

                    nursery.start_soon(ask)
                    await trio.testing.wait_all_tasks_blocked()
                    network_of(b).peers[a.address].conn.close("test")  # type: ignore[union-attr]
            assert len(failures) == 1
            assert "connection lost" in str(failures[0])


# ---- security ----------------------------------------------------------------------------


async def test_peers_sharing_the_secret_talk(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2, secret="open sesame") as (a, b):
            echo = await b.spawn(Echo)
            assert await a.ask(echo, Ping(1, "-")) == 2


async def test_a_wrong_secret_is_refused(
    addresses: Addresses, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses(), secret="right") as b:
            echo = await b.spawn(Echo)
            async with triomas.open_container(
                addresses(), secret="wrong", reconnect_timeout=0.05
            ) as a:
                with pytest.raises(CalleeDown):
                    await a.ask(echo, Ping(1, "-"))
                assert a.dead_letter_counts[DeadLetterReason.UNREACHABLE] == 1
            async with triomas.open_container(addresses(), reconnect_timeout=0.05) as c:
                with pytest.raises(CalleeDown):
                    await c.ask(echo, Ping(1, "-"))
            async with triomas.open_container(addresses(), secret="right") as d:
                assert await d.ask(echo, Ping(1, "-")) == 2
    assert "failed the shared-secret challenge" in caplog.text


async def test_tls_between_containers() -> None:
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    tls = {"ssl_server": server_ctx, "ssl_client": client_ctx}
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://127.0.0.1:0", **tls) as a,
            triomas.open_container("tcp://127.0.0.1:0", **tls) as b,
        ):
            echo = await b.spawn(Echo)
            assert await a.ask(echo, Ping(1, "-")) == 2
            conn = network_of(b).peers[a.address].conn  # type: ignore[union-attr]
            assert isinstance(conn.stream, trio.SSLStream)  # type: ignore[union-attr]
            untrusting = ssl.create_default_context()  # does not know the test CA
            async with triomas.open_container(
                "tcp://127.0.0.1:0", ssl_client=untrusting, reconnect_timeout=0.05
            ) as c:
                with pytest.raises(CalleeDown):
                    await c.ask(echo, Ping(1, "-"))


# ---- bad peers ---------------------------------------------------------------------------


class RawPeer:
    """A hand-driven client: speaks (or breaks) the protocol byte by byte."""

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.decoder = FrameDecoder()
        self.frames: list[bytes] = []
        self.codec = triomas.Codec()

    @classmethod
    async def connect(cls, address: str) -> RawPeer:
        from triomas._net.transport import transport_for

        return cls(await transport_for(address).connect(address))

    async def send(self, payload: tuple[Any, ...] | list[Any]) -> None:
        await self.stream.send_all(frame(self.codec.pack(payload)))

    async def receive(self) -> list[Any] | None:
        while not self.frames:
            data = await self.stream.receive_some()
            if not data:
                return None
            self.frames += self.decoder.feed(data)
        return parse(self.codec, self.frames.pop(0))

    async def handshake(self, address: str = "tcp://raw:1") -> None:
        await self.send((Kind.HELLO, PROTOCOL, VERSION, address, b"n" * 16, MAX_FRAME))
        hello = await self.receive()
        assert hello is not None
        assert hello[0] == Kind.HELLO
        await self.send((Kind.PROOF, None))
        welcome = await self.receive()
        assert welcome == [Kind.WELCOME, True, "", None]

    async def closed(self) -> bool:
        while True:
            item = await self.receive()
            if item is None:
                return True
            if item[0] == Kind.ERROR:
                continue


async def _still_serves(server: triomas.Container, echo: AgentRef, addresses: Addresses) -> None:
    async with triomas.open_container(addresses()) as good:
        assert await good.ask(echo, Ping(41, "-")) == 42


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\n\r\n",  # garbage: read as an enormous length
        b"\x00\x00\x00\x10abc",  # a truncated frame, then the client leaves
        b"\x7f\xff\xff\xff",  # an oversized length
        frame(b"\xc1"),  # a frame that is not msgpack
        frame(b"\x93\x01\x02\x03"),  # msgpack, but not a HELLO
    ],
)
async def test_bad_bytes_close_that_connection_only(
    addresses: Addresses, garbage: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR)
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            echo = await server.spawn(Echo)
            raw = await RawPeer.connect(server.address)
            await raw.stream.send_all(garbage)
            if garbage.startswith(b"\x00\x00\x00\x10"):
                await raw.stream.send_eof()  # type: ignore[attr-defined]
            assert await raw.closed()
            await raw.stream.aclose()
            await _still_serves(server, echo, addresses)
    assert "Traceback" not in caplog.text


async def test_a_wrong_protocol_version_is_refused(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            echo = await server.spawn(Echo)
            raw = await RawPeer.connect(server.address)
            await raw.send((Kind.HELLO, PROTOCOL, VERSION + 1, "tcp://raw:1", b"n" * 16, MAX_FRAME))
            reply = await raw.receive()
            assert reply is not None
            assert reply[0] == Kind.ERROR
            assert "version" in reply[1]
            assert await raw.closed()
            await raw.stream.aclose()
            await _still_serves(server, echo, addresses)


async def test_a_client_that_never_finishes_the_handshake_is_dropped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container("memory://slow-server", handshake_timeout=2) as server:
        raw = await RawPeer.connect(server.address)
        await raw.send((Kind.HELLO, PROTOCOL, VERSION, "memory://silent", b"n" * 16, MAX_FRAME))
        assert (await raw.receive() or [None])[0] == Kind.HELLO
        # ...and it never sends its PROOF
        reply = await raw.receive()
        assert reply is not None
        assert reply[0] == Kind.ERROR
        assert "timeout" in reply[1]
        assert await raw.closed()
        await raw.stream.aclose()
        assert trio.current_time() == pytest.approx(2, abs=0.01)


async def test_an_unknown_tag_fails_that_message_only(addresses: Addresses) -> None:
    letters: list[DeadLetter] = []
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            server.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
            echo = await server.spawn(Echo, name="echo")
            raw = await RawPeer.connect(server.address)
            await raw.handshake()
            header = ["tcp://raw:1/me", "echo", "T", None, None]
            await raw.send([Kind.MSG, *header, "7", None, None, 0.0, None, "net.Unknown"])
            reply = await raw.receive()
            assert reply is not None
            assert reply[:3] == [Kind.REPLY, "7", False]
            assert reply[3][0] == "codec"
            assert "unknown message tag" in reply[3][1]
            assert [d.reason for d in letters] == [DeadLetterReason.UNDECODABLE]
            assert isinstance(letters[0].message, DecodeError)
            # wrong field types: the same, and the connection still works
            await raw.send([Kind.MSG, *header, "8", None, None, 0.0, None, "net.Ping", "x", 1])
            reply = await raw.receive()
            assert reply is not None
            assert reply[:3] == [Kind.REPLY, "8", False]
            await raw.send([Kind.MSG, *header, "9", None, None, 0.0, None, "net.Ping", 1, "s"])
            assert await raw.receive() == [Kind.REPLY, "9", True, 2]
            await raw.stream.aclose()
            await _still_serves(server, echo, addresses)


async def test_a_bad_frame_after_the_handshake_closes_that_connection(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            echo = await server.spawn(Echo)
            raw = await RawPeer.connect(server.address)
            await raw.handshake()
            await raw.send([Kind.HELLO, "again"])
            assert await raw.closed()
            await raw.stream.aclose()
            await _still_serves(server, echo, addresses)


async def test_a_bug_while_handling_one_connection_costs_only_that_connection(
    addresses: Addresses, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import triomas._net.network

    real = triomas._net.network.arrive
    bugs = [RuntimeError("a bug")]

    def buggy(container: Any, codec: Any, item: list[Any], link: Any, origin: Any) -> None:
        if bugs:
            raise bugs.pop()
        real(container, codec, item, link, origin)

    monkeypatch.setattr(triomas._net.network, "arrive", buggy)
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            echo = await server.spawn(Echo)
            async with triomas.open_container(addresses(), reconnect_timeout=0.05) as bad:
                with pytest.raises(CalleeDown, match="connection lost"):
                    await bad.ask(echo, Ping(1, "-"))
            await _still_serves(server, echo, addresses)
    assert "RuntimeError: a bug" in caplog.text


async def test_a_full_send_buffer_turns_further_messages_into_dead_letters(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    letters: list[DeadLetter] = []
    async with triomas.open_container(
        f"unix://{tmp_path}/a.sock", send_buffer=200, reconnect_timeout=1
    ) as a:
        a.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
        gone = f"unix://{tmp_path}/gone.sock/x"
        for i in range(20):
            a.send(gone, News(f"message {i:02}"))  # about 60 bytes each
        full = [d.message.text for d in letters if d.reason == DeadLetterReason.SEND_BUFFER_FULL]
        kept = 20 - len(full)
        assert 2 <= kept <= 5  # 200 bytes hold a few frames of about 50 bytes
        assert full == [f"message {i:02}" for i in range(kept, 20)]
        with pytest.raises(triomas.MailboxFull, match="send buffer"):
            await a.ask(gone, News("one more"))
        await trio.sleep(2)  # real-time: no, the autojump clock skips it
        lost = [d.message.text for d in letters if d.reason == DeadLetterReason.UNREACHABLE]
        assert lost == [f"message {i:02}" for i in range(kept)]


async def test_a_peer_dialed_under_another_name_still_answers() -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://localhost:0") as b,
            triomas.open_container("tcp://127.0.0.1:0") as a,
        ):
            await b.spawn(Echo, name="echo")
            port = b.address.rpartition(":")[2]
            assert await a.ask(f"tcp://127.0.0.1:{port}/echo", Ping(1, "-")) == 2


async def test_a_peer_cannot_reach_past_the_container_it_talks_to() -> None:
    letters: list[DeadLetter] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container("local://private") as private,
            triomas.open_container("memory://public") as public,
        ):
            public.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
            await private.spawn(Echo, name="vault")
            raw = await RawPeer.connect(public.address)
            await raw.handshake()
            header = ["tcp://raw:1/me", "local://private/vault", "T", None, None]
            await raw.send([Kind.MSG, *header, "1", None, None, 0.0, None, "net.Ping", 1, "s"])
            reply = await raw.receive()
            assert reply is not None
            assert reply[:3] == [Kind.REPLY, "1", False]
            assert reply[3][0] == "down"
            await raw.stream.aclose()
    assert [d.reason for d in letters] == [DeadLetterReason.UNKNOWN_RECIPIENT]


async def test_a_message_over_the_frame_limit_is_refused_at_the_sender(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with containers(addresses, 2, max_frame=1000) as (a, b):
            echo = await b.spawn(Echo)
            with pytest.raises(EncodeError, match="frame limit of 1000"):
                a.send(echo, Loose(b"x" * 2000))
            assert await a.ask(echo, Loose(b"x" * 500)) == b"x" * 500


class Farewell(Agent):
    def __init__(self, to: str) -> None:
        self.to = to

    async def teardown(self) -> None:
        self.send(self.to, Pong(99))


async def test_what_teardowns_send_still_goes_out(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as b:
            collector = await b.spawn(Collector)
            async with triomas.open_container(addresses()) as a:
                await a.ask(collector, Pong(0))  # connected
                await a.spawn(Farewell, collector.address)
            got = b.agent(collector, Collector).got
            while len(got) < 2:
                await trio.lowlevel.checkpoint()
            assert got == [0, 99]


@message(tag="net.Introduce")
class Introduce:
    """Tells the receiver whom to greet: a typed reference and an untyped list of them."""

    friend: AgentRef
    others: Any


@message(tag="net.Hello")
class Hello:
    text: str


async def test_references_travel_in_messages_and_can_be_sent_to(addresses: Addresses) -> None:
    """mango sends addresses in messages all the time: a reference is a message value, as
    a typed field and untyped, and arrives as one the receiver can send to."""
    greeted: list[tuple[str, str]] = []
    all_greeted = trio.Event()

    class Greeter(Agent):
        @on(Introduce)
        def introduce(self, msg: Introduce) -> None:
            assert isinstance(msg.friend, AgentRef)
            assert all(isinstance(ref, AgentRef) for ref in msg.others)
            self.send(msg.friend, Hello("hi"))
            for ref in msg.others:
                self.send(ref, Hello("hello"))

    class Friend(Agent):
        @on(Hello)
        def hello(self, msg: Hello) -> None:
            greeted.append((self.name, msg.text))
            if len(greeted) == 3:
                all_greeted.set()

    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            greeter = await b.spawn(Greeter, name="greeter")
            ann = await a.spawn(Friend, name="ann")
            bo = await a.spawn(Friend, name="bo")
            cy = await b.spawn(Friend, name="cy")
            a.send(greeter.address, Introduce(ann, [bo, cy]))
            await all_greeted.wait()
    assert sorted(greeted) == [("ann", "hi"), ("bo", "hello"), ("cy", "hello")]


async def test_the_receiver_of_an_envelope_is_a_reference_locally_as_over_the_wire(
    addresses: Addresses,
) -> None:
    seen: list[object] = []

    class Looker(Agent):
        @on(Hello)
        def hello(self, msg: Hello, env: Envelope) -> None:
            seen.append(env.receiver)

    with trio.fail_after(10):
        async with containers(addresses, 2) as (a, b):
            here = await a.spawn(Looker, name="here")
            there = await b.spawn(Looker, name="there")
            a.send("here", Hello("by name"))
            a.send(here.address, Hello("by address"))
            await a.ask(there.address, Hello("over the wire"))
    assert seen[:2] == [here, here]
    assert seen[2] == there
    assert all(type(receiver) is AgentRef for receiver in seen)

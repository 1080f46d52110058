"""A container opened without an address dials out: aiomas's client, which calls agents
of a listening container and hears back on the connection it opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

import triomas
from conftest import Addresses
from triomas import (
    Agent,
    AgentRef,
    CalleeDown,
    DeadLetter,
    DeadLetterReason,
    Envelope,
    VirtualClock,
    message,
    on,
)
from triomas._net.transport import is_client
from triomas._runtime.container import network_of


@message(tag="dial.Ping")
class Ping:
    n: int


@message(tag="dial.Pong")
class Pong:
    n: int


@message(tag="dial.Hand")
class Hand:
    ref: AgentRef


class Callee(Agent):
    def __init__(self) -> None:
        self.senders: list[AgentRef | None] = []

    @on(Ping)
    def ping(self, msg: Ping, env: Envelope) -> Pong | None:
        self.senders.append(env.sender)
        if env.reply_with is None and env.sender is not None:
            self.send(env.sender, Pong(msg.n + 100))  # a tell back, to the sender's address
            return None
        return Pong(msg.n + 1)

    @on(Hand)
    def hand(self, msg: Hand) -> None:
        self.send(msg.ref, Pong(-1))


class Caller(Agent):
    def __init__(self) -> None:
        self.got: list[tuple[int, AgentRef | None]] = []
        self.news = trio.Event()

    @on(Pong)
    def pong(self, msg: Pong, env: Envelope) -> None:
        self.got.append((msg.n, env.sender))
        self.news.set()


async def test_a_container_without_an_address_asks_an_agent_across_the_network(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            await server.spawn(Callee, name="callee")
            async with triomas.open_container() as client:
                assert network_of(client) is None  # nothing is made before it is needed
                assert await client.ask(f"{server.address}/callee", Ping(1)) == Pong(2)
                network = network_of(client)
                assert network is not None
                assert client.address.startswith("local://")  # its local name is kept
                # An agent of the client asks too, and a second ask reuses the connection.
                ref = await client.spawn(Caller, name="caller")
                caller = client.agent(ref, Caller)
                assert await caller.ask(f"{server.address}/callee", Ping(5)) == Pong(6)
                assert len(network.peers) == 1  # type: ignore[attr-defined]


async def test_the_server_answers_a_tell_at_the_sender_address_over_the_client_connection(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            callee_ref = await server.spawn(Callee, name="callee")
            callee = server.agent(callee_ref, Callee)
            async with triomas.open_container() as client:
                ref = await client.spawn(Caller, name="caller")
                caller = client.agent(ref, Caller)
                caller.send(callee_ref.address, Ping(1))
                await caller.news.wait()
                sender = callee.senders[0]
                assert sender is not None
                assert is_client(sender.container)
                assert sender.name == "caller"
                assert caller.got == [(101, callee_ref)]
                # A reference to the client's agent travels and is answered too.
                caller.news = trio.Event()
                caller.send(callee_ref, Ping(2))
                await caller.news.wait()
                assert caller.got[-1] == (102, callee_ref)
                assert callee.senders[1] == sender  # one client address for its life


async def test_a_client_container_hears_what_the_server_publishes(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with triomas.open_container(addresses()) as server:
            await server.spawn(Callee, name="callee")
            async with triomas.open_container() as client:
                ref = await client.spawn(Caller, name="caller")
                caller = client.agent(ref, Caller)
                caller.subscribe(topic=Pong)
                # The first ask opens the connection; the client's interest is the first
                # frame on it, so it has arrived when the answer is back (FIFO).
                await client.ask(f"{server.address}/callee", Ping(0))
                network: Any = network_of(server)
                assert [peer.topics for peer in network.peers.values()] == [{"Pong"}]
                server.publish(Pong(7))
                await caller.news.wait()
                assert caller.got[0][0] == 7


async def test_mail_for_a_client_that_left_becomes_a_dead_letter(tmp_path: Path) -> None:
    letters: list[DeadLetter] = []
    async with triomas.open_container(f"memory://{tmp_path.name}") as server:
        server.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
        callee_ref = await server.spawn(Callee, name="callee")
        callee = server.agent(callee_ref, Callee)
        async with triomas.open_container() as client:
            await client.ask(callee_ref.address, Ping(0))
            ref = await client.spawn(Caller, name="caller")
            caller = client.agent(ref, Caller)
            caller.send(callee_ref, Ping(1))
            await caller.news.wait()
        gone = callee.senders[-1]
        assert gone is not None
        await trio.testing.wait_all_tasks_blocked()  # the connection's end is seen
        network: Any = network_of(server)
        assert not network.reaches(gone.container)
        assert not network.peers  # nothing is kept of a client that left
        callee.send(gone, Pong(3))
        assert [(d.reason, d.message) for d in letters] == [(DeadLetterReason.UNREACHABLE, Pong(3))]


async def test_a_virtual_time_container_refuses_a_network_address_at_the_send(
    tmp_path: Path,
) -> None:
    async with triomas.open_container(clock=VirtualClock()) as sim:
        with pytest.raises(ValueError, match="virtual time"):
            sim.send(f"unix://{tmp_path}/s.sock/x", Ping(1))


async def test_an_unreachable_server_fails_the_ask_as_it_does_for_a_listening_container(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with triomas.open_container(reconnect_timeout=2) as client:
        with pytest.raises(CalleeDown, match="unreachable"):
            await client.ask(f"unix://{tmp_path}/nobody.sock/x", Ping(1), timeout=10)


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("client://0a1b2c3d4e5f6071", True),
        ("client://a-b_c", True),
        ("client://", False),
        ("client://a/b", False),
        ("client://" + "a" * 65, False),
        ("client://é", False),
        ("clients://abc", False),
    ],
)
def test_client_addresses_are_short_tokens(address: str, ok: bool) -> None:
    assert is_client(address) is ok

"""The direct path of an ask to another container (no envelope made on the asking side)
and the writes it shares: what the callee sees is what the general path would have
sent, every case the direct path cannot take falls back to it, and many asks in flight
share system calls."""

from __future__ import annotations

from typing import Any

import pytest
import trio

import triomas
from conftest import Addresses
from triomas import (
    Agent,
    AgentRef,
    DeadLetter,
    DeadLetterReason,
    EncodeError,
    Envelope,
    message,
    on,
)
from triomas._net import sockets


@message(tag="askpath.Ping")
class Ping:
    n: int


@message(tag="askpath.Blob")
class Blob:
    data: bytes


class Echo(Agent):
    def __init__(self) -> None:
        self.seen: list[Envelope] = []

    @on(Ping)
    def ping(self, msg: Ping, env: Envelope) -> int:
        self.seen.append(env)
        return msg.n + 1

    @on(Blob)
    def blob(self, msg: Blob) -> int:
        return len(msg.data)


class Asker(Agent):
    async def ask_echo(self, echo: AgentRef) -> Any:
        return await self.ask(
            echo, Ping(41), performative="ask-one", conversation_id="c-7", timeout=5
        )


async def test_the_callee_sees_what_the_general_path_sends(addresses: Addresses) -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as a,
            triomas.open_container(addresses()) as b,
        ):
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(1)) == 2  # connects: the general path
            assert await a.ask(echo, Ping(2)) == 3  # the connection is up: the direct one
            asker = await a.spawn(Asker, name="asker")
            assert await a.agent(asker, Asker).ask_echo(echo) == 42
            first, second, third = b.agent(echo, Echo).seen
            for env in (first, second):
                assert env.sender is None
                assert env.receiver == AgentRef(b.address, "echo")
                assert env.topic == "Ping"
                assert env.performative is None
                assert env.conversation_id is None
            assert third.sender == asker
            assert (third.performative, third.conversation_id) == ("ask-one", "c-7")
            assert first.sent_at <= second.sent_at <= third.sent_at
            assert b.stats().agent("echo").received == 3
            assert a.stats().agent("asker").sent == 1
            assert a.stats().outside_sent == 2


async def test_an_ask_by_address_takes_the_direct_path(
    addresses: Addresses, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triomas._net.network import Network

    taken: list[AgentRef] = []
    direct = Network.ask_direct

    def counted(self: Network, sender: Any, to: AgentRef, *args: Any) -> bool:
        taken.append(to)
        return direct(self, sender, to, *args)

    monkeypatch.setattr(Network, "ask_direct", counted)
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as a,
            triomas.open_container(addresses()) as b,
        ):
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(1)) == 2
            assert await a.ask(f"{b.address}/echo", Ping(2)) == 3
            assert await a.ask(echo.address, Ping(3)) == 4
            with pytest.raises(triomas.CalleeDown):
                await a.ask(f"{b.address}/nobody", Ping(4))
    assert taken[-3:] == [echo, echo, AgentRef(b.address, "nobody")]


async def test_an_ask_the_direct_path_cannot_take_takes_the_general_one(
    addresses: Addresses,
) -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses()) as a,
            triomas.open_container(addresses(), max_frame=4096) as b,
        ):
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(1)) == 2
            # over the frame limit: the same EncodeError as ever, nothing sent
            with pytest.raises(EncodeError, match="frame limit"):
                await a.ask(echo, Blob(bytes(10_000)))
            assert await a.ask(echo, Blob(bytes(1000))) == 1000
            assert await a.ask(echo, Ping(5)) == 6


class _Observer:
    """Sees every send (and so every ask) go by."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    def sending(self, sender: Any, env: Envelope) -> str | None:
        self.sent.append(env.body)
        return None

    def asking(self, sender: Any, receiver: Any, body: Any) -> Any:
        return lambda error: None

    def handling(self, agent: Any, cls: Any, env: Envelope) -> Any:
        return lambda error: None


@pytest.mark.parametrize("how", ["strict", "observed"])
async def test_a_strict_or_observed_container_asks_by_the_general_path(
    addresses: Addresses, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    from triomas._net.network import Network

    def refuse(*args: Any) -> bool:
        raise AssertionError("the direct path skips the strict check and the observer")

    monkeypatch.setattr(Network, "ask_direct", refuse)
    observer = _Observer()
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses(), strict=how == "strict") as a,
            triomas.open_container(addresses()) as b,
        ):
            if how == "observed":
                a.observe(observer)
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(1)) == 2
            assert await a.ask(echo, Ping(2)) == 3
    assert observer.sent == ([] if how == "strict" else [Ping(1), Ping(2)])


async def test_asks_in_flight_share_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    writes = [0]
    write, writev = sockets.SocketIO.write, sockets.SocketIO.writev

    def counted_write(self: sockets.SocketIO, data: Any) -> int:
        writes[0] += 1
        return write(self, data)

    def counted_writev(self: sockets.SocketIO, buffers: Any) -> int:
        writes[0] += 1
        return writev(self, buffers)

    monkeypatch.setattr(sockets.SocketIO, "write", counted_write)
    monkeypatch.setattr(sockets.SocketIO, "writev", counted_writev)
    asks, rounds = 100, 20
    with trio.fail_after(20):
        async with (
            triomas.open_container("tcp://127.0.0.1:0") as a,
            triomas.open_container("tcp://127.0.0.1:0") as b,
        ):
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(0)) == 1

            async def asker(k: int) -> None:
                for n in range(rounds):
                    assert await a.ask(echo, Ping(k * rounds + n)) == k * rounds + n + 1

            writes[0] = 0
            async with trio.open_nursery() as nursery:
                for k in range(asks):
                    nursery.start_soon(asker, k)
    # both sides' writes: a write per ask (and one per chunk of replies) made about 2 000
    assert writes[0] < asks * rounds / 2, writes[0]
    print(f"{writes[0]} writes for {asks * rounds} asks and their replies")


async def test_a_full_send_buffer_fails_a_direct_ask_as_it_fails_any(
    addresses: Addresses,
) -> None:
    letters: list[DeadLetter] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container(addresses(), send_buffer=512) as a,
            triomas.open_container(addresses()) as b,
        ):
            a.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
            echo = await b.spawn(Echo, name="echo")
            assert await a.ask(echo, Ping(1)) == 2
            # the ask's frame alone is over the send buffer: the general path says so
            with pytest.raises(triomas.MailboxFull, match="send buffer"):
                await a.ask(echo, Blob(bytes(1000)))
            assert [d.reason for d in letters] == [DeadLetterReason.SEND_BUFFER_FULL]
            assert await a.ask(echo, Blob(bytes(100))) == 100

"""One conformance suite, run for every transport: TCP, unix sockets and memory."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest
import trio

from conftest import Addresses
from triomas._net.transport import Transport, transport_for


async def _serve_echo(
    transport: Transport, address: str, nursery: trio.Nursery
) -> tuple[str, list[trio.abc.Listener[trio.abc.Stream]]]:
    listeners, bound = await transport.listen(address)

    async def echo(stream: trio.abc.Stream) -> None:
        async with stream:
            async for chunk in stream:
                await stream.send_all(chunk.upper())

    nursery.start_soon(trio.serve_listeners, echo, listeners)
    return bound, listeners


async def _read_exactly(stream: trio.abc.Stream, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = await stream.receive_some()
        assert chunk, "the stream ended early"
        data += chunk
    return data


async def test_listen_then_connect_and_talk_both_ways(addresses: Addresses) -> None:
    address = addresses()
    transport = transport_for(address)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            bound, _ = await _serve_echo(transport, address, nursery)
            assert bound.partition("://")[0] == address.partition("://")[0]
            if address.startswith("tcp"):
                assert not bound.endswith(":0")
            async with await transport.connect(bound) as stream:
                await stream.send_all(b"hello")
                assert await _read_exactly(stream, 5) == b"HELLO"
                big = b"x" * 200_000
                await stream.send_all(big)
                assert await _read_exactly(stream, len(big)) == big.upper()
            nursery.cancel_scope.cancel()
        transport.close(bound)


async def test_many_connections_at_once(addresses: Addresses) -> None:
    address = addresses()
    transport = transport_for(address)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            bound, _ = await _serve_echo(transport, address, nursery)
            results: dict[int, bytes] = {}

            async def client(i: int) -> None:
                async with await transport.connect(bound) as stream:
                    await stream.send_all(f"c{i}".encode())
                    results[i] = await _read_exactly(stream, len(f"c{i}"))

            async with trio.open_nursery() as clients:
                for i in range(20):
                    clients.start_soon(client, i)
            assert results == {i: f"C{i}".encode() for i in range(20)}
            nursery.cancel_scope.cancel()
        transport.close(bound)


async def test_closing_one_end_ends_the_other(addresses: Addresses) -> None:
    address = addresses()
    transport = transport_for(address)
    listeners, bound = await transport.listen(address)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            accepted: list[trio.abc.Stream] = []

            async def accept() -> None:
                accepted.append(await listeners[0].accept())

            nursery.start_soon(accept)
            client = await transport.connect(bound)
        await accepted[0].aclose()
        assert await client.receive_some() == b""
        await client.aclose()
    for listener in listeners:
        await listener.aclose()
    transport.close(bound)


async def test_nothing_listening_is_an_os_error(addresses: Addresses) -> None:
    address = addresses()
    transport = transport_for(address)
    listeners, bound = await transport.listen(address)
    for listener in listeners:
        await listener.aclose()
    transport.close(bound)
    with trio.fail_after(5), pytest.raises(OSError, match=r"connect|listens|No such file"):
        await transport.connect(bound)


async def test_an_address_cannot_be_listened_at_twice(addresses: Addresses) -> None:
    address = addresses()
    transport = transport_for(address)
    listeners, bound = await transport.listen(address)
    try:
        with pytest.raises(OSError, match=r"in use|already listening") as info:
            await transport.listen(bound)
        assert info.value.errno == errno.EADDRINUSE
    finally:
        for listener in listeners:
            await listener.aclose()
        transport.close(bound)


async def test_a_stale_unix_socket_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays behind, and nobody listens
    transport = transport_for(f"unix://{path}")
    listeners, bound = await transport.listen(f"unix://{path}")
    for listener in listeners:
        await listener.aclose()
    transport.close(bound)
    assert not path.exists()


async def test_a_unix_path_that_is_not_a_socket_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "precious.txt"
    path.write_text("keep me")
    with pytest.raises(OSError, match="not a socket") as info:
        await transport_for("unix://x").listen(f"unix://{path}")
    assert info.value.errno == errno.EEXIST
    assert path.read_text() == "keep me"


@pytest.mark.parametrize(
    "address", ["tcp://nohost", "tcp://:80", "tcp://h:port", "unix://relative.sock"]
)
def test_malformed_addresses_are_value_errors(address: str) -> None:
    with pytest.raises(ValueError, match=r"is not|absolute path"):
        trio.run(transport_for(address).listen, address)


def test_unknown_schemes_are_value_errors() -> None:
    with pytest.raises(ValueError, match="no transport"):
        transport_for("smoke://signal")

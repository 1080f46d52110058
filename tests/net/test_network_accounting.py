"""Accounting over real sockets: every message sent is handled, or reported as a dead
letter, except what docs/network.md says may be lost: the bytes in kernel buffers when a
connection breaks, and what a receiver killed with SIGKILL had read but not handled.

Each test streams numbered ~1 KiB tells from container A, breaks the connection in the
middle, measures the window that may be lost at that instant (the sender socket's
SIOCOUTQ, the receiver's SIOCINQ or its ``rx_queue``, what the receiver had read), and
checks afterwards that

- the messages handled are a prefix of the stream, each handled once and in order;
- the dead letters are distinct and none of them was handled;
- what is neither is one contiguous run, no longer than the window measured.

Run with ``-s`` to see the counts.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import struct
import termios
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import trio
import trio.lowlevel
import trio.testing

import triomas
from accounting_agents import LINE, PAD, Item, Sink
from triomas import DeadLetter, DeadLetterReason, Envelope
from triomas._net.wire import MAX_FRAME, PROTOCOL, VERSION, encode_message
from triomas._runtime.container import network_of

HERE = Path(__file__).resolve().parents[1]  # tests/, where accounting_agents.py lives
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}

N = 10_000
"""Messages in each stream: about 10 MiB, more than the kernel buffers hold."""
RECONNECT = 0.4
"""A's ``reconnect_timeout``: the give-up must come this long after the break."""
GIVE_UP_MARGIN = 0.2
"""How late the give-up may come, for scheduling; the old code came up to 2 s late."""
SETTLE = 5.0
"""At most this long to wait for a stream to settle (a guard: the waits end on conditions)."""


@pytest.fixture(params=["tcp", "unix"])
def transport(request: pytest.FixtureRequest) -> str:
    """The transport a test runs over."""
    return str(request.param)


def _address(transport: str, tmp_path: Path, name: str) -> str:
    if transport == "tcp":
        return "tcp://127.0.0.1:0"
    return f"unix://{tmp_path}/{name}.sock"


def _frame_size(n: int, receiver: str) -> int:
    """Bytes of Item ``n``'s frame, as ``Container.send`` from outside an agent makes it."""
    env = Envelope(Item(n, PAD), None, None, "Item", sent_at=0.0)
    return len(encode_message(triomas.Codec(), env, receiver))


def _ioctl_int(sock: trio.socket.SocketType, request: int) -> int:
    result = fcntl.ioctl(sock.fileno(), request, b"\0\0\0\0")
    return int(struct.unpack("i", result)[0])


def outq(sock: trio.socket.SocketType) -> int:
    """Bytes the kernel holds for ``sock`` to send (SIOCOUTQ): not yet acknowledged over
    TCP, not yet read by the peer over a unix socket (counted with their overhead)."""
    return _ioctl_int(sock, termios.TIOCOUTQ)


def inq(sock: trio.socket.SocketType) -> int:
    """Bytes received on ``sock`` and not yet read (SIOCINQ)."""
    return _ioctl_int(sock, termios.FIONREAD)


def _buffer_sizes(sender: trio.socket.SocketType, receiver: trio.socket.SocketType) -> int:
    """SO_SNDBUF of ``sender`` plus SO_RCVBUF of ``receiver``, as they are now (TCP
    autotuning grows them): the bound docs/network.md gives for what the kernels hold."""
    sndbuf = sender.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF)
    rcvbuf = receiver.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    return int(sndbuf) + int(rcvbuf)


def _tcp_rx_queue(local: tuple[str, int], remote: tuple[str, int]) -> int:
    """The ``rx_queue`` of the TCP socket ``local`` -> ``remote`` of any process in this
    network namespace, from /proc/net/tcp: the bytes it received and was not read yet."""

    def parse(field: str) -> tuple[str, int]:
        ip, port = field.split(":")
        return socket.inet_ntoa(struct.pack("<I", int(ip, 16))), int(port, 16)

    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            if parse(fields[1]) == local and parse(fields[2]) == remote:
                return int(fields[4].split(":")[1], 16)
    raise LookupError(f"no TCP socket {local} -> {remote}")


def _rchar(pid: int) -> int:
    """Bytes process ``pid`` has read with read() and the like, from /proc/PID/io."""
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise LookupError("no rchar")


def _state(pid: int) -> str:
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rpartition(")")[2].split()[0]


def _socket_of(container: triomas.Container, peer: str) -> trio.socket.SocketType:
    """The socket of ``container``'s connection to the container at ``peer``."""
    network: Any = network_of(container)
    conn = network.peers[peer].conn
    assert conn is not None, f"{container.address} has no connection to {peer}"
    sock: trio.socket.SocketType = conn.stream.socket
    return sock


def _queued(container: triomas.Container, peer: str) -> int:
    """Frames ``container`` holds for ``peer`` and has not given the kernel (for the report)."""
    network: Any = network_of(container)
    record = network.peers.get(peer)
    if record is None:
        return 0
    conn = record.conn
    return len(record.queue) + (0 if conn is None else len(conn._out))


class Ledger:
    """The dead letters of :class:`Item` messages at one container, with their times."""

    def __init__(self, container: triomas.Container) -> None:
        self.dead: list[int] = []
        self.reasons: Counter[DeadLetterReason] = Counter()
        self.times: list[float] = []
        self.gave_up = trio.Event()
        """Set at the first UNREACHABLE one: the give-up reports them all at once."""
        container.on_event(self._event)

    def _event(self, event: object) -> None:
        if isinstance(event, DeadLetter) and isinstance(event.message, Item):
            self.dead.append(event.message.n)
            self.reasons[event.reason] += 1
            self.times.append(trio.current_time())
            if event.reason == DeadLetterReason.UNREACHABLE:
                self.gave_up.set()


def check_accounting(
    what: str, handled: list[int], ledger: Ledger, allowed: int, **measured: object
) -> list[int]:
    """Assert that every message 0..N-1 was handled once (in order), or a dead letter
    once, or is in one contiguous run of at most ``allowed`` lost; return the lost."""
    dead = ledger.dead
    lost = sorted(set(range(N)) - set(handled) - set(dead))
    report = (
        f"{what}: sent={N} handled={len(handled)} dead={len(dead)} {dict(ledger.reasons)} "
        f"lost={len(lost)} allowed={allowed} "
        + " ".join(f"{key}={value}" for key, value in measured.items())
    )
    print(f"\n{report}")
    assert handled == sorted(set(handled)), f"not once each, in order: {report}"
    assert len(set(dead)) == len(dead), f"a message is a dead letter twice: {report}"
    assert not set(handled) & set(dead), f"a message handled is also a dead letter: {report}"
    if lost:
        assert lost == list(range(lost[0], lost[0] + len(lost))), f"lost, scattered: {report}"
    assert len(lost) <= allowed, f"more lost than the kernel buffers can hold: {report}"
    return lost


# ---- a raw acceptor that handshakes, reads a little, then never again ---------------------


class RawReceiver:
    """A peer written from the protocol description: it accepts A's connection, answers
    the handshake (this protocol version, no secret), reads and decodes the first
    ``read_first`` messages, and then stops reading."""

    def __init__(self, listener: trio.socket.SocketType, address: str) -> None:
        self.listener = listener
        self.address = address
        self.sock: trio.socket.SocketType | None = None
        self.buffer = bytearray()
        self.handled: list[int] = []
        self.stopped = trio.Event()

    @classmethod
    async def listen(cls, transport: str, tmp_path: Path) -> RawReceiver:
        if transport == "tcp":
            listener = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            await listener.bind(("127.0.0.1", 0))
            address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
        else:
            listener = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            path = f"{tmp_path}/raw.sock"
            await listener.bind(path)
            address = f"unix://{path}"
        listener.listen()
        return cls(listener, address)

    async def _payload(self) -> list[Any]:
        assert self.sock is not None
        while len(self.buffer) < 4 or len(self.buffer) < 4 + int.from_bytes(self.buffer[:4]):
            data = await self.sock.recv(65536)
            assert data, "A closed the connection"
            self.buffer += data
        length = int.from_bytes(self.buffer[:4])
        item = msgpack.unpackb(bytes(self.buffer[4 : 4 + length]), raw=False)
        del self.buffer[: 4 + length]
        assert isinstance(item, list)
        return item

    async def serve(self, read_first: int) -> None:
        self.sock, _ = await self.listener.accept()
        hello = await self._payload()
        assert hello[:3] == [0, PROTOCOL, VERSION]
        # v3: [0, "triomas", 3, address, nonce, max_frame]; v2 had the proof last.
        last = MAX_FRAME if VERSION >= 3 else None
        await self.send([0, PROTOCOL, VERSION, self.address, os.urandom(16), last])
        assert (await self._payload()) == [1, None]  # PROOF, no secret
        await self.send([2, True, ""] + ([None] if VERSION >= 3 else []))  # WELCOME
        while len(self.handled) < read_first:
            item = await self._payload()
            assert item[0] == 3  # MSG
            assert item[11] == "acct.Item"
            self.handled.append(item[12])
        # Every message already read whole counts as handled; what is left is part of one.
        while len(self.buffer) >= 4 and len(self.buffer) >= 4 + int.from_bytes(self.buffer[:4]):
            self.handled.append((await self._payload())[12])
        self.stopped.set()

    async def send(self, payload: list[Any]) -> None:
        assert self.sock is not None
        data = msgpack.packb(payload)
        view = memoryview(len(data).to_bytes(4) + data)
        while view:
            view = view[await self.sock.send(view) :]

    def cut(self) -> None:
        """Stop listening and close the connection with A's frames unread: over TCP the
        kernel answers that with a reset."""
        self.listener.close()
        if self.sock is not None:
            self.sock.close()


def _check_give_up(ledger: Ledger, since: float, what: str) -> None:
    """Every UNREACHABLE dead letter came ``RECONNECT`` seconds after ``since`` (the
    break), not earlier and not much later."""
    assert ledger.gave_up.is_set(), f"{what}: no give-up, no UNREACHABLE dead letter"
    first, last = min(ledger.times) - since, max(ledger.times) - since
    print(
        f"{what}: the give-up came {first:.3f} s after the break; its last dead letter "
        f"{last:.3f} s after"
    )
    assert first >= RECONNECT - 1e-3, f"gave up early: {first:.3f} s"
    assert first <= RECONNECT + GIVE_UP_MARGIN, f"gave up late: {first:.3f} s (D9)"
    # Reporting thousands of dead letters takes CPU time (about 10 us each here).
    assert last <= RECONNECT + GIVE_UP_MARGIN + 0.5, f"reported late: {last:.3f} s"


async def _wait_for(condition: Callable[[], bool], limit: float = SETTLE) -> None:
    """Poll ``condition`` at every scheduler pass, at most ``limit`` seconds (then return:
    the assertions after it say what is missing)."""
    with trio.move_on_after(limit):
        while not condition():
            await trio.lowlevel.checkpoint()


async def test_a_burst_to_a_peer_that_stopped_reading_then_a_cut(
    transport: str, tmp_path: Path
) -> None:
    """A sends 10 000 tells to a peer that reads 200 of them and then stops reading;
    the connection is cut, the peer is gone for good: what the kernels held is lost,
    everything else is a dead letter "unreachable", exactly ``reconnect_timeout`` after
    the cut."""
    start = trio.current_time()
    with trio.fail_after(30):
        raw = await RawReceiver.listen(transport, tmp_path)
        address = _address(transport, tmp_path, "a")
        async with triomas.open_container(address, reconnect_timeout=RECONNECT) as a:
            ledger = Ledger(a)
            async with trio.open_nursery() as nursery:
                nursery.start_soon(raw.serve, 200)
                for n in range(N):
                    a.send(f"{raw.address}/sink", Item(n, PAD))
            # The peer reads no more; A writes until the kernel buffers are full.
            await trio.testing.wait_all_tasks_blocked()
            assert raw.sock is not None
            a_sock = _socket_of(a, raw.address)
            sender, receiver = outq(a_sock), inq(raw.sock)
            buffers = _buffer_sizes(a_sock, raw.sock)
            queued = _queued(a, raw.address)
            raw.cut()
            cut = trio.current_time()
            with trio.move_on_after(RECONNECT + SETTLE):
                await ledger.gave_up.wait()
        frame = _frame_size(0, "sink")
        kernel = sender + receiver
        check_accounting(
            f"burst then cut ({transport})",
            raw.handled,
            ledger,
            kernel // frame + 1,
            frame=frame,
            sender_outq=sender,
            receiver_inq=receiver,
            queued_at_cut=queued,
            sndbuf_plus_rcvbuf=buffers,
        )
        _check_give_up(ledger, cut, f"burst then cut ({transport})")
        assert set(ledger.reasons) == {DeadLetterReason.UNREACHABLE}
    print(f"ran {trio.current_time() - start:.2f} s")


async def test_a_reset_mid_stream_the_rest_goes_over_the_next_connection(
    transport: str, tmp_path: Path
) -> None:
    """B resets the connection (SO_LINGER 0, close) while A streams to it: A dials again,
    and B gets the rest; lost are at most the frames the kernels held at the reset."""
    start = trio.current_time()
    got: list[int] = []
    with trio.fail_after(30):
        async with (
            triomas.open_container(_address(transport, tmp_path, "a"), reconnect_timeout=5) as a,
            triomas.open_container(_address(transport, tmp_path, "b")) as b,
        ):
            ledger = Ledger(a)
            sink = await b.spawn(Sink, got, name="sink")
            for n in range(N):
                a.send(sink, Item(n, PAD))
            await _wait_for(lambda: len(got) >= N // 4)
            a_sock, b_sock = _socket_of(a, b.address), _socket_of(b, a.address)
            # Reset with frames in flight, if the scheduling gives a moment with some.
            await _wait_for(lambda: inq(b_sock) >= 64 * 1024, limit=1.0)
            # In one step, with nothing else running: measure, then reset.
            old = network_of(b).peers[a.address].conn  # type: ignore[union-attr]
            sender, receiver = outq(a_sock), inq(b_sock)
            buffers = _buffer_sizes(a_sock, b_sock)
            queued, handled_at_reset = _queued(a, b.address), len(got)
            b_sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            b_sock.close()
            await _wait_for(lambda: (bool(got) and got[-1] == N - 1) or N - 1 in ledger.dead)
            new = network_of(b).peers.get(a.address)  # type: ignore[union-attr]
            replaced = new is not None and new.conn is not None and new.conn is not old
        frame = _frame_size(0, "sink")
        kernel = sender + receiver
        lost = check_accounting(
            f"reset mid-stream ({transport})",
            got,
            ledger,
            kernel // frame + 1,
            frame=frame,
            sender_outq=sender,
            receiver_inq=receiver,
            handled_at_reset=handled_at_reset,
            queued_at_reset=queued,
            sndbuf_plus_rcvbuf=buffers,
        )
        assert got[-1] == N - 1, "the rest of the stream did not arrive"
        assert replaced, "the rest did not come over a new connection"
        assert not lost or lost[0] >= handled_at_reset
    print(f"ran {trio.current_time() - start:.2f} s")


async def test_a_receiver_killed_with_sigkill(transport: str, tmp_path: Path) -> None:
    """A streams to an agent in a child process that records each message it handles
    in a file; the child is killed with SIGKILL mid-stream (stopped first, so that what
    may be lost can be measured at that instant). Every message is in the file, or a
    dead letter at A, or in the window: the kernel buffers, plus what the child had
    read and not handled (its mailbox)."""
    import accounting_agents  # its agents are on the node's allow-list by default

    start = trio.current_time()
    log = tmp_path / "handled.log"
    with trio.fail_after(30):
        address = _address(transport, tmp_path, "a")
        async with triomas.open_container(address, reconnect_timeout=RECONNECT) as a:
            ledger = Ledger(a)
            node = await triomas.spawn_container(a, _address(transport, tmp_path, "child"), env=ENV)
            pid = node.process.pid
            try:
                recorder = await node.spawn("accounting_agents:Recorder", str(log), name="rec")
                a_sock = _socket_of(a, node.address)
                read_before = _rchar(pid)  # the connection is idle now
                for n in range(N):
                    a.send(recorder, Item(n, PAD))
                await _wait_for(lambda: log.stat().st_size >= LINE * N // 10)
                os.kill(pid, signal.SIGSTOP)
                await _wait_for(lambda: _state(pid) == "T")
                assert _state(pid) == "T"
                # A writes until the kernel buffers are full: then the child's sockets
                # hold unread bytes, and closing them resets the connection at once (with
                # none, TCP would send a FIN, and A could still write one more chunk into
                # its socket before the reset: kernel-buffered too, but after the measure).
                await trio.testing.wait_all_tasks_blocked()
                # The child is frozen; in one step, with nothing else running here:
                # measure, then kill.
                sender = outq(a_sock)
                receiver = (
                    _tcp_rx_queue(a_sock.getpeername(), a_sock.getsockname())
                    if transport == "tcp"
                    else 0  # a unix socket's SIOCOUTQ counts what waits at the reader too
                )
                read = _rchar(pid) - read_before
                handled_at_kill = log.stat().st_size // LINE
                queued = _queued(a, node.address)
                os.kill(pid, signal.SIGKILL)
                # Block (not yield) until it is dead and its sockets closed: A must not
                # write into them after the measure. WNOWAIT leaves it to trio to reap.
                os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # noqa: ASYNC222
                killed = trio.current_time()
                await node.process.wait()
                with trio.move_on_after(RECONNECT + SETTLE):
                    await ledger.gave_up.wait()
            finally:
                if node.process.returncode is None:
                    node.process.kill()
                    await node.process.wait()
        lines = log.read_text().splitlines()
        assert all(len(line) == LINE - 1 for line in lines), "a torn line"
        handled = [int(line.split()[0]) for line in lines]
        backlog = int(lines[-1].split()[1]) if lines else 0
        frame = _frame_size(0, "rec")
        kernel = sender + receiver
        unhandled = max(0, read // frame - len(handled))
        assert handled_at_kill == len(handled)
        check_accounting(
            f"SIGKILL receiver ({transport})",
            handled,
            ledger,
            kernel // frame + 1 + unhandled,
            frame=frame,
            sender_outq=sender,
            receiver_inq=receiver,
            child_read_bytes=read,
            child_read_unhandled=unhandled,
            last_backlog=backlog,
            queued_at_kill=queued,
        )
        _check_give_up(ledger, killed, f"SIGKILL receiver ({transport})")
        assert accounting_agents.Recorder is not None
    print(f"ran {trio.current_time() - start:.2f} s")

"""Fuzzing the frame decoder at the socket level: raw bytes, framed msgpack trees and
fuzzed handshakes, sent to live containers over TCP and a unix socket.

The containers (one on TCP, one on a unix socket, one on TCP with a shared secret, each
with an ``Echo`` agent) run in their own ``trio.run`` in a background thread for the
whole module. Every example is a plain blocking-socket client: it connects, sends its
input, half-closes and reads until the server closes; a socket timeout is the hang
guard (a hang is a failure). After every example a good client that stayed connected
all along asks the echo agent and must be answered within the same guard, the server
thread must be alive, and the server must have logged no error; every
``_FRESH_EVERY`` examples, and at the end, a new good client handshakes and asks too.

By default (``nox -s tests``) each test runs ``_EXAMPLES`` examples; ``nox -s fuzz``
sets ``TRIOMAS_FUZZ_EXAMPLES`` for the long run (at least 20 000 inputs in all, checked
against ``TRIOMAS_FUZZ_MIN_INPUTS``) and prints how many inputs ran.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
import logging
import os
import re
import socket
import struct
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast, final

import attrs
import msgpack
import pytest
import trio
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

import triomas
from triomas import Agent, AgentRef, message, on
from triomas._net.network import Network
from triomas._net.wire import MAX_FRAME, NONCE_SIZE, PROTOCOL, VERSION, Kind, proof, proof_ok
from triomas._runtime.container import network_of

T = TypeVar("T")

_EXAMPLES = int(os.environ.get("TRIOMAS_FUZZ_EXAMPLES", "50"))
"""Examples per test (and per target); ``nox -s fuzz`` raises it."""
_MIN_INPUTS = int(os.environ.get("TRIOMAS_FUZZ_MIN_INPUTS", "0"))
"""Fail at the end of the module if fewer inputs ran (``nox -s fuzz``: 20 000)."""
_HANG = 2.0
"""Seconds a socket operation may take before the server counts as hung."""
_FRESH_EVERY = 64
"""A new good client handshakes and asks every this many examples."""
_SECRET = b"fuzz secret"
_CLIENT = "tcp://127.0.0.1:1"
"""The address the fuzzing clients announce (nothing listens there)."""
_WATCHER = "tcp://watcher.fuzz.invalid:1"
_CHECKER = "tcp://checker.fuzz.invalid:1"
_REFLECTOR = "tcp://reflector.fuzz.invalid:1"
_SCHEMES = {"tcp", "unix", "memory"}
"""The schemes a network reaches: a peer announcing another one is refused."""
_HANDSHAKE_LIMIT = 4096
"""The server's frame limit before the handshake is done (``_wire.HANDSHAKE_MAX_FRAME``)."""

fuzz_settings = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


# ---- the server's agent --------------------------------------------------------------------


@message(tag="fuzz.Ping")
class Ping:
    n: int


@message(tag="fuzz.Value")
class Value:
    value: Any


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@attrs.frozen
class Point:
    x: int
    y: float


@message(tag="fuzz.Typed")
class Typed:
    """Fields that go through cattrs' structure hooks when decoded."""

    when: datetime.datetime
    ids: list[uuid.UUID]
    scores: dict[str, float]
    point: Point
    maybe: int | None
    colour: Colour


class Echo(Agent):
    """Answers without ever raising: a crash here would be the agent's, not the wire's."""

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n + 1

    @on(Value)
    def value(self, msg: Value) -> Any:
        return msg.value

    @on(Typed)
    def typed(self, msg: Typed) -> Typed:
        return msg


# ---- a blocking client ---------------------------------------------------------------------


@final
class Hang(AssertionError):
    """The server neither answered nor closed within ``_HANG`` seconds."""


def _length(payload: bytes, delta: int) -> int:
    """The length header for ``payload``, off by ``delta`` (clamped to what fits)."""
    return min(max(len(payload) + delta, 0), 2**32 - 1)


def _frame(payload: bytes, delta: int = 0) -> bytes:
    """``payload`` behind a length header that is off by ``delta``."""
    return struct.pack(">I", _length(payload, delta)) + payload


def _pack(obj: Any) -> bytes:
    return cast(bytes, msgpack.packb(obj))


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given points (taken modulo its length), in order."""
    if not data:
        return []
    points = sorted({cut % len(data) for cut in cuts} - {0})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@final
class Wire:
    """One blocking connection to a server, speaking (or breaking) the protocol."""

    def __init__(self, address: str) -> None:
        if address.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(_HANG)
                sock.connect(address[len("unix://") :])
            except BaseException:
                sock.close()
                raise
        else:
            host, _, port = address[len("tcp://") :].rpartition(":")
            sock = socket.create_connection((host, int(port)), timeout=_HANG)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buffer = bytearray()
        self.eof = False

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def send(self, data: bytes, cuts: list[int] | None = None) -> bool:
        """Send ``data`` (in pieces, if cut); False if the server already closed."""
        try:
            for piece in _split(data, cuts or []):
                self.sock.sendall(piece)
        except (BrokenPipeError, ConnectionResetError):
            return False
        except TimeoutError:
            raise Hang(f"the server took no data for {_HANG} s") from None
        return True

    def close_write(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def _fill(self, deadline: float) -> bool:
        """Read more; False at the end of the stream (or a reset)."""
        if self.eof:
            return False
        self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
        try:
            data = self.sock.recv(65536)
        except ConnectionResetError:
            data = b""
        except TimeoutError:
            raise Hang(f"the server neither answered nor closed within {_HANG} s") from None
        if not data:
            self.eof = True
            return False
        self.buffer += data
        return True

    def payload(self, deadline: float) -> bytes | None:
        """The next whole frame's payload from the server, or None at its end."""
        buffer = self.buffer
        while True:
            if len(buffer) >= 4:
                (length,) = struct.unpack_from(">I", buffer)
                assert 0 < length <= MAX_FRAME, f"the server sent a frame of {length} bytes"
                if len(buffer) >= 4 + length:
                    payload = bytes(buffer[4 : 4 + length])
                    del buffer[: 4 + length]
                    return payload
            if not self._fill(deadline):
                return None

    def item(self, deadline: float | None = None) -> list[Any] | None:
        """The next frame from the server as its array (extensions left as they are)."""
        payload = self.payload(time.monotonic() + _HANG if deadline is None else deadline)
        if payload is None:
            return None
        item = msgpack.unpackb(payload, raw=False, strict_map_key=False)
        assert isinstance(item, list), f"the server sent a frame that is no array: {item!r:.200}"
        assert item, "the server sent an empty array"
        assert type(item[0]) is int, f"the server sent a frame of kind {item[0]!r:.50}"
        assert item[0] in {int(kind) for kind in Kind}, f"unknown kind {item[0]} from the server"
        return item

    def finish(self, allowed: set[Kind]) -> list[list[Any]]:
        """Half-close, then read until the server closes: it must, within ``_HANG``."""
        self.close_write()
        deadline = time.monotonic() + _HANG
        items: list[list[Any]] = []
        while (item := self.item(deadline)) is not None:
            assert item[0] in allowed, f"unexpected {Kind(item[0]).name} from the server: {item}"
            items.append(item)
        return items

    def handshake(self, server: Server, address: str = _CLIENT) -> None:
        """A correct v3 handshake as the dialer; the server must accept it."""
        nonce = os.urandom(NONCE_SIZE)
        self.send(_frame(_pack([Kind.HELLO, PROTOCOL, VERSION, address, nonce, MAX_FRAME])))
        hello = self.item()
        assert hello is not None, "the server closed instead of answering a good HELLO"
        _check_server_hello(hello, server, nonce)
        mine = proof(server.secret, "dialer", nonce, hello[4], address, server.address)
        self.send(_frame(_pack([Kind.PROOF, mine])))
        welcome = self.item()
        assert welcome is not None, "the server closed instead of answering a good PROOF"
        assert welcome[:3] == [Kind.WELCOME, True, ""], welcome
        assert proof_ok(
            server.secret, "acceptor", nonce, hello[4], address, server.address, welcome[3]
        ), "the server's WELCOME carries a wrong proof"

    def ask_echo(self, rid: str, sender: str) -> float:
        """Ask the echo agent ``Ping(41)``; return the round trip in seconds."""
        start = time.monotonic()
        header = [sender, "echo", "Ping", None, None, rid, None, None, 0.0, None]
        self.send(_frame(_pack([Kind.MSG, *header, "fuzz.Ping", 41])))
        deadline = start + _HANG
        while True:
            item = self.item(deadline)
            assert item is not None, "the server closed a good client's connection"
            if item[0] == Kind.REPLY and item[1] == rid:
                assert item[2:] == [True, 42], f"the echo answered {item}"
                return time.monotonic() - start
            # a TICK comes every heartbeat (5 s), whatever the client announced
            assert item[0] in (Kind.INTEREST, Kind.TICK), (
                f"unexpected frame for a good client: {item}"
            )


def _outcome(items: list[list[Any]]) -> None:
    """Tell hypothesis' statistics how the server answered (``--hypothesis-show-statistics``)."""
    replies = sum(1 for item in items if item[0] == Kind.REPLY)
    event(f"replies: {min(replies, 2)}{'+' if replies > 2 else ''}")
    for item in items:
        if item[0] == Kind.ERROR:
            reason = item[1] if len(item) > 1 and isinstance(item[1], str) else "?"
            event("ERROR: " + re.sub(r"\d+", "N", reason)[:60])


def _check_server_hello(hello: list[Any], server: Server, nonce: bytes) -> None:
    assert hello[0] == Kind.HELLO, f"expected the server's HELLO, got {hello}"
    assert len(hello) == 7, hello
    assert hello[1:4] == [PROTOCOL, VERSION, server.address], hello
    assert isinstance(hello[4], bytes), hello
    assert len(hello[4]) == NONCE_SIZE, hello
    assert hello[4] != nonce, "the server echoed the dialer's nonce"
    assert type(hello[5]) is int, hello
    assert 64 <= hello[5] < 2**32, hello
    assert type(hello[6]) is int, hello  # the heartbeat, in milliseconds
    assert 0 <= hello[6] < 2**31, hello


# ---- the servers, in their own thread ------------------------------------------------------


@dataclasses.dataclass
class Server:
    target: str
    address: str
    secret: bytes | None
    container: triomas.Container


@final
class _ErrorRecords(logging.Handler):
    """Keeps what the runtime logs at ERROR or worse (an internal error, a crash)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.texts: list[str] = []
        self.setFormatter(logging.Formatter("%(threadName)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.texts.append(self.format(record))

    def take(self) -> list[str]:
        """What was logged since the last call (so each example answers for its own)."""
        texts, self.texts = self.texts, []
        return texts


@final
class Fuzz:
    """The servers' thread, the good clients, and the bookkeeping of the examples."""

    def __init__(self, directory: Path) -> None:
        self.specs = [
            ("tcp", "tcp://127.0.0.1:0", None),
            ("unix", f"unix://{directory}/fuzz.sock", None),
            ("secret", "tcp://127.0.0.1:0", _SECRET),
        ]
        self.servers: dict[str, Server] = {}
        self.error: BaseException | None = None
        self.errors = _ErrorRecords()
        self.counts: Counter[str] = Counter()
        self.disagreements: Counter[str] = Counter()
        self.max_round_trip = 0.0
        self.slowest: tuple[float, str] = (0.0, "")
        self.first_failure: str | None = None
        self.started = time.monotonic()
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._stop: trio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="fuzz-servers", daemon=True)
        self._watchers: dict[str, Wire] = {}
        self._asks = 0

    # -- the thread --

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self.error = exc
        finally:
            self._ready.set()

    async def _main(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            for target, address, secret in self.specs:
                container = await stack.enter_async_context(
                    triomas.open_container(address, secret=secret)
                )
                await container.spawn(Echo, name="echo")
                self.servers[target] = Server(target, container.address, secret, container)
            self._token = trio.lowlevel.current_trio_token()
            self._stop = trio.Event()
            self._ready.set()
            await self._stop.wait()

    def _call(self, fn: Callable[[], T]) -> T:
        return trio.from_thread.run_sync(fn, trio_token=self._token)

    def start(self) -> None:
        logging.getLogger("triomas").addHandler(self.errors)
        self._thread.start()
        assert self._ready.wait(10), "the servers did not start"
        self._check_thread()
        for target, server in self.servers.items():
            watcher = self._watchers[target] = Wire(server.address)
            watcher.handshake(server, _WATCHER)
        for target in self.servers:
            self.probe(target, fresh=True)

    def stop(self) -> None:
        for watcher in self._watchers.values():
            watcher.sock.close()
        if self._thread.is_alive():
            assert self._stop is not None
            with contextlib.suppress(trio.RunFinishedError):
                self._call(self._stop.set)
            self._thread.join(10)
        logging.getLogger("triomas").removeHandler(self.errors)
        assert not self._thread.is_alive(), "the servers did not stop"

    def stats(self) -> dict[str, dict[str, int]]:
        """What the servers still hold: peer records, reply slots, handshakes, nonces."""

        def collect() -> dict[str, dict[str, int]]:
            out = {}
            for target, server in self.servers.items():
                network = cast(Network, network_of(server.container))
                out[target] = {
                    "peers": len(network.peers),
                    "replies": sum(len(peer.pending) for peer in network.peers.values()),
                    "handshakes": len(network._handshakes.under_way),
                    "nonces": len(network._handshakes.nonces),
                }
            return out

        return self._call(collect)

    # -- checks --

    def _check_thread(self) -> None:
        if self.error is not None:
            text = "".join(traceback.format_exception(self.error))
            raise AssertionError(f"the servers' thread died:\n{text}")
        assert self._thread.is_alive(), "the servers' thread ended"
        logged = self.errors.take()
        assert not logged, "the runtime logged errors:\n" + "\n".join(logged[:3])

    def probe(self, target: str, *, fresh: bool = False) -> None:
        """A good client is answered: the one connected all along, or a new one."""
        self._check_thread()
        self._asks += 1
        rid = f"probe-{self._asks}"
        server = self.servers[target]
        if fresh:
            with Wire(server.address) as wire:
                wire.handshake(server, _CHECKER)
                took = wire.ask_echo(rid, f"{_CHECKER}/probe")
                wire.finish({Kind.REPLY, Kind.INTEREST, Kind.TICK})
        else:
            took = self._watchers[target].ask_echo(rid, f"{_WATCHER}/probe")
        self.max_round_trip = max(self.max_round_trip, took)
        self._check_thread()

    @contextlib.contextmanager
    def example(self, test: str, target: str, data: object) -> Iterator[Server]:
        """One input: count it, run it, then check that the server still serves."""
        name = f"{test}[{target}]"
        self.counts[name] += 1
        try:
            self._check_thread()
            start = time.monotonic()
            yield self.servers[target]
            took = time.monotonic() - start
            if took > self.slowest[0]:
                self.slowest = (took, f"{name} {data!r:.300}")
            self.probe(target, fresh=self.counts[name] % _FRESH_EVERY == 0)
        except Exception as exc:
            if self.first_failure is None:
                self.first_failure = f"{name}, input {data!r:.3000}"
            # Shrinking shows the smallest failing input; this is the first one that failed
            # (it matters when the server died there and everything after fails too).
            raise AssertionError(
                f"{exc}\n\nthe first input that failed in this module: {self.first_failure}"
            ) from exc

    def note(self, what: str) -> None:
        """A difference from the spec as this test reads it, not a failure (reported at
        the end): a value the server takes that the spec does not name, say."""
        self.disagreements[what] += 1


async def _good_container_asks(servers: list[Server]) -> None:
    """A real container asks each server's echo agent (the honest way in)."""
    for server in servers:
        with trio.fail_after(10):
            # Its own codec: a codec's packer and nesting count are not for two threads.
            async with triomas.open_container(
                "tcp://127.0.0.1:0", secret=server.secret, codec=triomas.Codec()
            ) as c:
                answer = await c.ask(AgentRef(server.address, "echo"), Ping(1), timeout=_HANG)
                assert answer == 2


@pytest.fixture(scope="module")
def fuzz(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fuzz]:
    state = Fuzz(tmp_path_factory.mktemp("fuzz"))
    stats: dict[str, dict[str, int]] = {}
    try:
        state.start()
        yield state
        for target in state.servers:
            state.probe(target, fresh=True)
        trio.run(_good_container_asks, list(state.servers.values()))
        stats = state.stats()
    finally:
        try:
            state.stop()
        finally:
            _summary(request, state, stats)
    for target, held in stats.items():
        # The good watcher's record, and maybe the last fuzzing client's on its way out.
        assert held["peers"] <= 2, f"{target} keeps peer records: {held}"
        assert held["handshakes"] == 0, f"{target} keeps handshakes: {held}"
    total = sum(state.counts.values())
    if not request.session.testsfailed:  # a failing test stops early: that says it already
        assert total >= _MIN_INPUTS, f"only {total} inputs ran, fewer than {_MIN_INPUTS}"


def _summary(request: pytest.FixtureRequest, state: Fuzz, stats: dict[str, Any]) -> None:
    """Print how many inputs ran, and what was slow or lax, past pytest's capture."""
    total = sum(state.counts.values())
    elapsed = time.monotonic() - state.started
    lines = [
        f"fuzz: {total} inputs over sockets in {elapsed:.1f} s "
        f"({_EXAMPLES} examples per test and target); slowest good-client round trip "
        f"{state.max_round_trip * 1000:.1f} ms",
        "fuzz: inputs by test: " + ", ".join(f"{k} {v}" for k, v in sorted(state.counts.items())),
        f"fuzz: the slowest input took {state.slowest[0] * 1000:.1f} ms: {state.slowest[1]}",
        f"fuzz: server state at the end: {stats or 'unknown'}",
    ]
    if state.disagreements:
        lines.append(f"fuzz: differs from the test's reading of the spec: {state.disagreements}")
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        print("\n" + "\n".join(lines), flush=True)


# ---- strategies ----------------------------------------------------------------------------

_INT64 = st.integers(-(2**63), 2**64 - 1)
_TAGS = [
    "fuzz.Ping",
    "fuzz.Value",
    "fuzz.Typed",
    "triomas.Call",
    "triomas.Describe",
    "triomas.CallFailed",
    "triomas.CallRefused",
    "no.such.Tag",
    "",
]
tags = st.sampled_from(_TAGS) | st.text(max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    _INT64,
    st.floats(),
    st.text(max_size=16),
    st.binary(max_size=24),
    st.builds(msgpack.Timestamp, st.integers(-(2**63), 2**63 - 1), st.integers(0, 999_999_999)),
)
keys = (
    st.none() | st.booleans() | _INT64 | st.floats() | st.text(max_size=8) | st.binary(max_size=8)
)


def _extensions(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[msgpack.ExtType]:
    """Extension values: the codec's three (message, UUID, datetime) with any payload,
    msgpack's timestamp, and codes nobody knows."""
    return st.one_of(
        st.builds(msgpack.ExtType, st.sampled_from([1, 2, 3, 0, 4, 127]), st.binary(max_size=32)),
        inner.map(lambda v: msgpack.ExtType(1, _pack(v))),
        st.builds(
            lambda tag, fields: msgpack.ExtType(1, _pack([tag, *fields])),
            tags,
            st.lists(inner, max_size=4),
        ),
        st.binary(min_size=15, max_size=17).map(lambda b: msgpack.ExtType(2, b)),
        (st.floats() | _INT64 | inner).map(lambda v: msgpack.ExtType(3, _pack(v))),
    )


trees: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=4) | _extensions(inner)
    ),
    max_leaves=20,
)


def _chain(depth: int, style: str, leaf: Any) -> msgpack.ExtType:
    """Messages nested ``depth`` deep: bare extensions around an extension (the shape
    that once doubled the decoding work at each level), or values of values."""
    if style == "bare":
        data = _pack(leaf if isinstance(leaf, list) else ["no.such.Tag", leaf])
        for _ in range(depth):
            data = _pack(msgpack.ExtType(1, data))
        return msgpack.ExtType(1, data)
    value = leaf
    for _ in range(depth):
        value = msgpack.ExtType(1, _pack(["fuzz.Value", value]))
    return cast(msgpack.ExtType, value)


chains = st.builds(_chain, st.integers(1, 40), st.sampled_from(["bare", "values"]), trees)
values = trees | chains

_BOMB_HEADERS = [
    b"\xdd\xff\xff\xff\xff",  # array32 of 4 G items
    b"\xdf\xff\xff\xff\xff",  # map32
    b"\xdb\xff\xff\xff\xff",  # str32
    b"\xc6\xff\xff\xff\xff",  # bin32
    b"\xc9\xff\xff\xff\xff\x01",  # ext32
    b"\xdc\xff\xff",  # array16
    b"\xde\xff\xff",  # map16
    b"\xc7\xff\x01",  # ext8
    b"\xd9\xff",  # str8
    b"\xc7\x03\xff",  # a timestamp of 3 bytes
    b"\xd5\xff",  # a timestamp of 2 bytes
    b"\xc1",  # never used
]
bombs = st.builds(
    lambda head, tail: head + tail, st.sampled_from(_BOMB_HEADERS), st.binary(max_size=32)
)
deep = st.one_of(
    st.integers(1, 5000).map(lambda n: b"\x91" * n + b"\xc0"),  # [[[[...]]]]
    st.integers(1, 2000).map(lambda n: b"\x81\xc0" * n + b"\xc0"),  # {nil: {nil: ...}}
    st.integers(1, 2000).map(lambda n: b"\xd4\x01" * n + b"\x01"),  # ext in ext, broken
)
wide = st.sampled_from([16, 4096, 65535, 1 << 20, MAX_FRAME - 5]).map(
    lambda n: b"\xdd" + struct.pack(">I", n) + b"\x90" * n  # n empty arrays, up to 4 MiB
)
payloads = st.one_of(
    trees.map(_pack),
    st.binary(min_size=1, max_size=256),
    bombs,
    deep,
    chains.map(_pack),
)
_bad_deltas = st.sampled_from([1, -1, 9, -5, 4096, 1 << 32, -(1 << 32)])
"""How far a length header is off, when it is."""
deltas = st.just(0) | _bad_deltas
cuts = st.lists(st.integers(0, 1 << 20), max_size=6)
"""Where to cut what is sent into separate writes."""

near_misses = st.sampled_from(
    [
        0,
        1,
        2,
        3,
        4,
        6,
        7,
        -1,
        3.0,
        True,
        False,
        None,
        PROTOCOL,
        "triomaS",
        PROTOCOL.encode(),
        "",
        "tcp://x:1",
        "://",
        "no-scheme",
        "unix:///tmp/x.sock",
        "local://c1",
        "memory://x",
        "tcp://" + "x" * 1020 + ":1",
        b"n" * 16,
        b"n" * 15,
        b"n" * 17,
        b"n" * 65,
        b"",
        "n" * 16,
        63,
        64,
        2**32 - 1,
        2**32,
        2**64 - 1,
        -(2**63),
        float("nan"),
        float("inf"),
        [],
        {},
        [0],
        msgpack.ExtType(1, b"\x91\xa1x"),
        msgpack.ExtType(2, b"u" * 16),
    ]
)
"""Values one step from right, for any field of the protocol."""
field_values = near_misses | values

Mutation = tuple[str, int, Any]
mutations: st.SearchStrategy[list[Mutation]] = st.lists(
    st.tuples(
        st.sampled_from(["set", "del", "insert", "append"]), st.integers(0, 15), field_values
    ),
    max_size=3,
)


def _mutate(items: list[Any], ops: list[Mutation]) -> list[Any]:
    """``items`` with each operation applied (positions taken modulo the length)."""
    out = list(items)
    for op, index, value in ops:
        if op == "set" and out:
            out[index % len(out)] = value
        elif op == "del" and out:
            del out[index % len(out)]
        elif op == "insert":
            out.insert(index % (len(out) + 1), value)
        elif op == "append":
            out.append(value)
    return out


_CODEC = triomas.Codec()
"""For valid bodies, made in the test's thread (the servers use their own codec)."""

_aware = st.datetimes(
    min_value=datetime.datetime(1970, 1, 2),
    max_value=datetime.datetime(3000, 1, 1),
    timezones=st.just(datetime.UTC),
)
typed = st.builds(
    Typed,
    _aware,
    st.lists(st.uuids(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.floats(allow_nan=False), max_size=3),
    st.builds(Point, st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False)),
    st.none() | st.integers(-(2**63), 2**63 - 1),
    st.sampled_from(Colour),
)
bodies = st.one_of(
    st.builds(lambda n: ["fuzz.Ping", n], _INT64 | st.integers(-10, 10)),
    st.builds(lambda v: ["fuzz.Value", v], values),
    typed.map(lambda m: list(_CODEC.dump(m))),
    st.builds(lambda tag, fields: [tag, *fields], tags, st.lists(values, max_size=5)),
    st.lists(values, max_size=3),
)
_opt_text = st.none() | st.text(max_size=8)
_numbers = st.one_of(
    st.none(),
    st.floats(),
    _INT64,
    st.sampled_from([0.0, -1.0, 1e308, float("nan"), float("inf"), float("-inf")]),
)
headers = st.tuples(
    st.sampled_from([None, f"{_CLIENT}/fuzzer"])
    | st.text(min_size=1, max_size=8).map(f"{_CLIENT}/".__add__),
    st.sampled_from(["echo", "echo", "echo", None, "nobody", "echo/x", ""]),  # receiver
    st.sampled_from(["Ping", "Value", "Down"]) | st.text(max_size=8),  # topic
    st.sampled_from([None, "request", "inform", "query-if", "cfp"]) | st.text(max_size=8),
    _opt_text,  # conversation id
    _opt_text,  # reply_with: None for a tell
    _opt_text,  # in_reply_to
    _numbers,  # reply_by
    st.floats() | _INT64,  # sent_at
    st.none() | st.tuples(_opt_text, _opt_text, _opt_text).map(list),  # fipa
)
messages = st.builds(
    lambda header, body, ops: _mutate([Kind.MSG, *header, *body], ops),
    headers,
    bodies,
    st.just([]) | mutations,
)
_error_kinds = st.sampled_from(["down", "failed", "nohandler", "full", "encode", "codec", "error"])
replies = st.builds(
    lambda rid, ok, value, ops: _mutate([Kind.REPLY, rid, ok, value], ops),
    _opt_text | st.integers(0, 10) | trees,
    st.booleans(),
    values | st.builds(lambda k, rest: [k, *rest], _error_kinds, st.lists(values, max_size=5)),
    mutations,
)
interests = st.builds(
    lambda add, topics, ops: _mutate([Kind.INTEREST, add, topics], ops),
    st.booleans() | trees,
    st.lists(st.text(max_size=6) | trees, max_size=6)
    | st.sampled_from([9_999, 10_001, 12_000]).map(lambda n: [f"t{i}" for i in range(n)]),
    mutations,
)
others = st.builds(
    lambda base, ops: _mutate(base, ops),
    st.sampled_from(
        [
            [Kind.ERROR, "bye"],
            [Kind.HELLO, PROTOCOL, VERSION, _CLIENT, b"n" * 16, MAX_FRAME],
            [Kind.PROOF, None],
            [Kind.WELCOME, True, "", None],
            [7],
            [-1],
            [True],
            ["3"],
        ]
    ),
    mutations,
)
post_frames = st.one_of(
    messages.map(_pack),
    messages.map(_pack),
    messages.map(_pack),
    replies.map(_pack),
    interests.map(_pack),
)
"""Frames of the protocol after the handshake, with their fields fuzzed."""
post_garbage = st.one_of(others.map(_pack), payloads, wide)
"""What no peer should send after the handshake."""
first_payloads = st.one_of(
    payloads,
    st.builds(
        lambda kind, rest: _pack([kind, *rest]),
        st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, -1, 255, True, 0.0]),
        st.lists(field_values, max_size=7),
    ),
)
raw_prefixes = st.one_of(
    st.just(b""),
    st.integers(0, 2**32 - 1).map(lambda n: struct.pack(">I", n)),
    st.sampled_from(
        [
            b"\x00\x00\x00\x05",
            b"\x00\x00\x10\x00",
            b"\x00\x00\x10\x01",
            b"\x00\x00\x00\x00",
            b"GET / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03",  # a TLS ClientHello
        ]
    ),
)


# ---- the fuzz tests ------------------------------------------------------------------------

_SOCKETS = pytest.mark.parametrize("target", ["tcp", "unix"])


@_SOCKETS
@fuzz_settings
@given(
    prefix=raw_prefixes,
    chunks=st.lists(st.binary(min_size=1, max_size=128), min_size=1, max_size=8),
    after_handshake=st.booleans(),
)
def test_raw_bytes(
    fuzz: Fuzz, target: str, prefix: bytes, chunks: list[bytes], after_handshake: bool
) -> None:
    with (
        fuzz.example("raw", target, (prefix, chunks, after_handshake)) as server,
        Wire(server.address) as wire,
    ):
        allowed = {Kind.HELLO, Kind.ERROR}
        if after_handshake:
            wire.handshake(server)
            allowed = {Kind.REPLY, Kind.INTEREST, Kind.ERROR, Kind.TICK}
        if wire.send(prefix):
            for chunk in chunks:
                if not wire.send(chunk):
                    break
        _outcome(wire.finish(allowed))


_DEEP = ["fuzz.Value", _chain(40, "values", 1)]
"""A message body holding messages 40 deep (the codec stops at 8)."""
_D2_HELLO = _pack(
    [Kind.HELLO, PROTOCOL, VERSION, _chain(30, "bare", ["no.such.Tag"]), b"n" * 16, MAX_FRAME]
)
"""The review's D2: a HELLO of nested extensions around an unknown tag (once an hour of
decoding at 30 levels)."""


@_SOCKETS
@fuzz_settings
@given(payload=first_payloads, delta=deltas, trailer=st.binary(max_size=64), cut=cuts)
@example(payload=_D2_HELLO, delta=0, trailer=b"", cut=[])
def test_msgpack_trees_before_the_handshake(
    fuzz: Fuzz, target: str, payload: bytes, delta: int, trailer: bytes, cut: list[int]
) -> None:
    with (
        fuzz.example("first-frame", target, (payload, delta, trailer, cut)) as server,
        Wire(server.address) as wire,
    ):
        wire.send(_frame(payload, delta) + trailer, cut)
        items = wire.finish({Kind.HELLO, Kind.ERROR})
        _outcome(items)
        # A stranger never gets in without a HELLO and a PROOF.
        assert not any(item[0] == Kind.WELCOME for item in items)


def _big_ask(i: int) -> bytes:
    header = [f"{_CLIENT}/burst", "echo", "Value", None, None, f"burst-{i}", None, None, 0.0, None]
    return _pack([Kind.MSG, *header, "fuzz.Value", b"x" * 65536])


@_SOCKETS
@fuzz_settings
@given(
    burst=st.sampled_from([0, 0, 0, 0, 0, 0, 0, 8, 64]),
    frames=st.lists(post_frames, max_size=6),
    bad_length=st.none() | st.tuples(st.integers(0, 5), _bad_deltas),
    last=st.none() | post_garbage,
    cut=cuts,
)
@example(  # D2 after the handshake: a value of values 40 deep, then an ask
    burst=0,
    frames=[_pack([Kind.MSG, None, "echo", "V", None, None, "r", None, None, 0.0, None, *_DEEP])],
    bad_length=None,
    last=None,
    cut=[],
)
@example(  # found by this fuzz: a frame that fails to decode and starts with a map
    burst=0, frames=[], bad_length=None, last=b"\x92\x80\xc7\x00\x63", cut=[]
)
@example(  # D3: the writer is busy with big answers when the reader meets a bad frame
    burst=64, frames=[], bad_length=None, last=b"\xc1", cut=[]
)
def test_frames_after_the_handshake(
    fuzz: Fuzz,
    target: str,
    burst: int,
    frames: list[bytes],
    bad_length: tuple[int, int] | None,
    last: bytes | None,
    cut: list[int],
) -> None:
    """Traffic after a real handshake: a burst of big asks (their answers keep the
    server's writer busy), protocol frames with mutations, then maybe garbage."""
    deltas = [0] * len(frames)
    if bad_length is not None and frames:
        deltas[bad_length[0] % len(frames)] = bad_length[1]
    data = b"".join(_frame(_big_ask(i)) for i in range(burst))
    data += b"".join(_frame(payload, delta) for payload, delta in zip(frames, deltas, strict=True))
    if last is not None:
        data += _frame(last)
    with (
        fuzz.example("after-handshake", target, (burst, frames, bad_length, last, cut)) as server,
        Wire(server.address) as wire,
    ):
        wire.handshake(server)
        wire.send(data, cut)
        _outcome(wire.finish({Kind.REPLY, Kind.INTEREST, Kind.ERROR, Kind.TICK}))


# ---- fuzzed handshakes ---------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class HandshakePlan:
    """A dialer's side of a handshake, valid but for what is drawn to go wrong."""

    address: str
    nonce: bytes
    limit: int
    special: str
    """"none", "reflect" (send back the nonce the server gave another connection),
    "own-address" (claim the server's), "proof-first", "hello-twice", "welcome"."""
    hello_field: tuple[int, Any] | None
    """One field of the HELLO replaced by a near miss, before the other mutations."""
    hello: list[Mutation]
    hello_delta: int
    proof: str
    """How the PROOF is made: "valid", "none", "random", "acceptor" (the other role),
    "swapped" (nonces swapped), "other-address", "value"."""
    proof_value: Any
    proof_field: tuple[int, Any] | None
    proof_ops: list[Mutation]
    proof_delta: int
    cut: list[int]


_FAULTS = [
    "hello-field",
    "hello-mutations",
    "hello-length",
    "special",
    "proof",
    "proof-field",
    "proof-mutations",
    "proof-length",
]


@st.composite
def plans(draw: st.DrawFn) -> HandshakePlan:
    """A handshake with a few things wrong (or none): each drawn fault spoils one part,
    so that most plans get past the HELLO and many to the WELCOME."""
    faults = set(draw(st.lists(st.sampled_from(_FAULTS), max_size=3, unique=True)))

    def fault(name: str, strategy: st.SearchStrategy[T], default: T) -> T:
        return draw(strategy) if name in faults else default

    return HandshakePlan(
        address=draw(
            st.sampled_from(
                [_CLIENT, "unix:///tmp/fuzz-client.sock", "tcp://[::1]:9", "memory://fuzz"]
            )
            | st.text(max_size=30).map(f"{_CLIENT}/".__add__)
        ),
        nonce=draw(st.binary(min_size=NONCE_SIZE, max_size=NONCE_SIZE)),
        limit=draw(st.sampled_from([MAX_FRAME, 64, 2**32 - 1]) | st.integers(64, 2**32 - 1)),
        special=fault(
            "special",
            st.sampled_from(["reflect", "own-address", "proof-first", "hello-twice", "welcome"]),
            "none",
        ),
        hello_field=fault("hello-field", st.tuples(st.integers(0, 5), near_misses), None),
        hello=fault("hello-mutations", mutations, []),
        hello_delta=fault("hello-length", _bad_deltas, 0),
        proof=fault(
            "proof",
            st.sampled_from(["none", "random", "acceptor", "swapped", "other-address", "value"]),
            "valid",
        ),
        proof_value=draw(st.binary(min_size=31, max_size=33) | field_values),
        proof_field=fault("proof-field", st.tuples(st.integers(0, 1), near_misses), None),
        proof_ops=fault("proof-mutations", mutations, []),
        proof_delta=fault("proof-length", _bad_deltas, 0),
        cut=draw(cuts),
    )


def _seen(payload: bytes) -> list[Any]:
    """A handshake frame as the server decodes it (plain ints, lists, extensions)."""
    return cast(list[Any], msgpack.unpackb(payload, raw=False, strict_map_key=False))


def _hello_problem(item: list[Any], server: Server, reflected: bytes | None) -> str | None:
    """Why the spec refuses this HELLO (as the server sees it), or None if it is good."""
    if len(item) not in (6, 7) or type(item[0]) is not int or item[0] != Kind.HELLO:
        return "not a HELLO"
    _, name, version, address, nonce, limit = item[:6]
    beat = item[6] if len(item) == 7 else 0
    if type(name) is not str or name != PROTOCOL:
        return "not triomas"
    if type(version) is not int or version != VERSION:
        return f"version: {version!r:.20}"
    if type(address) is not str or "://" not in address or len(address.encode()) > 1024:
        return "bad address"
    if address == server.address:
        return "the server's own address"
    if address.startswith("local://"):
        return "a local:// address"  # it would pose as a container of the server's process
    if address.partition("://")[0] not in _SCHEMES:
        return "an address no network reaches"
    if type(nonce) is not bytes or len(nonce) != NONCE_SIZE:
        return "bad nonce"
    if nonce == reflected:
        return "a reflected nonce"
    if type(limit) is not int or not 64 <= limit < 2**32:
        return "bad frame limit"
    if type(beat) is not int or not 0 <= beat < 2**31:
        return "bad heartbeat"
    return None


_SECURITY = {"the server's own address", "a reflected nonce", "a local:// address"}
"""Refusals the issue demands: accepting such a HELLO is a failure, not a laxness."""


def _proof_item(plan: HandshakePlan, hello: list[Any], server: Server, theirs: bytes) -> Any:
    address = hello[3] if isinstance(hello[3], str) else _CLIENT
    nonce = hello[4] if isinstance(hello[4], bytes) else plan.nonce
    secret = server.secret if server.secret is not None else b"no secret here"
    made: dict[str, Any] = {
        "valid": proof(server.secret, "dialer", nonce, theirs, address, server.address),
        "none": None,
        "random": os.urandom(32),
        "acceptor": proof(secret, "acceptor", nonce, theirs, address, server.address),
        "swapped": proof(secret, "dialer", theirs, nonce, address, server.address),
        "other-address": proof(secret, "dialer", nonce, theirs, _REFLECTOR, server.address),
        "value": plan.proof_value,
    }
    return made[plan.proof]


def _proof_right(item: list[Any], server: Server, hello: list[Any], theirs: bytes) -> bool:
    if len(item) != 2 or type(item[0]) is not int or item[0] != Kind.PROOF:
        return False
    return proof_ok(server.secret, "dialer", hello[4], theirs, hello[3], server.address, item[1])


def _send_frame(wire: Wire, payload: bytes, delta: int, cut: list[int]) -> bool:
    """Send one handshake frame; True if the server must answer it (it is whole, or
    its header alone is already refused)."""
    length = _length(payload, delta)
    wire.send(_frame(payload, delta), cut)
    return length == 0 or length > _HANDSHAKE_LIMIT or length <= len(payload)


def _reflect_nonce(server: Server) -> tuple[Wire, bytes]:
    """Open a connection that stops halfway, holding a nonce of the server's."""
    other = Wire(server.address)
    try:
        nonce = os.urandom(NONCE_SIZE)
        hello = [Kind.HELLO, PROTOCOL, VERSION, _REFLECTOR, nonce, MAX_FRAME]
        other.send(_frame(_pack(hello)))
        answer = other.item()
        assert answer is not None, "the server closed instead of answering a good HELLO"
        _check_server_hello(answer, server, nonce)
        return other, answer[4]
    except BaseException:
        other.sock.close()
        raise


@pytest.mark.parametrize("target", ["tcp", "unix", "secret"])
@fuzz_settings
@given(plan=plans())
def test_fuzzed_handshakes(fuzz: Fuzz, target: str, plan: HandshakePlan) -> None:
    with contextlib.ExitStack() as stack:
        server = stack.enter_context(fuzz.example("handshake", target, plan))
        reflected: bytes | None = None
        if plan.special == "reflect":
            other, reflected = _reflect_nonce(server)
            stack.callback(other.sock.close)
            stack.callback(other.finish, {Kind.ERROR})
        wire = stack.enter_context(Wire(server.address))
        address = server.address if plan.special == "own-address" else plan.address
        nonce = reflected if reflected is not None else plan.nonce
        base: list[Any] = [Kind.HELLO, PROTOCOL, VERSION, address, nonce, plan.limit]
        if plan.special == "proof-first":
            base = [Kind.PROOF, None]
        if plan.hello_field is not None:
            base[plan.hello_field[0] % len(base)] = plan.hello_field[1]
        payload = _pack(_mutate(base, plan.hello))
        hello = _seen(payload)
        problem = _hello_problem(hello, server, reflected)
        if len(payload) > _HANDSHAKE_LIMIT:
            problem = "over the handshake frame limit"
        elif plan.hello_delta:
            problem = "a bad length header"
        if not _send_frame(wire, payload, plan.hello_delta, plan.cut):
            event("HELLO cut short")
            wire.finish({Kind.ERROR})  # the server waits for the rest, then sees the end
            return
        answer = wire.item()
        if answer is None or answer[0] == Kind.ERROR:
            event(f"HELLO refused: {(problem or 'a good one').partition(':')[0]}")
            if problem is None:
                fuzz.note(f"a good HELLO refused: {answer!r:.100}")
            wire.finish({Kind.ERROR})
            return
        _check_server_hello(answer, server, nonce)
        if problem is not None:
            event(f"HELLO accepted: {problem.partition(':')[0]}")
            if problem in _SECURITY:
                raise AssertionError(f"the server answered a HELLO with {problem}: {hello!r:.300}")
            fuzz.note(f"HELLO accepted with {problem}")
        theirs = answer[4]
        second: list[Any]
        if plan.special == "hello-twice":
            second = [Kind.HELLO, PROTOCOL, VERSION, address, nonce, plan.limit]
        elif plan.special == "welcome":
            second = [Kind.WELCOME, True, "", None]
        else:
            second = [Kind.PROOF, _proof_item(plan, hello, server, theirs)]
        if plan.proof_field is not None:
            second[plan.proof_field[0] % len(second)] = plan.proof_field[1]
        payload = _pack(_mutate(second, plan.proof_ops))
        second = _seen(payload)
        right = _proof_right(second, server, hello, theirs) and not plan.proof_delta
        if not _send_frame(wire, payload, plan.proof_delta, plan.cut):
            event("PROOF cut short")
            wire.finish({Kind.ERROR})
            return
        welcome = wire.item()
        if welcome is None or welcome[0] == Kind.ERROR:
            event(f"PROOF refused ({'a right one' if right else 'a wrong one'})")
            if right:
                fuzz.note(f"a right PROOF refused: {welcome!r:.100}")
            wire.finish({Kind.ERROR})
            return
        assert welcome[0] == Kind.WELCOME, f"expected WELCOME or ERROR, got {welcome}"
        assert len(welcome) == 4, welcome
        event(f"WELCOME {welcome[1]!r}")
        if welcome[1] is True:
            assert right, f"accepted with a wrong PROOF: {second!r:.300}"
            assert proof_ok(
                server.secret, "acceptor", hello[4], theirs, hello[3], server.address, welcome[3]
            ), f"the server's proof is wrong: {welcome}"
        else:
            fuzz.note(f"declined: {welcome!r:.100}")
        wire.finish({Kind.INTEREST, Kind.ERROR, Kind.REPLY, Kind.TICK})

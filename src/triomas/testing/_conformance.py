"""Conformance suites other implementations reuse: ``check_engine`` and ``check_transport``.

Like trio's ``check_*_stream``, each runs a fixed set of behaviour cases against what a
factory makes, and fails with :exc:`AssertionError` naming the case. ``check_engine``
runs against a container factory (a real or a virtual clock, or a scheduler of your
own); ``check_transport`` against a source of container addresses (``tcp://``,
``unix://``, ``memory://``, or a transport of your own once it is registered).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TypeVar

import trio

from .._agent.agent import Agent
from .._agent.handlers import on
from .._agent.rpc import expose
from .._messages.errors import AskTimeout, CalleeDown, NoHandler, RemoteError
from .._messages.events import Failure, Shutdown
from .._messages.message import message
from .._messages.ref import AgentRef
from .._runtime.container import Container

E = TypeVar("E", bound=BaseException)

ContainerFactory = Callable[[], AbstractAsyncContextManager[Container]]
"""Opens one container (``lambda: triomas.open_container(clock=...)``)."""

__all__ = ["ContainerFactory", "check_engine", "check_transport"]


@message(tag="triomas.testing.Probe")
class _Probe:
    n: int


@message(tag="triomas.testing.Slow")
class _Slow:
    n: int
    delay: float


@message(tag="triomas.testing.Boom")
class _Boom:
    pass


@message(tag="triomas.testing.Unhandled")
class _Unhandled:
    pass


@message(tag="triomas.testing.Tick")
class _Tick:
    label: str


class _Echo(Agent):
    """Answers a probe with n + 1, a slow probe after sleeping, and crashes on Boom."""

    def __init__(self) -> None:
        self.seen: list[int] = []

    @on(_Probe)
    def probe(self, msg: _Probe) -> int:
        self.seen.append(msg.n)
        return msg.n + 1

    @on(_Slow)
    async def slow(self, msg: _Slow) -> int:
        await self.sleep(msg.delay)
        return msg.n + 1

    @on(_Boom)
    def boom(self, msg: _Boom) -> None:
        raise ValueError("boom, on purpose")

    @expose
    def add(self, a: int, b: int) -> int:
        """Exposed over RPC."""
        return a + b


class _Life(Agent):
    """Records its lifecycle in a shared list."""

    def __init__(self, log: list[str], label: str) -> None:
        self.log = log
        self.label = label

    async def setup(self) -> None:
        await self.sleep(0)
        self.log.append(f"{self.label}:setup")

    @on(_Probe)
    def probe(self, msg: _Probe) -> int:
        self.log.append(f"{self.label}:probe {msg.n}")
        return msg.n

    def teardown(self) -> None:
        self.log.append(f"{self.label}:teardown {self.exit_reason}")


class _Alarms(Agent):
    """Sets alarms in setup and records when each arrives."""

    def __init__(self, log: list[tuple[str, float]]) -> None:
        self.log = log

    def setup(self) -> None:
        self.set_alarm(_Tick("late"), after=0.03)
        self.set_alarm(_Tick("early"), at=0.01)
        self.set_alarm(_Tick("cleared"), after=0.02, topic="cleared")
        self.clear_alarms(topic="cleared")

    @on(_Tick)
    def tick(self, msg: _Tick) -> None:
        self.log.append((msg.label, self.clock.now()))


async def _raised(call: Awaitable[object], kind: type[E]) -> E | None:
    """The ``kind`` exception ``call`` raised, or None if it returned."""
    try:
        await call
    except kind as exc:
        return exc
    return None


async def _case_lifecycle(c: Container) -> None:
    log: list[str] = []
    ref = await c.start(_Life, log, "a", name="life")
    assert log == ["a:setup"], f"start() returns after setup(): {log}"
    assert await c.ask(ref, _Probe(1)) == 1
    await c.remove(ref)
    assert log == ["a:setup", "a:probe 1", "a:teardown shutdown(removed)"], log
    assert c.lookup("life") is None, "a removed agent leaves the registry"


async def _case_ask(c: Container) -> None:
    echo = await c.spawn(_Echo, name="echo")
    assert await c.ask(echo, _Probe(1)) == 2, "ask by reference"
    assert await c.ask("echo", _Probe(2)) == 3, "ask by name"
    assert await c.ask(echo, _Slow(3, 0.01)) == 4, "ask to a handler that awaits"
    try:
        await c.ask("nobody", _Probe(0))
    except CalleeDown:
        pass
    else:
        raise AssertionError("an ask to nobody raises CalleeDown")
    try:
        await c.ask(echo, _Unhandled())
    except NoHandler:
        pass
    else:
        raise AssertionError("an ask without a handler raises NoHandler")
    # last: the callee stays busy with this one until it is done
    late = await _raised(c.ask(echo, _Slow(0, 10.0), timeout=0.05), AskTimeout)
    assert late is not None, "an ask that gets no answer in time raises AskTimeout"


async def _case_crash_and_restart(c: Container) -> None:
    echo = await c.spawn(_Echo, name="echo")
    crash = await _raised(c.ask(echo, _Boom()), CalleeDown)
    assert crash is not None, "a crash in the handler raises CalleeDown"
    assert isinstance(crash.reason, Failure), crash.reason
    assert await c.ask(echo, _Probe(5)) == 6, "a transient agent is restarted after a crash"


async def _case_fifo(c: Container) -> None:
    echo = await c.spawn(_Echo, name="echo")
    for n in range(100):
        c.send(echo, _Probe(n))
    await c.ask(echo, _Probe(100))
    assert c.agent(echo, _Echo).seen == list(range(101)), "tells arrive in the order sent"


async def _case_alarms(c: Container) -> None:
    log: list[tuple[str, float]] = []
    await c.spawn(_Alarms, log)
    await c.run(seconds=0.05)
    labels = [label for label, _ in log]
    assert labels == ["early", "late"], f"alarms arrive in time order, cleared ones never: {log}"
    early, late = (when for _, when in log)
    assert early >= 0.01 - 1e-9, log
    assert late >= 0.03 - 1e-9, log


async def _case_shutdown_order(c: Container) -> None:
    log: list[str] = []
    for label in ("a", "b", "c"):
        await c.start(_Life, log, label, name=label)
    log.clear()
    await c.stop()
    reason = Shutdown("container stopped")
    expected = [f"{label}:teardown {reason}" for label in ("c", "b", "a")]
    assert log == expected, f"stop() tears down in reverse spawn order: {log}"


_ENGINE_CASES: tuple[Callable[[Container], Awaitable[None]], ...] = (
    _case_lifecycle,
    _case_ask,
    _case_crash_and_restart,
    _case_fifo,
    _case_alarms,
    _case_shutdown_order,
)


async def check_engine(open_container: ContainerFactory, *, timeout: float = 30.0) -> None:
    """Run the engine cases (lifecycle, asks, crash and restart, FIFO order, alarms,
    ordered shutdown), each in a fresh container from ``open_container``.

    In real time, run it under an autojump clock (pytest-trio's ``autojump_clock``):
    the cases sleep and set alarms in clock time. ``timeout`` bounds each case in
    trio time.
    """
    for case in _ENGINE_CASES:
        with trio.fail_after(timeout):
            async with open_container() as container:
                try:
                    await case(container)
                except AssertionError as exc:
                    raise AssertionError(f"check_engine, {case.__name__[6:]}: {exc}") from exc


@asynccontextmanager
async def _pair(open_container: ContainerFactory) -> AsyncIterator[tuple[Container, Container]]:
    async with open_container() as a, open_container() as b:
        yield a, b


async def _net_ask(a: Container, b: Container) -> None:
    echo = await b.spawn(_Echo, name="echo")
    assert await a.ask(echo, _Probe(1)) == 2, "an ask by reference crosses"
    assert await a.ask(f"{b.address}/echo", _Probe(2)) == 3, "an ask by address crosses"
    assert await a.ask(echo, _Slow(3, 0)) == 4, "an ask to a handler that awaits crosses"


async def _net_fifo(a: Container, b: Container) -> None:
    echo = await b.spawn(_Echo, name="echo")
    for n in range(200):
        a.send(echo, _Probe(n))
    await a.ask(echo, _Probe(200))
    assert b.agent(echo, _Echo).seen == list(range(201)), "tells cross in the order sent"


async def _net_errors(a: Container, b: Container) -> None:
    echo = await b.spawn(_Echo, name="echo")
    try:
        await a.ask(f"{b.address}/nobody", _Probe(0))
    except CalleeDown:
        pass
    else:
        raise AssertionError("an ask to nobody over the network raises CalleeDown")
    crash = await _raised(a.ask(echo, _Boom()), CalleeDown)
    assert crash is not None, "a crash over the network raises CalleeDown"
    assert isinstance(crash.reason, Failure), crash.reason
    cause = crash.__cause__
    assert isinstance(cause, RemoteError), f"the cause is a RemoteError, not {cause!r}"
    assert cause.type_name == "ValueError", cause
    assert await a.ask(echo, _Probe(1)) == 2, "the callee was restarted"


async def _net_rpc(a: Container, b: Container) -> None:
    echo = await b.spawn(_Echo, name="echo")
    proxy = await a.connect(AgentRef(b.address, echo.name))
    assert await proxy.add(2, 3) == 5, "an exposed method answers over the network"


async def _net_both_ways(a: Container, b: Container) -> None:
    one = await a.spawn(_Echo, name="one")
    two = await b.spawn(_Echo, name="two")
    assert await a.ask(two, _Probe(1)) == 2
    assert await b.ask(one, _Probe(2)) == 3, "the other side asks back"


_TRANSPORT_CASES: tuple[Callable[[Container, Container], Awaitable[None]], ...] = (
    _net_ask,
    _net_fifo,
    _net_errors,
    _net_rpc,
    _net_both_ways,
)


async def check_transport(open_container: ContainerFactory, *, timeout: float = 30.0) -> None:
    """Run the transport cases (asks by reference and by address, FIFO tells, errors
    and restarts, RPC, both directions), each between two fresh containers from
    ``open_container``, which opens one listening container per call
    (``lambda: triomas.open_container("tcp://127.0.0.1:0")``; a fresh unix path each
    time; a transport of your own). ``timeout`` bounds each case in trio time.
    """
    for case in _TRANSPORT_CASES:
        with trio.fail_after(timeout):
            async with _pair(open_container) as (a, b):
                try:
                    await case(a, b)
                except AssertionError as exc:
                    raise AssertionError(f"check_transport, {case.__name__[5:]}: {exc}") from exc

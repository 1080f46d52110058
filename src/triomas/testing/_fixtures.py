"""What the pytest fixtures open, as plain async functions over an exit stack: the
plugin wraps them for pytest-trio, or runs them itself when pytest-trio is absent."""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, final

import trio

from .._net.virtual import SimNetwork
from .._node import Node, spawn_container
from .._open import open_container
from .._time.clock import RealClock, VirtualClock

if TYPE_CHECKING:
    from .._runtime.container import Container
    from ._trace import TraceRecorder


async def open_test_container(
    stack: AsyncExitStack, clock: VirtualClock, seed: int, trace: TraceRecorder
) -> Container:
    """``triomas_container``: a container on the test's virtual clock, seeded, traced."""
    return await stack.enter_async_context(open_container(clock=clock, seed=seed, trace=trace))


@final
class TestNetwork:
    """``triomas_network``: ``await triomas_network(3, latency=0.01, loss=0.0)`` opens
    that many ``local://`` containers on one :class:`SimNetwork`, on the test's virtual
    clock; :meth:`cut`, :meth:`heal` and :meth:`delay` act between two of them."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(
        self, nursery: trio.Nursery, clock: VirtualClock, seed: int, trace: TraceRecorder
    ) -> None:
        # Each container is opened, and closed, by a task of the fixture's nursery: the
        # test's task calls the factory, but cannot own what outlives its call.
        self._nursery = nursery
        self._done = trio.Event()
        self._clock = clock
        self._seed = seed
        self._trace = trace
        self.networks: list[SimNetwork] = []
        """The simulated networks made, one per call."""
        self.containers: list[Container] = []
        """Every container opened, in order."""

    async def __call__(
        self, n: int = 2, *, latency: float | tuple[float, float] = 0.0, loss: float = 0.0
    ) -> list[Container]:
        """Open ``n`` containers on a new simulated network."""
        network = SimNetwork(latency=latency, loss=loss, seed=self._seed)
        self.networks.append(network)
        opened = []
        for _ in range(n):
            name = f"local://net{len(self.containers) + 1}"
            container: Container = await self._nursery.start(self._hold, name, network)
            self.containers.append(container)
            opened.append(container)
        return opened

    async def _hold(
        self,
        name: str,
        network: SimNetwork,
        *,
        task_status: trio.TaskStatus[Container] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        async with open_container(
            name, clock=self._clock, seed=self._seed, trace=self._trace, network=network
        ) as container:
            task_status.started(container)
            await self._done.wait()

    def close(self) -> None:
        """Close the containers (the fixture does, at the end of the test)."""
        self._done.set()

    def cut(self, a: Container | str, b: Container | str) -> None:
        """What ``a`` and ``b`` send each other is lost from now on (a partition)."""
        for network in self.networks:
            network.cut(a, b)

    def heal(self, a: Container | str, b: Container | str) -> None:
        """Undo :meth:`cut`."""
        for network in self.networks:
            network.heal(a, b)

    def delay(self, a: Container | str, b: Container | str, seconds: float) -> None:
        """Add ``seconds`` of latency between ``a`` and ``b``, both ways."""
        for network in self.networks:
            network.delay(a, b, seconds)


async def open_tcp_pair(
    stack: AsyncExitStack, seed: int, trace: TraceRecorder
) -> tuple[Container, Container]:
    """``triomas_tcp_pair``: two real-time containers on ``tcp://127.0.0.1:0``."""
    a = await stack.enter_async_context(
        open_container("tcp://127.0.0.1:0", clock=RealClock(), seed=seed, trace=trace)
    )
    b = await stack.enter_async_context(
        open_container("tcp://127.0.0.1:0", clock=RealClock(), seed=seed, trace=trace)
    )
    return a, b


async def open_node(stack: AsyncExitStack, seed: int) -> Node:
    """``triomas_node``: a container in a child process, reached from a real-time
    ``tcp://127.0.0.1:0`` container of this one; stopped, and its process reaped,
    whatever the test does."""
    home = await stack.enter_async_context(
        open_container("tcp://127.0.0.1:0", clock=RealClock(), seed=seed)
    )
    node = await spawn_container(home)

    async def reap() -> None:
        with trio.CancelScope(shield=True):
            try:
                with trio.move_on_after(10):
                    await node.stop()
            finally:
                if node.process.returncode is None:
                    node.process.kill()
                    with trio.move_on_after(math.inf):
                        await node.process.wait()

    stack.push_async_callback(reap)
    return node


class Lazy:
    """A fixture value opened inside the test's trio run (no pytest-trio): ``open`` gets
    the run's exit stack and a function that opens the other lazy values it needs."""

    __slots__ = ("open",)

    def __init__(self, open: Callable[[AsyncExitStack, Callable[[Any], Any]], Any]) -> None:
        self.open = open

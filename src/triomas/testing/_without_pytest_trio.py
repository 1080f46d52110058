"""The plugin's trio fixtures when pytest-trio is absent: each is a :class:`Lazy` value
that the plugin opens inside the test's own trio run."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

import pytest
import trio

from ._fixtures import Lazy, TestNetwork, open_node, open_tcp_pair, open_test_container

if TYPE_CHECKING:
    from .._time.clock import VirtualClock
    from ._trace import TraceRecorder

Resolve = Callable[[Any], Any]


@pytest.fixture
def triomas_container(
    triomas_clock: VirtualClock, triomas_seed: int, triomas_trace: TraceRecorder
) -> Lazy:
    """An open container on the test's virtual clock, seeded, with its trace recorded."""

    async def open_it(stack: AsyncExitStack, resolve: Resolve) -> Any:
        return await open_test_container(stack, triomas_clock, triomas_seed, triomas_trace)

    return Lazy(open_it)


@pytest.fixture
def triomas_probe(triomas_container: Lazy) -> Lazy:
    """A probe agent, ``"probe"``, in ``triomas_container``."""

    async def open_it(stack: AsyncExitStack, resolve: Resolve) -> Any:
        container = await resolve(triomas_container)
        return await container.spawn_probe("probe")

    return Lazy(open_it)


@pytest.fixture
def triomas_network(
    triomas_clock: VirtualClock, triomas_seed: int, triomas_trace: TraceRecorder
) -> Lazy:
    """A factory of ``local://`` containers on simulated networks (see :class:`TestNetwork`)."""

    async def open_it(stack: AsyncExitStack, resolve: Resolve) -> Any:
        nursery = await stack.enter_async_context(trio.open_nursery())
        network = TestNetwork(nursery, triomas_clock, triomas_seed, triomas_trace)
        stack.callback(network.close)
        return network

    return Lazy(open_it)


@pytest.fixture
def triomas_tcp_pair(triomas_seed: int, triomas_trace: TraceRecorder) -> Lazy:
    """Two real-time containers on ``tcp://127.0.0.1:0``."""

    async def open_it(stack: AsyncExitStack, resolve: Resolve) -> Any:
        return await open_tcp_pair(stack, triomas_seed, triomas_trace)

    return Lazy(open_it)


@pytest.fixture
def triomas_node(triomas_seed: int) -> Lazy:
    """A container in a child process; stopped, with no zombie, whatever the test does."""

    async def open_it(stack: AsyncExitStack, resolve: Resolve) -> Any:
        return await open_node(stack, triomas_seed)

    return Lazy(open_it)

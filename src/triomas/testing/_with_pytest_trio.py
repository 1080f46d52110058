"""The plugin's trio fixtures as pytest-trio fixtures (registered when it is installed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

import pytest
import trio

from ._fixtures import TestNetwork, open_node, open_tcp_pair, open_test_container

if TYPE_CHECKING:
    from .._node import Node
    from .._runtime.container import Container
    from .._runtime.probe import Probe
    from .._time.clock import VirtualClock
    from ._trace import TraceRecorder


@pytest.fixture
async def triomas_container(
    triomas_clock: VirtualClock, triomas_seed: int, triomas_trace: TraceRecorder
) -> AsyncIterator[Container]:
    """An open container on the test's virtual clock, seeded, with its trace recorded."""
    async with AsyncExitStack() as stack:
        yield await open_test_container(stack, triomas_clock, triomas_seed, triomas_trace)


@pytest.fixture
async def triomas_probe(triomas_container: Container) -> Probe:
    """A probe agent, ``"probe"``, in ``triomas_container``."""
    return await triomas_container.spawn_probe("probe")


@pytest.fixture
async def triomas_network(
    triomas_clock: VirtualClock, triomas_seed: int, triomas_trace: TraceRecorder
) -> AsyncIterator[TestNetwork]:
    """A factory of ``local://`` containers on simulated networks (see :class:`TestNetwork`)."""
    async with trio.open_nursery() as nursery:
        network = TestNetwork(nursery, triomas_clock, triomas_seed, triomas_trace)
        try:
            yield network
        finally:
            network.close()


@pytest.fixture
async def triomas_tcp_pair(
    triomas_seed: int, triomas_trace: TraceRecorder
) -> AsyncIterator[tuple[Container, Container]]:
    """Two real-time containers on ``tcp://127.0.0.1:0``."""
    async with AsyncExitStack() as stack:
        yield await open_tcp_pair(stack, triomas_seed, triomas_trace)


@pytest.fixture
async def triomas_node(triomas_seed: int) -> AsyncIterator[Node]:
    """A container in a child process; stopped, with no zombie, whatever the test does."""
    async with AsyncExitStack() as stack:
        yield await open_node(stack, triomas_seed)

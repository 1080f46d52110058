"""The BDI tests' containers: each behaviour test runs traced and untraced.

A BDI agent takes its fast paths (an event selected at once with no ``Event`` made, a
plan run with no ``Intention`` made) only when nothing traces it, and the suite's
containers trace; so every test that takes ``both`` and does not read the trace also
runs in an untraced container of each scheduler.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

import triomas
from triomas.testing import TraceRecorder


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "both" in metafunc.fixturenames:
        # the test's own arguments: the fixture below takes the recorder in any case
        asked = inspect.signature(metafunc.function).parameters
        reads_trace = {"recorder", "triomas_trace"} & set(asked)
        kinds = ["virtual", "live"]
        if not reads_trace:
            kinds += ["virtual-untraced", "live-untraced"]
        metafunc.parametrize("both", kinds, indirect=True)


@pytest.fixture
async def both(
    request: pytest.FixtureRequest,
    triomas_trace: TraceRecorder,
    triomas_seed: int,
    autojump_clock: object,
) -> AsyncIterator[triomas.Container]:
    """A container in each scheduler (as the suite's ``both``), traced or not."""
    kind, _, untraced = request.param.partition("-")
    if kind == "live":
        assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock), (
            "a test that takes `both` must also take `autojump_clock`"
        )
    clock = triomas.VirtualClock() if kind == "virtual" else triomas.RealClock()
    async with triomas.open_container(
        clock=clock, seed=triomas_seed, trace=None if untraced else triomas_trace
    ) as container:
        yield container

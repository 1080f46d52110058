"""Shared fixtures: containers in virtual time or in both schedulers, trace recording,
and container addresses of every transport."""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import trio
import trio.testing
from hypothesis import settings

import triomas
from triomas.testing import TraceRecorder

# In CI, property tests use a fixed sequence of examples, so a run is repeatable;
# locally they keep exploring.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


# The containers come from triomas's own pytest plugin (triomas.testing): the suite
# tests it as its users use it. These two names are the suite's older spellings.


@pytest.fixture
def recorder(triomas_trace: TraceRecorder) -> TraceRecorder:
    """The test's trace recorder (the plugin's ``triomas_trace``)."""
    return triomas_trace


@pytest.fixture
def vc(triomas_container: triomas.Container) -> triomas.Container:
    """A container in virtual time, seed 1, traced into ``recorder`` (the plugin's
    ``triomas_container``). For the tests that only virtual time can express: delivery
    rounds (``iterations=``), exact clock times, byte-identical traces. Every other
    behaviour test takes ``both``."""
    return triomas_container


@pytest.fixture(params=["virtual", "live"])
async def both(
    request: pytest.FixtureRequest,
    triomas_trace: TraceRecorder,
    triomas_seed: int,
    autojump_clock: object,
) -> AsyncIterator[triomas.Container]:
    """A container in each scheduler: virtual time, then real time on trio's autojump
    clock (clock time passes only while everything waits, so nothing sleeps for real;
    the test itself must take ``autojump_clock``).
    Behaviour tests take this one, so that both engines keep the same behaviour.
    Marked ``untraced`` (see :func:`pytest_generate_tests`), a test also gets each
    scheduler's container with no trace recorder."""
    kind, _, untraced = request.param.partition("-")
    if kind == "live":
        # pytest-trio takes its clock from the test's own arguments only: a test that
        # takes ``both`` takes ``autojump_clock`` too, or its live run sleeps for real.
        assert isinstance(trio.lowlevel.current_clock(), trio.testing.MockClock), (
            "a test that takes `both` must also take `autojump_clock`"
        )
    clock = triomas.VirtualClock() if kind == "virtual" else triomas.RealClock()
    async with triomas.open_container(
        clock=clock, seed=triomas_seed, trace=None if untraced else triomas_trace
    ) as container:
        yield container


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "untraced: the tests that take `both` also run in untraced containers "
        "(where the BDI layer takes its fast paths)",
    )


@pytest.hookimpl(tryfirst=True)  # before pytest reads the parametrize marks
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``both`` for a test marked ``untraced``: also each scheduler with no trace recorder,
    unless the test reads the trace. A BDI agent takes its fast paths (an event selected
    at once with no ``Event`` made, a plan run with no ``Intention`` made) only when
    nothing traces it, and ``both`` traces."""
    if (
        "both" not in metafunc.fixturenames
        or metafunc.definition.get_closest_marker("untraced") is None
    ):
        return
    # the test's own arguments: ``both`` itself takes the recorder in any case
    reads_trace = {"recorder", "triomas_trace"} & set(
        inspect.signature(metafunc.function).parameters
    )
    kinds = ["virtual", "live"]
    if not reads_trace:
        kinds += ["virtual-untraced", "live-untraced"]
    # as a mark, which pytest applies, and which stops the fixture's own params
    metafunc.definition.add_marker(pytest.mark.parametrize("both", kinds, indirect=True))


Addresses = Callable[[], str]
"""Makes a fresh container address of one transport on each call."""


@pytest.fixture(params=["tcp", "unix", "memory"])
def addresses(request: pytest.FixtureRequest, tmp_path: Path) -> Addresses:
    """Container addresses for TCP (port 0), unix sockets (in a temp dir) and memory."""
    counter = iter(range(1000))

    def make() -> str:
        n = next(counter)
        if request.param == "tcp":
            return "tcp://127.0.0.1:0"
        if request.param == "unix":
            return f"unix://{tmp_path}/c{n}.sock"
        return f"memory://{tmp_path.name}-{n}"

    return make

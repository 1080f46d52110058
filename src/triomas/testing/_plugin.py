"""The pytest plugin ``pip install triomas`` registers (entry point ``pytest11``).

Options: ``--triomas-seed N`` (default 1), ``--triomas-time-factor F`` (real-time
budgets of the probe, for slow machines), ``--triomas-trace-dir DIR`` (where a failing
test's trace goes; default ``.triomas-traces`` under the rootdir).

Fixtures: ``triomas_seed``, ``triomas_clock``, ``triomas_trace``, ``triomas_container``,
``triomas_probe``, ``triomas_network``, ``triomas_tcp_pair`` and ``triomas_node``. With
pytest-trio installed they are pytest-trio fixtures (its ``trio_mode``, or
``@pytest.mark.trio``; async tests that use them are marked for it). Without it, this
plugin runs the ``async def`` tests that use them (or are marked ``triomas``) itself, each
in a trio run of its own.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Generator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest
import trio

from .._runtime import probe as _probe
from .._time.clock import VirtualClock
from ._diagram import mermaid, trace_json_lines
from ._fixtures import Lazy, TestNetwork, open_node, open_tcp_pair, open_test_container
from ._trace import TraceRecorder

_NAMES = frozenset(
    {
        "triomas_container",
        "triomas_probe",
        "triomas_network",
        "triomas_tcp_pair",
        "triomas_node",
    }
)
"""The fixtures that need a trio run."""


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("triomas", "triomas testing")
    group.addoption(
        "--triomas-seed",
        type=int,
        default=1,
        help="the seed of the triomas fixtures' containers (default 1); a failing test "
        "prints it, to replay the run exactly",
    )
    group.addoption(
        "--triomas-time-factor",
        type=float,
        default=1.0,
        help="multiply the probe's real-time budgets by this (slow CI machines)",
    )
    group.addoption(
        "--triomas-trace-dir",
        default=None,
        help="where the trace of a failing test goes, as JSON lines and a Mermaid "
        "diagram (default: .triomas-traces under the rootdir)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "triomas: run this async test in a trio run of the triomas plugin"
    )
    _probe.TIME_FACTOR = config.getoption("triomas_time_factor")
    if config.pluginmanager.hasplugin("trio"):
        from . import _with_pytest_trio as fixtures
    else:
        from . import _without_pytest_trio as fixtures  # type: ignore[no-redef]
    config.pluginmanager.register(fixtures, "triomas-fixtures")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.pluginmanager.hasplugin("trio"):
        return
    for item in items:
        names = getattr(item, "fixturenames", ())
        if (
            isinstance(item, pytest.Function)
            and inspect.iscoroutinefunction(item.obj)
            and _NAMES.intersection(names)
            and item.get_closest_marker("trio") is None
        ):
            item.add_marker(pytest.mark.trio)


# ---- the fixtures both ways share ---------------------------------------------------------


@pytest.fixture
def triomas_seed(request: pytest.FixtureRequest) -> int:
    """The seed of the fixtures' containers: ``--triomas-seed`` (default 1)."""
    seed: int = request.config.getoption("triomas_seed")
    return seed


@pytest.fixture
def triomas_clock() -> VirtualClock:
    """The test's virtual clock, shared by ``triomas_container`` and ``triomas_network``."""
    return VirtualClock()


@pytest.fixture
def triomas_trace() -> TraceRecorder:
    """The trace of the test's containers; written out if the test fails."""
    return TraceRecorder()


# ---- a failing test's trace ---------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    funcargs = getattr(item, "funcargs", {})
    trace = funcargs.get("triomas_trace")
    if report.failed and call.when == "call" and isinstance(trace, TraceRecorder):
        seed = funcargs.get("triomas_seed", item.config.getoption("triomas_seed"))
        where = _write_trace(item, trace)
        report.sections.append(
            (
                "triomas",
                f"seed {seed}: replay with --triomas-seed {seed}\n"
                f"trace: {where}.jsonl ({len(trace.records)} records), diagram: {where}.mmd",
            )
        )
    return report


def _write_trace(item: pytest.Item, trace: TraceRecorder) -> Path:
    option = item.config.getoption("triomas_trace_dir")
    folder = Path(option) if option else item.config.rootpath / ".triomas-traces"
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / re.sub(r"[^A-Za-z0-9_-]+", "_", item.nodeid)[-150:]
    Path(f"{stem}.jsonl").write_text(trace_json_lines(trace.records), encoding="utf-8")
    Path(f"{stem}.mmd").write_text(mermaid(trace.records), encoding="utf-8")
    return stem


# ---- running async tests without pytest-trio ---------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    if pyfuncitem.config.pluginmanager.hasplugin("trio"):
        return None
    test = pyfuncitem.obj
    if not inspect.iscoroutinefunction(test):
        return None
    names = inspect.signature(test).parameters
    args = {name: pyfuncitem.funcargs[name] for name in names if name in pyfuncitem.funcargs}
    if not (
        any(isinstance(v, Lazy) for v in args.values())
        or pyfuncitem.get_closest_marker("triomas") is not None
    ):
        return None

    async def main() -> None:
        opened: dict[int, Any] = {}
        async with AsyncExitStack() as stack:

            async def resolve(value: Any) -> Any:
                if not isinstance(value, Lazy):
                    return value
                if id(value) not in opened:
                    opened[id(value)] = await value.open(stack, resolve)
                return opened[id(value)]

            kwargs = {name: await resolve(value) for name, value in args.items()}
            await test(**kwargs)

    trio.run(main)
    return True


__all__ = [
    "Lazy",
    "TestNetwork",
    "open_node",
    "open_tcp_pair",
    "open_test_container",
    "pytest_addoption",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_pyfunc_call",
    "pytest_runtest_makereport",
    "triomas_clock",
    "triomas_seed",
    "triomas_trace",
]

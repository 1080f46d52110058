"""The conformance suites, run against both schedulers and every transport."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import trio.testing

import triomas
from triomas.testing import check_engine, check_transport


async def test_the_virtual_engine_conforms() -> None:
    await check_engine(lambda: triomas.open_container(clock=triomas.VirtualClock()))


async def test_the_live_engine_conforms(autojump_clock: trio.testing.MockClock) -> None:
    await check_engine(lambda: triomas.open_container())


async def test_every_transport_conforms(addresses: Callable[[], str]) -> None:
    await check_transport(lambda: triomas.open_container(addresses()))


async def test_strict_containers_conform() -> None:
    await check_engine(lambda: triomas.open_container(clock=triomas.VirtualClock(), strict=True))


async def test_a_failing_case_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from triomas.testing import _conformance

    async def _case_always_wrong(c: triomas.Container) -> None:
        raise AssertionError("the container did something else")

    monkeypatch.setattr(_conformance, "_ENGINE_CASES", (_case_always_wrong,))
    with pytest.raises(AssertionError, match="check_engine, always_wrong: the container"):
        await check_engine(lambda: triomas.open_container(clock=triomas.VirtualClock()))

"""Scenario S2: alarm wake-ups under virtual time (and the one real-time case)."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

import triomas
from triomas import Agent, message, on


@message
class Wake:
    label: str


class Sleeper(Agent):
    def __init__(self, got: list[tuple[float, str]], clear: str | None = None) -> None:
        self.got = got
        self.clear = clear

    def setup(self) -> None:
        self.set_alarm(Wake("t10"), after=10, topic="t10")
        self.set_alarm(Wake("t3a"), after=3, topic="t3a")
        self.set_alarm(Wake("t3b"), at=3, topic="t3b")
        if self.clear is not None:
            assert self.clear_alarms(topic=self.clear) == 1

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        self.got.append((self.clock.now(), msg.label))


async def test_alarms_arrive_in_time_and_insertion_order(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[tuple[float, str]] = []
    await both.spawn(Sleeper, got)
    started = time.perf_counter()
    report = await both.run_until_idle()
    assert time.perf_counter() - started < 0.05
    assert got == [(3.0, "t3a"), (3.0, "t3b"), (10.0, "t10")]
    assert report.time == 10.0


async def test_run_for_seconds_stops_the_clock_there(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[tuple[float, str]] = []
    await both.spawn(Sleeper, got)
    report = await both.run(seconds=5)
    assert report.reason == "seconds"
    assert report.time == 5.0
    assert both.clock.now() == 5.0
    assert got == [(3.0, "t3a"), (3.0, "t3b")]
    # nothing moves between calls that drive the simulation
    await trio.lowlevel.checkpoint()
    assert both.clock.now() == 5.0
    await both.run_until_idle()
    assert got[-1] == (10.0, "t10")


async def test_clear_alarms_removes_only_the_matching_one(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[tuple[float, str]] = []
    await both.spawn(Sleeper, got, "t3a")
    await both.run_until_idle()
    assert got == [(3.0, "t3b"), (10.0, "t10")]


class Lazy(Agent):
    def __init__(self, got: list[float], ignore: bool) -> None:
        self.got = got
        self.ignore = ignore

    def setup(self) -> None:
        self.set_alarm(Wake("late"), after=0.25, ignore_if_idle=self.ignore)

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        self.got.append(self.clock.now())


@pytest.mark.parametrize("clock", [triomas.VirtualClock, triomas.RealClock])
async def test_ignore_if_idle_alarm_does_not_keep_the_run_alive(
    clock: type[triomas.Clock],
) -> None:
    got: list[float] = []
    async with triomas.open_container(clock=clock()) as c:
        await c.spawn(Lazy, got, True)
        with trio.fail_after(1):
            report = await c.run_until_idle()
        assert report.reason == "idle"
        assert report.time < 0.2
        # the alarm was dropped when the run went idle
        assert c.agent("Lazy-1")._ctx.alarms == {}
        assert got == []


async def test_blocking_real_time_alarm_waits_and_delivers() -> None:
    got: list[float] = []
    async with triomas.open_container(clock=triomas.RealClock()) as c:
        await c.spawn(Lazy, got, False)
        with trio.fail_after(5):
            report = await c.run_until_idle()  # real-time: S2 asks for a real 0.25 s alarm
    assert len(got) == 1
    assert 0.25 <= got[0] < 0.27
    assert report.time >= 0.25


async def test_alarm_in_the_past_fires_at_once(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    got: list[float] = []

    class Late(Agent):
        def setup(self) -> None:
            self.set_alarm(Wake("x"), at=-1)

        @on(Wake)
        def wake(self, msg: Wake) -> None:
            got.append(self.clock.now())

    await both.spawn(Late)
    await both.run_until_idle()
    assert got == [0.0]


async def test_set_alarm_needs_exactly_one_time(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[Exception] = []

    class Bad(Agent):
        def setup(self) -> None:
            for kwargs in ({}, {"at": 1.0, "after": 1.0}):
                try:
                    self.set_alarm(Wake("x"), **kwargs)
                except TypeError as exc:
                    errors.append(exc)

    await both.spawn(Bad)
    await both.run_until_idle()
    assert len(errors) == 2

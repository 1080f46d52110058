"""Virtual time advanced in the task that awaits it (no driver task while nobody else
drives): handover to the driver, cancellation, fairness to other tasks, and the settle
skipped when only the awaiting task woke."""

from __future__ import annotations

import pytest
import trio

import triomas
from triomas import Agent, message, on


@message(tag="drive_here.Tick")
class Tick:
    n: int


class Ticker(Agent):
    """Ticks once a virtual second, for ever."""

    def __init__(self) -> None:
        self.ticks: list[float] = []

    async def setup(self) -> None:
        self.set_alarm(Tick(0), at=self.clock.now() + 1)

    @on(Tick)
    def tick(self, msg: Tick) -> None:
        self.ticks.append(self.clock.now())
        self.set_alarm(Tick(msg.n + 1), at=self.clock.now() + 1)


@pytest.fixture
def count_passes() -> tuple[list[int], trio.abc.Instrument]:
    """An instrument that counts trio scheduler passes (one I/O wait each)."""
    passes = [0]

    class Passes(trio.abc.Instrument):
        def before_io_wait(self, timeout: float) -> None:
            passes[0] += 1

    return passes, Passes()


async def test_a_run_awaited_by_its_only_task_takes_no_scheduler_pass(
    vc: triomas.Container, count_passes: tuple[list[int], trio.abc.Instrument]
) -> None:
    """A run that one task awaits, with no other trio task to let in, is advanced by
    that task from start to end: the clock jumps with no trio scheduler pass (the step
    of a co-simulator, which costs a handoff to a driver task and back otherwise)."""
    ticker = vc.agent(await vc.spawn(Ticker))
    await vc.run(seconds=1)  # the first run settles the rest of trio once
    passes, instrument = count_passes
    trio.lowlevel.add_instrument(instrument)
    try:
        for _ in range(5):
            report = await vc.run(seconds=10)
            assert report.reason == "seconds"
    finally:
        trio.lowlevel.remove_instrument(instrument)
    assert passes[0] == 0
    assert isinstance(ticker, Ticker)
    assert ticker.ticks == [float(t) for t in range(1, 51)]  # a run's end comes first


async def test_a_task_started_between_runs_is_let_in_before_the_clock_jumps(
    vc: triomas.Container,
) -> None:
    """Between two runs the awaiting task starts another; that one was scheduled, so the
    run settles trio before the clock jumps and its message is handled at the time it
    was sent, not after the jump."""
    got: list[tuple[int, float]] = []

    class Sink(Agent):
        async def setup(self) -> None:
            self.set_alarm(Tick(-1), at=5.0)  # something to jump to

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append((msg.n, self.clock.now()))

    sink = await vc.spawn(Sink)
    await vc.run(seconds=1)

    async def late() -> None:
        vc.send(sink, Tick(7))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(late)
        await vc.run_until_idle()
    assert got == [(7, 1.0), (-1, 5.0)]


async def test_a_second_task_is_served_and_taken_over_when_the_first_is_cancelled(
    vc: triomas.Container,
) -> None:
    """Task A advances the simulation in its own task; task B waits on it meanwhile.
    A clock callback cancels A at t=10: A stops there (after the events of t=10), and the
    driver takes over B's wait, which ends at t=25 (before the tick of t=25, which was
    set later)."""
    ticker = vc.agent(await vc.spawn(Ticker))
    ended: dict[str, float] = {}

    async def a() -> None:
        with trio.CancelScope() as scope:
            vc.clock.call_at(10.0, scope.cancel, blocking=False)
            await vc.run()
        ended["a"] = vc.clock.now()

    async def b() -> None:
        await vc.clock.sleep_until(25.0)
        ended["b"] = vc.clock.now()

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(a)
            await trio.testing.wait_all_tasks_blocked()
            nursery.start_soon(b)
    assert ended == {"a": 10.0, "b": 25.0}
    assert isinstance(ticker, Ticker)
    assert ticker.ticks == [float(t) for t in range(1, 25)]


async def test_runs_that_never_wait_still_let_other_tasks_in(vc: triomas.Container) -> None:
    """A loop of runs that each end without waiting yields to trio now and then: a task
    beside it is not starved."""
    await vc.spawn(Ticker)
    beside = 0

    async def spin() -> None:
        nonlocal beside
        while True:
            await trio.lowlevel.checkpoint()
            beside += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(spin)
        for _ in range(160):
            await vc.run(iterations=1)
        nursery.cancel_scope.cancel()
    assert beside >= 160 // 16 - 1


async def test_a_cancelled_run_hands_nothing_to_the_driver(vc: triomas.Container) -> None:
    """A run advanced in its own task and cancelled by another task ends at its next
    checkpoint and leaves no demand: the simulation stands still afterwards."""
    ticker = vc.agent(await vc.spawn(Ticker))
    assert isinstance(ticker, Ticker)

    async def run_for_ever(scope: trio.CancelScope) -> None:
        with scope:
            await vc.run()  # ticks for ever; the stretch yields every few thousand rounds

    async def cancel_soon(scope: trio.CancelScope) -> None:
        while len(ticker.ticks) < 3:
            await trio.lowlevel.checkpoint()
        scope.cancel()

    scope = trio.CancelScope()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_for_ever, scope)
        nursery.start_soon(cancel_soon, scope)
    stopped, ticks = vc.clock.now(), len(ticker.ticks)
    assert ticks >= 3
    await trio.testing.wait_all_tasks_blocked()
    assert (vc.clock.now(), len(ticker.ticks)) == (stopped, ticks)

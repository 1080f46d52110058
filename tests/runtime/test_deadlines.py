"""Live asks share one queue of deadlines: each still times out at its own deadline,
in any mix of timeouts, and the queue holds neither ended asks nor their replies."""

from __future__ import annotations

import gc
import weakref

import pytest
import trio
import trio.lowlevel
import trio.testing

import triomas
from triomas import Agent, AskTimeout, message, on
from triomas._time.deadlines import Deadlines
from triomas._time.future import Future
from triomas._time.timers import LiveTimers


@message
class Hold:
    """Answered after ``seconds`` of clock time (never, if negative)."""

    seconds: float


@message
class Quick:
    n: int


class Slow(Agent):
    @on(Hold, concurrent=True)
    async def hold(self, msg: Hold) -> float:
        if msg.seconds < 0:
            await trio.sleep_forever()
        await self.sleep(msg.seconds)
        return msg.seconds

    @on(Quick)
    async def quick(self, msg: Quick) -> Quick:
        await self.sleep(0)  # so that the asker waits (no hand-off)
        return Quick(msg.n + 1)


async def test_each_ask_times_out_at_its_own_deadline_in_any_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container() as c:
        slow = await c.spawn(Slow)
        ended: dict[float, float] = {}

        async def ask(timeout: float) -> None:
            start = trio.current_time()
            with pytest.raises(AskTimeout):
                await c.ask(slow, Hold(-1), timeout=timeout)
            ended[timeout] = trio.current_time() - start

        async with trio.open_nursery() as nursery:
            # in order, then shorter ones behind longer ones (their own timers), then equal
            for timeout in (1.0, 2.0, 3.0, 0.5, 2.5, 0.25, 3.5):
                nursery.start_soon(ask, timeout)
                await trio.lowlevel.checkpoint()
        assert ended == pytest.approx({t: t for t in ended}, abs=1e-6)
        assert len(ended) == 7


async def test_answered_asks_leave_the_queue_and_a_late_deadline_still_fires(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container() as c:
        slow = await c.spawn(Slow)
        engine = c._router.engine
        deadlines = engine.deadlines  # type: ignore[attr-defined]
        # an ask answered after 1 s waits in front while many quick ones end behind it
        async with trio.open_nursery() as nursery:
            nursery.start_soon(c.ask, slow, Hold(1.0))
            await trio.lowlevel.checkpoint()
            for n in range(10_000):
                assert await c.ask(slow, Quick(n), timeout=5.0) == Quick(n + 1)
            assert len(deadlines) <= 4096  # compacted, not one entry per ask
        # the front one was answered: the next ask drops every ended entry
        assert await c.ask(slow, Quick(0)) == Quick(1)
        assert len(deadlines) <= 1
        start = trio.current_time()
        with pytest.raises(AskTimeout):
            await c.ask(slow, Hold(10.0), timeout=2.0)
        assert trio.current_time() - start == pytest.approx(2.0)


async def test_the_queue_keeps_no_reply_alive(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        slow = await c.spawn(Slow)
        reply = await c.ask(slow, Quick(7), timeout=5.0)
        gone = weakref.ref(reply)
        assert len(c._router.engine.deadlines) == 1  # type: ignore[attr-defined]
        del reply
        gc.collect()
        assert gone() is None  # the future in the queue let go of its value


async def test_deadlines_queue_unit(autojump_clock: trio.testing.MockClock) -> None:
    """The queue on its own: in order, an earlier deadline refused (the caller sets a
    timer of its own), a waiting task woken at its deadline, ended entries dropped."""
    timers = LiveTimers(trio.current_time())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(timers.run)
        deadlines = Deadlines(timers)
        task = trio.lowlevel.current_task()
        first, ended = Future(), Future()
        first.waiter = ended.waiter = lambda: None
        assert deadlines.add(1.0, ended, task)
        assert deadlines.add(1.5, first, task)
        assert deadlines.add(1.5, Future(), task)  # equal: in order (no waiter: ended)
        assert not deadlines.add(0.5, Future(), task)  # earlier than the last one
        assert not deadlines.add(float("nan"), Future(), task)  # the caller's timer refuses it
        ended.waiter = None  # its wait ended before its deadline: no wake-up at 1.0
        await trio.lowlevel.wait_task_rescheduled(lambda _: trio.lowlevel.Abort.SUCCEEDED)
        assert trio.current_time() - timers.origin == pytest.approx(1.5)
        assert first.waiter is None  # woken by its deadline
        assert len(deadlines) == 0
        nursery.cancel_scope.cancel()


async def test_a_nan_deadline_is_refused_as_before(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        slow = await c.spawn(Slow, capacity=1)
        c.send(slow, Hold(1.0))
        await c.send_wait(slow, Hold(1.0))  # the first is taken: room for this one
        with pytest.raises(ValueError, match="NaN"):
            await c.send_wait(slow, Hold(1.0), timeout=float("nan"))


async def test_a_cancelled_ask_leaves_no_wake_up_behind(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container() as c:
        slow = await c.spawn(Slow)
        start = trio.current_time()
        with trio.move_on_after(1.0) as scope:
            await c.ask(slow, Hold(-1), timeout=5.0)  # its deadline stays queued
        assert scope.cancelled_caught
        with trio.move_on_after(10.0):
            # waits past the cancelled ask's deadline (5.0): nothing wakes it early
            with pytest.raises(AskTimeout):
                await c.ask(slow, Hold(-1), timeout=6.0)
        assert trio.current_time() - start == pytest.approx(7.0)

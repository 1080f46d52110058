"""Virtual-time rules: raw trio awaits are refused; clocks jump, pace, or follow outside."""

from __future__ import annotations

import time

import pytest
import trio
import trio.testing

import triomas
from triomas import Agent, VirtualTimeError, message, on


@message
class Go:
    pass


async def test_awaiting_raw_trio_in_an_agent_is_a_clear_error(vc: triomas.Container) -> None:
    errors: list[BaseException] = []

    class Raw(Agent):
        @on(Go)
        async def go(self, msg: Go) -> str:
            try:
                await trio.sleep(1)  # real-time: never sleeps; refused in virtual time
            except VirtualTimeError as exc:
                errors.append(exc)
            await self.sleep(1)
            return "ok"

    ref = await vc.spawn(Raw)
    assert await vc.ask(ref, Go()) == "ok"
    assert len(errors) == 1
    assert "self.sleep()" in str(errors[0])
    assert vc.clock.now() == 1.0


async def test_a_crash_from_raw_trio_is_a_failure_not_a_hang(vc: triomas.Container) -> None:
    class Raw(Agent):
        @on(Go)
        async def go(self, msg: Go) -> None:
            await trio.lowlevel.checkpoint()

    ref = await vc.spawn(Raw)
    with pytest.raises(triomas.CalleeDown) as down:
        await vc.ask(ref, Go())
    assert isinstance(down.value.__cause__, VirtualTimeError)


async def test_waiting_on_the_whole_simulation_from_an_agent_is_refused(
    vc: triomas.Container,
) -> None:
    class Joiner(Agent):
        @on(Go)
        async def go(self, msg: Go) -> None:
            await self.container.run_until_idle()

    ref = await vc.spawn(Joiner)
    with pytest.raises(triomas.CalleeDown) as down:
        await vc.ask(ref, Go())
    assert isinstance(down.value.__cause__, VirtualTimeError)


async def test_jumping_clock_takes_no_real_time(vc: triomas.Container) -> None:
    class Sleeper(Agent):
        async def setup(self) -> None:
            for _ in range(1000):
                await self.sleep(3600)

    await vc.spawn(Sleeper)
    started = time.perf_counter()
    await vc.run_until_idle()
    assert vc.clock.now() == 3600 * 1000
    assert time.perf_counter() - started < 1.0


async def test_speed_paces_virtual_time_against_real_time() -> None:
    clock = triomas.VirtualClock(speed=200.0)
    async with triomas.open_container(clock=clock) as c:

        class Sleeper(Agent):
            async def setup(self) -> None:
                await self.sleep(20)

        await c.spawn(Sleeper)
        started = trio.current_time()
        with trio.fail_after(5):
            await c.run_until_idle()  # real-time: 20 virtual s at 200x is 0.1 real s
        elapsed = trio.current_time() - started
    assert clock.now() == 20.0
    assert 0.09 <= elapsed < 0.5


def test_speed_must_be_positive() -> None:
    with pytest.raises(ValueError, match="speed"):
        triomas.VirtualClock(speed=0)


async def test_external_clock_runs_up_to_the_horizon() -> None:
    clock = triomas.ExternalClock()
    got: list[float] = []

    class Ticker(Agent):
        def setup(self) -> None:
            for t in (1, 2, 5):
                self.set_alarm(Go(), at=t)

        @on(Go)
        def go(self, msg: Go) -> None:
            got.append(self.clock.now())

    async with triomas.open_container(clock=clock) as c:
        await c.spawn(Ticker)
        await c.run_until_idle()
        assert (got, clock.now()) == ([], 0.0)
        clock.advance_to(2)
        await c.run_until_idle()
        assert (got, clock.now()) == ([1.0, 2.0], 2.0)
        clock.advance_to(2)  # equal is allowed
        clock.advance_to(4)
        await c.run_until_idle()
        assert (got, clock.now()) == ([1.0, 2.0], 4.0)
        with pytest.raises(ValueError, match="go back"):
            clock.advance_to(3)
        clock.advance_to(10)
        await c.run_until_idle()
        assert (got, clock.now()) == ([1.0, 2.0, 5.0], 10.0)


async def test_clock_call_at_and_cancel(vc: triomas.Container) -> None:
    clock = vc.clock
    fired: list[float] = []
    keep = clock.call_at(2, lambda: fired.append(clock.now()))
    drop = clock.call_in(1, lambda: fired.append(-1))
    assert drop.cancel() is True
    assert drop.cancel() is False
    assert keep.pending
    await clock.sleep(3)
    assert fired == [2.0]
    assert not keep.pending
    assert clock.now() == 3.0
    with pytest.raises(ValueError, match="negative"):
        await clock.sleep(-1)


async def test_real_clock_timers(autojump_clock: trio.testing.MockClock) -> None:
    clock = triomas.RealClock()
    fired: list[float] = []
    start = clock.now()
    clock.call_in(2, lambda: fired.append(clock.now() - start))
    clock.call_in(1, lambda: fired.append(clock.now() - start), blocking=False)
    await clock.sleep(3)
    assert fired == [pytest.approx(1.0), pytest.approx(2.0)]
    assert clock.virtual is False


async def test_run_iterations_and_stopped(vc: triomas.Container) -> None:
    class Loop(Agent):
        keep_awake = True
        count = 0

        def update(self) -> None:
            self.count += 1
            if self.count == 10:
                self.stop()

    ref = await vc.spawn(Loop)
    report = await vc.run(iterations=4)
    assert (report.reason, report.rounds) == ("iterations", 4)
    assert vc.agent(ref).count == 4  # type: ignore[attr-defined]
    report = await vc.run()
    assert report.reason == "stopped"
    assert vc.agents() == []


async def test_iterations_are_virtual_only(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        with pytest.raises(ValueError, match="virtual"):
            await c.run(iterations=1)
        report = await c.run(seconds=2)
        assert report.reason == "seconds"
        assert c.round == 0
        assert not c.virtual


async def test_live_run_until_idle_and_stopped(autojump_clock: trio.testing.MockClock) -> None:
    class Once(Agent):
        async def setup(self) -> None:
            await self.sleep(1)
            self.stop()

    async with triomas.open_container() as c:
        await c.spawn(Once)
        report = await c.run()
        assert report.reason == "stopped"
        assert report.time == pytest.approx(1.0, abs=0.01)


async def test_two_containers_share_one_virtual_clock() -> None:
    clock = triomas.VirtualClock()
    got: list[tuple[str, float]] = []

    class Echo(Agent):
        async def setup(self) -> None:
            await self.sleep(1 if self.container.address.endswith("1") else 2)
            got.append((self.container.address, self.clock.now()))

    async with (
        triomas.open_container("local://one1", clock=clock) as one,
        triomas.open_container("local://two2", clock=clock) as two,
    ):
        await two.spawn(Echo)
        await one.spawn(Echo)
        await one.run_until_idle()
    assert got == [("local://one1", 1.0), ("local://two2", 2.0)]


async def test_network_containers_need_real_time() -> None:
    with pytest.raises(ValueError, match="real time"):
        async with triomas.open_container("tcp://127.0.0.1:0", clock=triomas.VirtualClock()):
            pass
    with pytest.raises(ValueError, match="no transport"):
        async with triomas.open_container("carrier-pigeon://coop"):
            pass


async def test_a_run_ends_when_nothing_more_can_happen(vc: triomas.Container) -> None:
    class Idle(Agent):
        pass

    await vc.spawn(Idle)
    report = await vc.run(iterations=10)
    assert (report.reason, report.rounds) == ("idle", 0)
    report = await vc.run()
    assert report.reason == "idle"
    with pytest.raises(triomas.AgentStateError, match="wait forever"):
        await vc.join()


async def test_a_trio_cancel_scope_across_a_wait_is_refused(vc: triomas.Container) -> None:
    outcome: list[object] = []

    class Impatient(Agent):
        async def setup(self) -> None:
            for deadline in (0, 5):
                try:
                    with trio.move_on_after(deadline):
                        await self.sleep(10)
                except VirtualTimeError as exc:
                    outcome.append(str(exc))
            await self.sleep(1)
            outcome.append(self.clock.now())

    await vc.spawn(Impatient)
    with trio.fail_after(5):
        await vc.run_until_idle()
    assert len(outcome) == 3
    assert "cancel scope" in str(outcome[0])
    assert outcome[2] == 1.0


async def test_agents_cannot_join_or_remove_themselves_into_a_deadlock(
    vc: triomas.Container,
) -> None:
    outcome: list[object] = []

    class Selfish(Agent):
        @on(Go)
        async def go(self, msg: Go) -> None:
            try:
                await self.container.join()
            except VirtualTimeError as exc:
                outcome.append(type(exc))
            await self.container.remove(self.ref)  # stops after this message
            outcome.append(self.clock.now())

        def teardown(self) -> None:
            outcome.append("teardown")

    ref = await vc.spawn(Selfish)
    vc.send(ref, Go())
    await vc.run_until_idle()
    assert outcome == [VirtualTimeError, 0.0, "teardown"]
    assert vc.agents() == []


async def test_a_live_agent_can_remove_itself(autojump_clock: trio.testing.MockClock) -> None:
    class Selfish(Agent):
        @on(Go)
        async def go(self, msg: Go) -> str:
            await self.container.remove(self.ref)
            return "bye"

    async with triomas.open_container() as c:
        ref = await c.spawn(Selfish)
        assert await c.ask(ref, Go()) == "bye"
        await c.run_until_idle()
        assert c.agents() == []
        assert trio.current_time() < 1  # no shutdown grace was waited out


async def test_a_run_with_seconds_and_until_idle_ends_when_idle(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    """``run(seconds=s, until_idle=True)`` ends at whichever comes first, in both clocks
    (MASlite's ``run(seconds=, pause_if_idle=True)``)."""

    class Brief(Agent):
        async def setup(self) -> None:
            await self.sleep(3)

    await both.spawn(Brief)
    report = await both.run(seconds=100, until_idle=True)
    assert report.reason == "idle"
    assert 3.0 <= both.clock.now() < 3.1
    report = await both.run(seconds=5, until_idle=True)  # nothing left: idle at once
    assert report.reason == "idle"
    assert both.clock.now() < 3.1

    class Long(Agent):
        async def setup(self) -> None:
            await self.sleep(50)

    await both.spawn(Long)
    report = await both.run(seconds=10, until_idle=True)
    assert report.reason == "seconds"
    assert 13.0 <= both.clock.now() < 13.1


def test_a_virtual_clock_can_start_at_any_time() -> None:
    seen: list[float] = []

    class Stamp(Agent):
        async def setup(self) -> None:
            seen.append(self.clock.now())
            await self.sleep(5)
            seen.append(self.clock.now())

    async def main() -> None:
        clock = triomas.VirtualClock(start=1000)
        assert clock.now() == 1000.0
        async with triomas.open_container(clock=clock) as c:
            await c.spawn(Stamp)
            report = await c.run_until_idle()
            assert report.time == 1005.0

    trio.run(main)
    assert seen == [1000.0, 1005.0]
    with pytest.raises(ValueError, match="finite"):
        triomas.VirtualClock(start=float("nan"))


async def test_the_speed_of_a_virtual_clock_can_change_during_a_run() -> None:
    clock = triomas.VirtualClock(speed=1000.0)
    async with triomas.open_container(clock=clock) as c:

        class Sleeper(Agent):
            async def setup(self) -> None:
                await self.sleep(10)  # at 1000x: 0.01 s of real time
                self.clock.speed = None  # then jump: 10 000 s take no real time
                await self.sleep(10_000)

        await c.spawn(Sleeper)
        started = trio.current_time()
        with trio.fail_after(5):
            await c.run_until_idle()  # real-time: 0.01 s paced, then a jump
        assert clock.now() == 10_010.0
        assert trio.current_time() - started < 2.0
        assert clock.speed is None
    with pytest.raises(ValueError, match="speed"):
        clock.speed = -1


async def test_an_external_clock_says_when_its_next_event_is() -> None:
    clock = triomas.ExternalClock(start=100)
    assert clock.next_event() is None
    async with triomas.open_container(clock=clock) as c:

        class Timed(Agent):
            async def setup(self) -> None:
                self.set_alarm(Go(), after=7, ignore_if_idle=True)  # keeps nothing busy
                await self.sleep(30)

            @on(Go)
            def go(self, msg: Go) -> None:
                pass

        await c.spawn(Timed)
        assert clock.next_event() == 100.0  # the agent's setup is due now
        clock.advance_to(100)
        await c.run_until_idle()
        assert clock.now() == 100.0
        assert clock.next_event() == 130.0  # past the alarm that keeps nothing busy
        clock.advance_to(130)
        await c.run_until_idle()
        assert clock.now() == 130.0
        assert clock.next_event() is None


async def test_a_run_with_progress_reports_slice_by_slice() -> None:
    seen: list[tuple[str, float]] = []

    class Log:
        def start(self, start: float, end: float) -> None:
            seen.append(("start", end - start))

        def update(self, now: float, rounds: int) -> None:
            seen.append(("update", now))

        def stop(self, report: triomas.RunReport) -> None:
            seen.append(("stop:" + report.reason, report.time))

    class Beat(triomas.Agent):
        async def setup(self) -> None:
            for _ in range(30):
                await self.sleep(1)

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        await c.spawn(Beat)
        report = await c.run(seconds=100, progress=Log())
        assert (report.reason, report.time) == ("seconds", 100.0)
        assert seen[0] == ("start", 100.0)
        assert [now for kind, now in seen if kind == "update"] == [float(t) for t in range(1, 101)]
        assert seen[-1] == ("stop:seconds", 100.0)
        seen.clear()
        await c.spawn(Beat)
        report = await c.run(seconds=1000, until_idle=True, progress=Log())
        assert (report.reason, report.time) == ("idle", 130.0)  # ends early, and says so
        assert seen[-1] == ("stop:idle", 130.0)
        with pytest.raises(ValueError, match="progress= needs seconds="):
            await c.run(progress=Log())


def test_triomas_run_can_show_progress_for_every_run(capsys: pytest.CaptureFixture[str]) -> None:
    async def main() -> None:
        async with triomas.open_container() as c:
            await c.run(seconds=50)

    triomas.run(main, clock=triomas.VirtualClock(), progress=True)
    assert "t=50 of 50" in capsys.readouterr().out

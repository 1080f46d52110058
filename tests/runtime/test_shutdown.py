"""Stopping: exit classification, graceful then hard shutdown, overruns, teardown
(supervision spec rows 4, 15, 16, 17 and 25)."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import pytest
import trio
import trio.testing

import triomas
from triomas import (
    Agent,
    AgentStopped,
    ChildExited,
    ChildSpec,
    Failure,
    Fatal,
    Normal,
    Shutdown,
    ShutdownOverrun,
    Supervisor,
    message,
    on,
)


@message(tag="shut.Nap")
class Nap:
    seconds: float


@message(tag="shut.End")
class End:
    how: str


class Sleeper(Agent):
    """Naps on request, recording when a nap ended and how; records its teardown."""

    def __init__(self, log: list[tuple[float, str, object]]) -> None:
        self.log = log

    @on(Nap)
    async def nap(self, msg: Nap) -> None:
        finished = False
        try:
            await self.sleep(msg.seconds)
            finished = True
        finally:
            self.log.append((self.clock.now(), "nap done" if finished else "nap cut", self.name))

    @on(End)
    def end(self, msg: End) -> None:
        if msg.how == "stop":
            self.stop()
        elif msg.how == "shutdown":
            self.stop("finished")
        elif msg.how == "raise":
            raise RuntimeError("boom")
        elif msg.how == "interrupt":
            raise KeyboardInterrupt

    def teardown(self) -> None:
        self.log.append((self.clock.now(), "teardown", self.exit_reason))


# ---- row 4: exit classification ---------------------------------------------------------


async def test_each_way_of_ending_has_its_reason(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    exits: dict[str, object] = {}
    both.on_event(
        lambda e: exits.setdefault(e.ref.name, e.reason) if isinstance(e, ChildExited) else None
    )
    log: list[tuple[float, str, object]] = []
    for how in ("stop", "shutdown", "raise"):
        ref = await both.spawn(Sleeper, log, name=how, restart="temporary")
        both.send(ref, End(how))
    await both.spawn(Sleeper, log, name="removed")
    await both.run_until_idle()
    await both.remove("removed")
    assert exits["stop"] == Normal()
    assert exits["shutdown"] == Shutdown("finished")
    assert isinstance(exits["raise"], Failure)
    assert exits["removed"] == Shutdown("removed")


def test_keyboard_interrupt_tears_the_tree_down_then_is_raised_again() -> None:
    log: list[tuple[float, str, object]] = []

    async def main() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Sleeper, log, name="bystander")
            victim = await c.spawn(Sleeper, log, name="victim")
            c.send(victim, End("interrupt"))
            await c.run(seconds=100)

    with pytest.raises(KeyboardInterrupt):
        triomas.run(main, clock=triomas.VirtualClock())
    reasons = [reason for _, event, reason in log if event == "teardown"]
    assert len(reasons) == 2
    assert isinstance(reasons[0], Fatal)  # the victim, never restarted
    assert reasons[1] == Shutdown("container stopped")


# ---- row 15: graceful, then hard --------------------------------------------------------


@pytest.mark.parametrize(
    ("shutdown", "nap", "expected"),
    [
        (5.0, 1.0, [(1.0, "nap done", "w"), (1.0, "removed", "w")]),  # handles the stop in 1 s
        (2.0, 10.0, [(2.0, "nap cut", "w"), (2.0, "removed", "w")]),  # cancelled at exactly T
        (0.0, 10.0, [(0.0, "nap cut", "w"), (0.0, "removed", "w")]),  # brutal
        (math.inf, 30.0, [(30.0, "nap done", "w"), (30.0, "removed", "w")]),  # waits forever
    ],
)
async def test_graceful_then_hard_shutdown(
    vc: triomas.Container,
    shutdown: float,
    nap: float,
    expected: list[object],
) -> None:
    log: list[tuple[float, str, object]] = []
    ref = await vc.spawn(Sleeper, log, name="w", shutdown=shutdown)
    vc.send(ref, Nap(nap))
    await vc.run(iterations=1)  # the nap has begun
    await vc.remove(ref)
    log.append((vc.clock.now(), "removed", "w"))
    assert [entry for entry in log if entry[1] != "teardown"] == expected


async def test_a_teardown_is_cut_off_at_the_shutdown_deadline(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    ended: list[float] = []

    class Lingering(Agent):
        async def teardown(self) -> None:
            try:
                await self.sleep(10)
            finally:
                ended.append(self.clock.now())

    await both.spawn(Lingering, shutdown=2)
    await both.run_until_idle()
    await both.stop()
    assert ended == [2.0]


# ---- row 16: an agent that will not die -------------------------------------------------


async def test_an_unkillable_agent_is_reported_and_waited_for(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[tuple[float, object]] = []

    class Stubborn(Agent):
        @on(Nap)
        async def nap(self, msg: Nap) -> None:
            with trio.CancelScope(shield=True):  # what actor code must not do
                await trio.sleep(msg.seconds)

    async with triomas.open_container() as c:
        c.on_event(lambda e: events.append((c.clock.now(), e)))
        ref = await c.spawn(Stubborn, shutdown=2)
        c.send(ref, Nap(10))
        await c.clock.sleep(1)  # mock time: the nap has begun
        start = c.clock.now()
        await c.remove(ref)
        assert c.clock.now() - start == pytest.approx(9.0)  # the nap's end
    overruns = [(t - start, e) for t, e in events if isinstance(e, ShutdownOverrun)]
    assert len(overruns) == 1
    assert overruns[0][0] == pytest.approx(3.0)  # cancelled at 2, reported 1 s later
    assert overruns[0][1].elapsed == pytest.approx(3.0)  # type: ignore[attr-defined]
    (stopped,) = [(t - start, e) for t, e in events if isinstance(e, AgentStopped)]
    assert stopped[0] == pytest.approx(9.0)


# ---- row 17: reverse order through the tree ---------------------------------------------


async def test_a_supervisor_stops_its_children_one_by_one_in_reverse() -> None:
    ended: list[tuple[str, float]] = []

    class Slow(Agent):
        async def teardown(self) -> None:
            await self.sleep(0.5)
            ended.append((self.name, self.clock.now()))

    children = [ChildSpec(name, Slow) for name in "abc"]
    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        await c.spawn(Supervisor, children, name="sup")
        await c.spawn(Slow, name="after")
        await c.run(seconds=1)
    assert ended == [("after", 1.5), ("c", 2.0), ("b", 2.5), ("a", 3.0)]


# ---- row 25: teardown runs once for every kind of end -----------------------------------


async def test_teardown_runs_once_per_incarnation_with_its_reason(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[float, str, object]] = []
    group = [ChildSpec("g1", Sleeper, (log,)), ChildSpec("g2", Sleeper, (log,))]
    await both.start(Supervisor, group, strategy="one_for_all", max_restarts=5)
    both.send("g2", End("raise"))  # g2 fails; g1 is stopped for the group restart
    await both.run_until_idle()
    normal = await both.spawn(Sleeper, log, name="normal")
    both.send(normal, End("stop"))
    cancelled = await both.spawn(Sleeper, log, name="cancelled", shutdown=1)
    both.send(cancelled, Nap(10))
    await both.run_until_idle()
    await both.remove(cancelled)
    reasons = [str(reason) for _, event, reason in log if event == "teardown"]
    assert reasons == [
        "failure(RuntimeError: boom)",
        "shutdown(group restart)",
        "normal",
        "shutdown(removed)",
    ]


async def test_a_root_shutdown_timeout_cancels_what_is_left() -> None:
    ended: list[tuple[str, float, bool]] = []

    class Slow(Agent):
        async def teardown(self) -> None:
            done = False
            try:
                await self.sleep(0.5)
                done = True
            finally:
                ended.append((self.name, self.clock.now(), done))

    async with triomas.open_container(clock=triomas.VirtualClock(), shutdown_timeout=1.2) as c:
        for name in "abc":
            await c.spawn(Slow, name=name)
        await c.run(seconds=1)
    assert ended == [("c", 1.5, True), ("b", 2.0, True), ("a", 2.2, False)]


# ---- row 18: a bug in the supervisor ----------------------------------------------------


@pytest.mark.parametrize("strategy", ["one_for_one", "one_for_all"])
async def test_a_crash_in_the_decision_code_cancels_the_children_and_fails_upward(
    vc: triomas.Container,
    monkeypatch: pytest.MonkeyPatch,
    strategy: str,
) -> None:
    from triomas._runtime.tree import Supervision

    events: list[object] = []
    vc.on_event(events.append)
    log: list[tuple[float, str, object]] = []
    children = [ChildSpec(name, Sleeper, (log,)) for name in ("a", "b", "c")]
    await vc.start(Supervisor, children, strategy=strategy, name="sup", restart="temporary")
    vc.send("b", Nap(100))
    await vc.run(iterations=1)

    def broken(self: Supervision, cell: object) -> float:
        raise ZeroDivisionError("bug in the intensity code")

    monkeypatch.setattr(Supervision, "_count", broken)
    vc.send("a", End("raise"))
    await vc.run_until_idle()
    assert vc.clock.now() == 0.0  # b was cancelled at once, not after its shutdown time
    assert vc.agents() == []
    (end,) = [e for e in events if isinstance(e, AgentStopped) and e.ref.name == "sup"]
    assert isinstance(end.reason, Failure)
    assert isinstance(end.reason.exception, triomas.SupervisorCrashed)
    assert isinstance(end.reason.exception.__cause__, ZeroDivisionError)


class Meltdown(BaseException):
    """Neither an Exception nor one of the runtime's cancellations."""


@pytest.mark.parametrize("where", ["sync handler", "async handler", "started task"])
@pytest.mark.parametrize("clock", ["virtual", "live"])
def test_any_base_exception_ends_the_run_as_itself(where: str, clock: str) -> None:
    """Like KeyboardInterrupt: the tree is torn down, then the exception itself (not a
    group, not a hang) comes out of the run, in both clocks."""
    log: list[str] = []

    class Melting(Agent):
        @on(End)
        def end(self, msg: End) -> None:
            if where == "sync handler":
                raise Meltdown("sync")
            self.start_task(self.melt)

        @on(Nap)
        async def nap(self, msg: Nap) -> None:
            await self.sleep(msg.seconds)
            raise Meltdown("async")

        async def melt(self) -> None:
            await self.sleep(1)
            raise Meltdown("task")

        def teardown(self) -> None:
            log.append(f"{self.name} teardown")

    async def main() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Melting, name="bystander")
            victim = await c.spawn(Melting, name="victim")
            c.send(victim, Nap(1) if where == "async handler" else End("go"))
            with trio.fail_after(30):  # a guard: it must not hang
                await c.run(seconds=100)

    runner: Callable[[], object] = (
        functools.partial(triomas.run, main, clock=triomas.VirtualClock())
        if clock == "virtual"
        # real time on trio's autojump clock: nothing sleeps for real
        else functools.partial(trio.run, main, clock=trio.testing.MockClock(autojump_threshold=0))
    )
    with pytest.raises(Meltdown):
        runner()
    assert sorted(log) == ["bystander teardown", "victim teardown"]

"""Supervisors: the rows of shared/specs/supervision.md on restarts, in virtual time."""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import pytest

import triomas
from triomas import (
    Agent,
    AgentRef,
    Backoff,
    ChildExited,
    ChildSpec,
    ChildSpecError,
    ChildStarted,
    Directive,
    DynamicSupervisor,
    Failure,
    Normal,
    Shutdown,
    Supervisor,
    SupervisorEscalation,
    SupervisorStartError,
    message,
    on,
)


@message(tag="sup.Crash")
class Crash:
    kind: str = "runtime"


@message(tag="sup.Bump")
class Bump:
    pass


@message(tag="sup.Nap")
class Nap:
    seconds: float


@message(tag="sup.Work")
class Work:
    n: int


Log = list[tuple[Any, ...]]


def record(c: triomas.Container) -> Log:
    """(time, event, name, incarnation, reason-or-None, will_restart) for every start and exit."""
    log: Log = []

    def on_event(event: object) -> None:
        now = c.clock.now()
        if isinstance(event, ChildStarted):
            log.append((now, "started", event.ref.name, event.incarnation))
        elif isinstance(event, ChildExited):
            reason = type(event.reason).__name__
            log.append(
                (now, "exited", event.ref.name, event.incarnation, reason, event.will_restart)
            )

    c.on_event(on_event)
    return log


@pytest.fixture
async def c() -> AsyncIterator[triomas.Container]:
    async with triomas.open_container(clock=triomas.VirtualClock(), seed=3) as container:
        yield container


class Worker(Agent):
    """Counts Bumps; crashes on Crash; naps on Nap; can be slow or broken at start."""

    def __init__(
        self,
        init_delay: float = 0.0,
        crash_after: float | None = None,
        broken_from: int | None = None,
        needs: str | None = None,
    ) -> None:
        self.count = 0
        self.init_delay = init_delay
        self.crash_after = crash_after
        self.broken_from = broken_from
        self.needs = needs
        self.found: AgentRef | None = None

    async def setup(self) -> None:
        if self.init_delay:
            await self.sleep(self.init_delay)
        if self.broken_from is not None and self.incarnation >= self.broken_from:
            raise KeyError("broken setup")
        if self.needs is not None:
            self.found = self.container.lookup(self.needs)
        if self.crash_after is not None:
            self.set_alarm(Crash(), after=self.crash_after)

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        if msg.kind == "value":
            raise ValueError("bad value")
        raise RuntimeError("crashed")

    @on(Bump)
    def bump(self, msg: Bump) -> int:
        self.count += 1
        return self.count

    @on(Nap)
    async def nap(self, msg: Nap) -> None:
        await self.sleep(msg.seconds)


def spec(id: str, **kw: Any) -> ChildSpec:
    worker_kw = {
        k: kw.pop(k) for k in ("init_delay", "crash_after", "broken_from", "needs") if k in kw
    }
    return ChildSpec(id, Worker, kwargs=worker_kw, **kw)


def inc(c: triomas.Container, name: str) -> int:
    return c.agent(name).incarnation


# ---- row 1: spec validation -------------------------------------------------------------


@pytest.mark.parametrize(
    ("children", "options", "field"),
    [
        ([spec("a"), spec("a")], {}, "id"),
        ([spec("a", significant=True)], {"auto_shutdown": "any_significant"}, "significant"),
        ([spec("a", restart="transient", significant=True)], {}, "significant"),
        ([spec("a", shutdown=-1)], {}, "shutdown"),
        ([spec("a", shutdown="soon")], {}, "shutdown"),
        ([spec("a", kind="thread")], {}, "kind"),
        ([spec("a", restart="sometimes")], {}, "restart"),
        ([spec("")], {}, "id"),
        ([], {"strategy": "one_for_some"}, "strategy"),
        ([], {"max_restarts": -1}, "max_restarts"),
    ],
)
async def test_invalid_specs_are_refused_before_any_child_runs(
    c: triomas.Container, children: list[ChildSpec], options: dict[str, Any], field: str
) -> None:
    log = record(c)
    with pytest.raises(ChildSpecError) as caught:
        await c.spawn(Supervisor, children, **options)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert log == []


def test_spec_defaults() -> None:
    worker = spec("w").validated()
    assert (worker.restart, worker.shutdown, worker.kind) == ("permanent", 5.0, "worker")
    sup = ChildSpec("s", Supervisor).validated()
    assert (sup.kind, sup.shutdown) == ("supervisor", float("inf"))


# ---- rows 2 and 3: ordered start with init-ack, start failure ---------------------------


async def test_children_start_in_order_each_after_the_previous_init_ack(
    c: triomas.Container,
) -> None:
    log = record(c)
    children = [
        spec("w1", init_delay=1),
        spec("w2", init_delay=1, needs="w1"),
        spec("w3", init_delay=1),
    ]
    sup = await c.start(Supervisor, children, name="sup")
    assert c.clock.now() == 3.0
    assert [entry[:3] for entry in log] == [
        (1.0, "started", "w1"),
        (2.0, "started", "w2"),
        (3.0, "started", "w3"),
        (3.0, "started", "sup"),
    ]
    assert c.agent("w2", Worker).found == c.lookup("w1")
    assert c.agent(sup).children == [c.lookup(n) for n in ("w1", "w2", "w3")]


async def test_a_failed_start_stops_the_earlier_children_in_reverse(c: triomas.Container) -> None:
    log = record(c)
    children = [spec("w0"), spec("w1"), spec("w2", init_delay=0.5, broken_from=1), spec("w3")]
    with pytest.raises(SupervisorStartError) as caught:
        await c.start(Supervisor, children, name="sup")
    assert caught.value.id == "w2"
    assert isinstance(caught.value.__cause__, KeyError)
    exits = [(t, name) for t, event, name, *_ in log if event == "exited"]
    assert exits == [(0.5, "w2"), (0.5, "w1"), (0.5, "w0"), (0.5, "sup")]
    assert c.lookup("w3") is None
    assert c.agents() == []


async def test_a_start_that_takes_too_long_fails_at_the_timeout(c: triomas.Container) -> None:
    children = [spec("slow", init_delay=100, start_timeout=2)]
    with pytest.raises(SupervisorStartError) as caught:
        await c.start(Supervisor, children)
    assert isinstance(caught.value.__cause__, TimeoutError)
    assert c.clock.now() == 2.0


# ---- rows 5 to 9: restart types and strategies ------------------------------------------


async def test_transient_is_restarted_after_a_failure_only(c: triomas.Container) -> None:
    log = record(c)
    sup = await c.start(
        Supervisor, [spec("t", restart="transient"), spec("u", restart="transient")], name="sup"
    )
    c.send("t", Crash())
    await c.run_until_idle()
    assert c.agent(sup, Supervisor).restarts == [0.0]
    c.agent("u").stop()
    await c.run_until_idle()
    assert c.lookup("u") is None
    assert c.agent(sup, Supervisor).restarts == [0.0]  # a normal end is not a restart
    assert (0.0, "exited", "u", 1, "Normal", False) in log


async def test_one_for_one_leaves_the_siblings_and_their_state(c: triomas.Container) -> None:
    await c.start(Supervisor, [spec("a"), spec("b")], max_restarts=3)
    for _ in range(3):
        c.send("b", Bump())
        c.send("a", Crash())
        await c.run_until_idle()
    assert c.agent("b", Worker).count == 3
    assert (inc(c, "a"), inc(c, "b")) == (4, 1)


async def test_one_for_all_stops_the_others_in_reverse_and_restarts_all(
    c: triomas.Container,
) -> None:
    log = record(c)
    children = [spec("a"), spec("b", shutdown=2), spec("c"), spec("tmp", restart="temporary")]
    sup = await c.start(Supervisor, children, strategy="one_for_all", name="sup")
    log.clear()
    c.send("b", Nap(10))  # b is busy: it ignores the stop until cancelled
    c.send("c", Crash())
    await c.run_until_idle()
    assert log == [
        (0.0, "exited", "c", 1, "Failure", True),
        (0.0, "exited", "tmp", 1, "Shutdown", False),
        (2.0, "exited", "b", 1, "Shutdown", True),
        (2.0, "exited", "a", 1, "Shutdown", True),
        (2.0, "started", "a", 2),
        (2.0, "started", "b", 2),
        (2.0, "started", "c", 2),
    ]
    assert c.agent(sup, Supervisor).restarts == [0.0]  # one entry per triggering exit
    assert c.agent(sup).children == [c.lookup(n) for n in "abc"]  # the temporary is gone


async def test_rest_for_one_restarts_the_one_and_those_after_it(c: triomas.Container) -> None:
    log = record(c)
    await c.start(Supervisor, [spec("a"), spec("b"), spec("c")], strategy="rest_for_one")
    log.clear()
    c.send("b", Crash())
    await c.run_until_idle()
    assert [entry[1:4] for entry in log] == [
        ("exited", "b", 1),
        ("exited", "c", 1),
        ("started", "b", 2),
        ("started", "c", 2),
    ]
    assert inc(c, "a") == 1


class Cleaner(Agent):
    def __init__(self, tag: str) -> None:
        self.tag = tag

    async def teardown(self) -> None:
        await self.sleep(0.5)

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise RuntimeError(self.tag)

    @on(Bump)
    def which(self, msg: Bump) -> str:
        return self.tag


async def test_dynamic_children_start_restart_and_stop_together(c: triomas.Container) -> None:
    sup_ref = await c.start(DynamicSupervisor, ChildSpec("cleaner", Cleaner), name="pool")
    sup = c.agent(sup_ref, DynamicSupervisor)
    refs = [await sup.start_child(f"job{i}") for i in range(100)]
    assert refs[7].name == "cleaner-8"
    c.send(refs[7], Crash())
    await c.run_until_idle()
    assert await c.ask(refs[7], Bump()) == "job7"  # restarted with the same arguments
    assert c.agent(refs[7]).incarnation == 2
    await sup.terminate_child(refs[0])
    assert c.lookup(refs[0].name) is None
    start = c.clock.now()
    await c.remove(sup_ref)
    assert c.clock.now() - start == 0.5  # not 99 x 0.5: all at once
    assert c.agents() == []


# ---- rows 10 to 13: intensity, escalation, failing restarts, backoff --------------------


async def run_crasher(
    c: triomas.Container, every: float, max_restarts: int, seconds: float
) -> tuple[Log, list[tuple[float, object]]]:
    log = record(c)
    ends: list[tuple[float, object]] = []
    c.on_event(
        lambda e: (
            ends.append((c.clock.now(), e.reason))
            if isinstance(e, triomas.AgentStopped) and e.ref.name == "sup"
            else None
        )
    )
    await c.spawn(
        Supervisor,
        [spec("w", crash_after=every)],
        max_restarts=max_restarts,
        name="sup",
        restart="temporary",
    )
    await c.run(seconds=seconds)
    return log, ends


@pytest.mark.parametrize(
    ("every", "limit", "escalates_at", "runs"),
    [(1.0, 3, 4.0, 4), (5.0, 1, 10.0, 2), (5.001, 1, None, 20), (2.0, 3, None, 500)],
)
async def test_restart_intensity_is_an_inclusive_sliding_window(
    c: triomas.Container, every: float, limit: int, escalates_at: float | None, runs: int
) -> None:
    log, ends = await run_crasher(c, every, limit, 999.9 if every == 2.0 else 100.0)
    started = sum(1 for entry in log if entry[1] == "started" and entry[2] == "w")
    if escalates_at is None:
        assert ends == []
        assert started >= runs
    else:
        ((t, reason),) = ends
        assert t == escalates_at
        assert isinstance(reason, Failure)
        assert isinstance(reason.exception, SupervisorEscalation)
        assert isinstance(reason.exception.__cause__, RuntimeError)
        assert started == runs


async def test_exit_events_of_an_escalation_exactly(c: triomas.Container) -> None:
    log, _ = await run_crasher(c, 1.0, 3, 100.0)
    assert [entry for entry in log if entry[1] == "exited"] == [
        (1.0, "exited", "w", 1, "Failure", True),
        (2.0, "exited", "w", 2, "Failure", True),
        (3.0, "exited", "w", 3, "Failure", True),
        (4.0, "exited", "w", 4, "Failure", False),
        (4.0, "exited", "sup", 1, "Failure", False),
    ]


async def test_nested_escalation_reaches_the_root() -> None:
    runs: list[float] = []

    class Leaf(Agent):
        def setup(self) -> None:
            runs.append(self.clock.now())
            self.send(self.ref, Crash())

        @on(Crash)
        def crash(self, msg: Crash) -> None:
            raise RuntimeError("leaf")

    inner = ChildSpec("inner", Supervisor, ([ChildSpec("leaf", Leaf)],))

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock(), max_restarts=0) as c:
            await c.spawn(Supervisor, [inner], name="outer")
            await c.join()

    with pytest.raises(SupervisorEscalation) as caught:
        await main()
    root = caught.value
    assert root.supervisor == "root"
    assert root.child == "outer"
    outer = root.__cause__
    assert isinstance(outer, SupervisorEscalation)
    assert outer.supervisor == "outer"
    assert isinstance(outer.__cause__, SupervisorEscalation)
    assert outer.__cause__.supervisor == "inner"
    assert runs == [0.0, 0.0, 0.0, 0.0]


async def test_a_restart_that_fails_counts_and_is_retried(c: triomas.Container) -> None:
    log, ends = await run_crasher_broken(c)
    starts = [entry for entry in log if entry[2] == "w" and entry[1] == "started"]
    exits = [entry for entry in log if entry[2] == "w" and entry[1] == "exited"]
    assert len(starts) == 1
    assert len(exits) == 4
    assert all(entry[0] == 0.0 for entry in log)
    assert len(ends) == 1


async def run_crasher_broken(c: triomas.Container) -> tuple[Log, list[object]]:
    log = record(c)
    ends: list[object] = []
    c.on_event(
        lambda e: (
            ends.append(e) if isinstance(e, triomas.AgentStopped) and e.ref.name == "sup" else None
        )
    )
    await c.spawn(
        Supervisor,
        [spec("w", crash_after=0, broken_from=2)],
        max_restarts=3,
        name="sup",
        restart="temporary",
    )
    await c.run_until_idle()
    return log, ends


async def test_a_stop_during_failing_restarts_wins(c: triomas.Container) -> None:
    events: list[object] = []
    c.on_event(events.append)
    await c.spawn(
        Supervisor,
        [spec("w", crash_after=0, broken_from=2)],
        max_restarts=1000,
        name="sup",
        restart="temporary",
    )
    await c.run(iterations=6)
    await c.remove("sup")
    (end,) = [e for e in events if isinstance(e, triomas.AgentStopped) and e.ref.name == "sup"]
    assert end.reason == Shutdown("removed")


async def test_backoff_delays_double_and_max_in_row_escalates(c: triomas.Container) -> None:
    log = record(c)
    backoff = Backoff(min=1, max=8, random_factor=0, max_in_row=4)
    await c.spawn(
        Supervisor,
        [spec("w", crash_after=0)],
        backoff=backoff,
        name="sup",
        restart="temporary",
    )
    await c.run_until_idle()
    assert [t for t, event, name, *_ in log if event == "started" and name == "w"] == [
        0.0,
        1.0,
        3.0,
        7.0,
        15.0,
    ]
    assert log[-1] == (15.0, "exited", "sup", 1, "Failure", False)


async def test_backoff_counts_again_after_a_child_stayed_up(c: triomas.Container) -> None:
    log = record(c)
    backoff = Backoff(min=1, max=8, random_factor=0, reset_after=4.5)
    await c.spawn(Supervisor, [spec("w", crash_after=10)], backoff=backoff, name="sup")
    await c.run(seconds=25)
    starts = [t for t, event, name, *_ in log if event == "started" and name == "w"]
    assert starts == [0.0, 11.0, 22.0]  # each crash after 10 s up: the delay is 1 s again


async def test_backoff_jitter_is_seeded() -> None:
    async def starts(seed: int) -> list[float]:
        async with triomas.open_container(clock=triomas.VirtualClock(), seed=seed) as c:
            log = record(c)
            await c.spawn(
                Supervisor,
                [spec("w", crash_after=0)],
                backoff=Backoff(min=1, max=8, random_factor=0.5, max_in_row=5),
                restart="temporary",
            )
            await c.run_until_idle()
        return [t for t, event, name, *_ in log if event == "started" and name == "w"]

    first = await starts(1)
    assert first == await starts(1)
    assert first != await starts(2)
    assert first[1] != 1.0


# ---- row 14: the mailbox survives the restart --------------------------------------------


async def test_messages_during_backoff_wait_for_the_next_incarnation(
    c: triomas.Container,
) -> None:
    handled: list[tuple[float, int, int]] = []

    class Picky(Agent):
        @on(Work)
        def work(self, msg: Work) -> None:
            handled.append((self.clock.now(), self.incarnation, msg.n))
            if msg.n == 1:
                raise RuntimeError("m1")

    backoff = Backoff(min=4, max=4, random_factor=0)
    await c.start(Supervisor, [ChildSpec("p", Picky)], backoff=backoff)
    c.send("p", Work(1))
    await c.run(seconds=1)
    c.send("p", Work(2))
    c.send("p", Work(3))
    await c.run_until_idle()
    assert handled == [(0.0, 1, 1), (4.0, 2, 2), (4.0, 2, 3)]


# ---- row 19: auto_shutdown --------------------------------------------------------------


async def test_a_significant_child_ending_stops_its_supervisor_normally(
    c: triomas.Container,
) -> None:
    log = record(c)

    class Job(Agent):
        def setup(self) -> None:
            self.set_alarm(Bump(), after=3)

        @on(Bump)
        def done(self, msg: Bump) -> None:
            self.stop()

    children = [spec("helper"), ChildSpec("job", Job, restart="temporary", significant=True)]
    await c.spawn(Supervisor, children, auto_shutdown="any_significant", name="sup")
    await c.run_until_idle()
    assert [entry for entry in log if entry[1] == "exited"] == [
        (3.0, "exited", "job", 1, "Normal", False),
        (3.0, "exited", "helper", 1, "Shutdown", False),
        (3.0, "exited", "sup", 1, "Shutdown", False),  # transient root: not restarted
    ]


# ---- row 24: the decider ----------------------------------------------------------------


async def test_a_decider_resumes_restarts_or_escalates_per_exception(
    c: triomas.Container,
) -> None:
    def decider(child: AgentRef, exc: Exception) -> Directive:
        if isinstance(exc, ValueError):
            return Directive.RESUME
        if isinstance(exc, KeyError):
            return Directive.ESCALATE
        return Directive.RESTART

    sup = await c.start(Supervisor, [spec("w")], decider=decider, max_restarts=5, name="sup")
    c.send("w", Bump())
    with pytest.raises(triomas.HandlerFailed) as caught:
        await c.ask("w", Crash("value"))
    assert isinstance(caught.value.__cause__, ValueError)
    assert await c.ask("w", Bump()) == 2  # the state was kept
    assert inc(c, "w") == 1
    assert c.agent(sup, Supervisor).restarts == []  # a resume is not a restart
    c.send("w", Crash())
    await c.run_until_idle()
    assert inc(c, "w") == 2


async def test_a_decider_can_stop_a_child_for_good(c: triomas.Container) -> None:
    sup = await c.start(
        Supervisor, [spec("w")], decider=lambda child, exc: Directive.STOP, name="sup"
    )
    c.send("w", Crash())
    await c.run_until_idle()
    assert c.lookup("w") is None
    assert c.agent(sup).children == []


async def test_escalate_from_the_decider_fails_the_supervisor_at_once(
    c: triomas.Container,
) -> None:
    events: list[object] = []
    c.on_event(events.append)
    await c.start(
        Supervisor,
        [spec("w")],
        decider=lambda child, exc: Directive.ESCALATE,
        max_restarts=100,
        name="sup",
        restart="temporary",
    )
    c.send("w", Crash())
    await c.run_until_idle()
    (end,) = [e for e in events if isinstance(e, triomas.AgentStopped) and e.ref.name == "sup"]
    assert isinstance(end.reason, Failure)
    assert isinstance(end.reason.exception, SupervisorEscalation)


# ---- children of plain agents -----------------------------------------------------------


async def test_an_agent_supervises_what_it_spawns_and_stops_it_first(
    c: triomas.Container,
) -> None:
    order: list[str] = []

    class Child(Agent):
        def teardown(self) -> None:
            order.append(self.name)

        @on(Crash)
        def crash(self, msg: Crash) -> None:
            raise RuntimeError("child")

    class Parent(Agent):
        async def setup(self) -> None:
            await self.spawn(Child, name="c1")
            await self.spawn(Child, name="c2")

        def teardown(self) -> None:
            order.append(self.name)

    parent = await c.start(Parent, name="parent")
    c.send("c1", Crash())
    await c.run_until_idle()
    assert inc(c, "c1") == 2
    assert order == ["c1"]
    assert c.agent(parent).children == [c.lookup("c1"), c.lookup("c2")]
    c.agent(parent).stop()
    await c.join()
    assert order == ["c1", "c2", "c1", "parent"]


async def test_the_design_example_joins() -> None:
    @message(tag="sup.Ping")
    class Ping:
        n: int

    class Ponger(Agent):
        @on(Ping)
        async def ping(self, msg: Ping) -> int:
            return msg.n + 1

    answers: list[int] = []

    class Pinger(Agent):
        async def setup(self) -> None:
            peer = await self.spawn(Ponger, name="ponger")
            answers.append(await self.ask(peer, Ping(1), timeout=5))
            self.stop()

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        await c.spawn(Pinger)
        await c.join()
    assert answers == [2]


async def test_a_normal_exit_of_a_permanent_child_is_restarted(c: triomas.Container) -> None:
    log = record(c)
    await c.start(Supervisor, [spec("p")], name="sup")
    c.agent("p").stop()
    await c.run_until_idle()
    assert (0.0, "exited", "p", 1, "Normal", True) in log
    assert inc(c, "p") == 2
    assert Normal() == Normal()


# ---- row 29: idle passivation and activation on demand ----------------------------------


async def test_idle_agents_passivate_and_come_back_on_demand(c: triomas.Container) -> None:
    log = record(c)
    handled: list[tuple[float, int, int]] = []

    class Session(Agent):
        @on(Work)
        def work(self, msg: Work) -> None:
            handled.append((self.clock.now(), self.incarnation, msg.n))

    c.spawn_on_demand("session", Session, idle_timeout=60)
    assert c.lookup("session") is None  # nothing runs until a message comes
    await c.clock.sleep(10)
    c.send("session", Work(1))
    await c.run(seconds=90)
    c.send("session", Work(2))
    await c.run_until_idle()
    assert handled == [(10.0, 1, 1), (100.0, 1, 2)]
    assert log == [
        (10.0, "started", "session", 1),
        (70.0, "exited", "session", 1, "Shutdown", False),
        (100.0, "started", "session", 1),
    ]
    assert c._root.history == deque()  # passivation is not a restart


async def test_a_busy_agent_is_not_passivated(c: triomas.Container) -> None:
    ref = await c.spawn(Worker, idle_timeout=5)
    for _ in range(4):
        await c.clock.sleep(4)
        c.send(ref, Bump())
    await c.run(seconds=4)
    assert c.lookup(ref.name) == ref
    await c.run(seconds=2)
    assert c.lookup(ref.name) is None


# ---- row 30: determinism ----------------------------------------------------------------


async def test_supervision_runs_are_byte_identical() -> None:
    from triomas.testing import TraceRecorder

    async def once() -> str:
        recorder = TraceRecorder()
        async with triomas.open_container(
            "local://det", clock=triomas.VirtualClock(), seed=11, trace=recorder
        ) as c:
            events: list[str] = []
            c.on_event(lambda e: events.append(f"{c.clock.now()!r} {e!r}"))
            children = [spec("a"), spec("b", shutdown=2), spec("c", crash_after=1)]
            await c.spawn(Supervisor, children, strategy="one_for_all", max_restarts=3)
            jittery = [spec("j", crash_after=0)]
            backoff = Backoff(min=1, max=8, random_factor=0.5, max_in_row=4)
            await c.spawn(Supervisor, jittery, backoff=backoff, restart="temporary")
            await c.run(seconds=60)
        return str(recorder) + "\n".join(events)

    first = await once()
    assert first == await once()
    assert "restart" in first
    assert "SupervisorEscalation" in first


@pytest.mark.parametrize("virtual", [True, False])
def test_triomas_run_raises_the_root_escalation_bare(virtual: bool) -> None:
    class Crasher(Agent):
        def setup(self) -> None:
            self.send(self.ref, Crash())

        @on(Crash)
        def crash(self, msg: Crash) -> None:
            raise RuntimeError("again")

    async def main() -> None:
        async with triomas.open_container(max_restarts=2) as c:
            await c.spawn(Crasher)
            await c.join()

    with pytest.raises(SupervisorEscalation) as caught:
        triomas.run(main, clock=triomas.VirtualClock() if virtual else None)
    assert len(caught.value.restarts) == 3
    assert isinstance(caught.value.__cause__, RuntimeError)

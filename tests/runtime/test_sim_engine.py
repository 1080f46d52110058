"""The simulation engine at scale: same-time order, outside trio tasks, no cycles, determinism."""

from __future__ import annotations

import contextlib
import contextvars
import gc
import hashlib
import math
from collections.abc import Awaitable, Callable

import pytest
import trio

import triomas
from triomas import Agent, AgentRef, Envelope, message, on
from triomas.testing import TraceRecorder


@message(tag="sim_engine.Tick")
class Tick:
    n: int


@message(tag="sim_engine.Note")
class Note:
    t: float


async def test_alarms_and_sleeps_at_one_time_keep_the_order_rules(vc: triomas.Container) -> None:
    """At one clock time: sleepers resume in the order they went to sleep; alarm
    messages set for that time are handled in the same round, after the sleepers, in the
    order they were set. Every time comes before the next (no time is handled twice)."""
    order: list[tuple[float, str]] = []

    class Sleeper(Agent):
        async def setup(self) -> None:
            for _ in range(3):
                await self.sleep(1.0)
                order.append((self.clock.now(), self.name))

    class Alarmed(Agent):
        async def setup(self) -> None:
            for t in (1.0, 2.0, 3.0):
                self.set_alarm(Tick(int(t)), at=t)

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            order.append((self.clock.now(), self.name))

    # spawned in this order: a sleeper, an alarmed agent, a sleeper, an alarmed agent
    await vc.spawn(Sleeper, name="s1")
    await vc.spawn(Alarmed, name="a1")
    await vc.spawn(Sleeper, name="s2")
    await vc.spawn(Alarmed, name="a2")
    await vc.run_until_idle()
    expected = [(t, name) for t in (1.0, 2.0, 3.0) for name in ("s1", "s2", "a1", "a2")]
    assert order == expected


async def test_an_outside_trio_task_answers_at_the_same_virtual_time(
    vc: triomas.Container,
) -> None:
    """An agent wakes a raw trio task of the user's (a memory channel); that task sends
    back before the clock may jump, so the answer arrives at the time it was asked for,
    jump after jump (the case the engine settles the rest of trio for)."""
    to_outside, from_agent = trio.open_memory_channel[float](10)
    got: list[tuple[float, float]] = []

    class Asker(Agent):
        async def setup(self) -> None:
            self.start_task(self.ask_outside)  # setup ends, so that messages are handled

        async def ask_outside(self) -> None:
            for _ in range(20):
                await self.sleep(0.5)
                to_outside.send_nowait(self.clock.now())

        @on(Note)
        def note(self, msg: Note) -> None:
            got.append((msg.t, self.clock.now()))

    async def outside(ref: AgentRef) -> None:
        async for t in from_agent:
            await trio.lowlevel.checkpoint()  # it takes a scheduler pass or two to answer
            await trio.lowlevel.checkpoint()
            vc.send(ref, Note(t))

    async with trio.open_nursery() as nursery:
        ref = await vc.spawn(Asker)
        nursery.start_soon(outside, ref)
        await vc.run_until_idle()
        nursery.cancel_scope.cancel()
    assert len(got) == 20
    assert all(asked == answered for asked, answered in got), got


async def test_an_outside_task_started_before_the_run_gets_its_inputs_in_first(
    vc: triomas.Container,
) -> None:
    seen: list[tuple[float, int]] = []

    class Sink(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            seen.append((self.clock.now(), msg.n))

    class Timer(Agent):
        async def setup(self) -> None:
            await self.sleep(10)

    sink = await vc.spawn(Sink)
    await vc.spawn(Timer)

    async def feeder() -> None:
        for n in range(3):
            vc.send(sink, Tick(n))
            await trio.lowlevel.checkpoint()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(feeder)
        await vc.run_until_idle()
    assert seen == [(0.0, 0), (0.0, 1), (0.0, 2)]
    assert vc.clock.now() == 10.0


async def _nothing() -> None:
    pass


def _unreachable_after(run: Callable[[], Awaitable[None]]) -> int:
    gc.collect()
    gc.disable()
    try:
        trio.run(run)
        return gc.collect()
    finally:
        gc.enable()


def test_fired_and_cleared_alarms_leave_no_reference_cycle() -> None:
    class Ticker(Agent):
        def __init__(self) -> None:
            self.left = 1000

        async def setup(self) -> None:
            self.set_alarm(Tick(0), after=1.0)

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            self.left -= 1
            if self.left:
                self.set_alarm(Tick(self.left), after=1.0)
                self.set_alarm(Tick(-1), after=5.0, topic="spare")
                self.clear_alarms(topic="spare")

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            await c.spawn(Ticker)
            await c.run_until_idle()
            assert c.clock.now() == 1000.0

    baseline = _unreachable_after(_nothing)
    # A trio run and a container leave a fixed number of cycles; 1000 alarms must not
    # add one each (they did: the alarm's closure and its handle referred to each other).
    assert _unreachable_after(main) - baseline < 300


def test_sleeps_and_ask_timeouts_leave_no_reference_cycle() -> None:
    class Silent(Agent):
        @on(Tick)
        async def tick(self, msg: Tick) -> None:
            await self.sleep(10)

    class Caller(Agent):
        def __init__(self, callee: AgentRef) -> None:
            self.callee = callee

        async def setup(self) -> None:
            for _ in range(500):
                await self.sleep(0.25)
                with contextlib.suppress(triomas.AskTimeout):
                    await self.ask(self.callee, Tick(0), timeout=0.5)

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            callee = await c.spawn(Silent)
            await c.spawn(Caller, callee)
            await c.run_until_idle()

    baseline = _unreachable_after(_nothing)
    assert _unreachable_after(main) - baseline < 300


async def test_idle_runs_cost_the_same_with_many_idle_agents(vc: triomas.Container) -> None:
    """Going idle drops ``ignore_if_idle`` alarms of the agents that have them, and only
    looks at those."""
    dropped: list[str] = []

    class Quiet(Agent):
        pass

    class Patient(Agent):
        async def setup(self) -> None:
            self.set_alarm(Tick(1), after=5.0, ignore_if_idle=True)

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            dropped.append("fired")  # pragma: no cover - the run goes idle first

    for i in range(200):
        await vc.spawn(Quiet, name=f"q{i}")
    patient = await vc.spawn(Patient)
    registry = vc._registry  # the bookkeeping under test
    await vc.run(iterations=1)
    assert list(registry.idle_alarms) == [registry.cells[patient.name]]
    report = await vc.run_until_idle()
    assert report.reason == "idle"
    assert not registry.idle_alarms
    assert dropped == []
    assert vc.clock.now() == 0.0


# ---- determinism at scale -----------------------------------------------------------------


class Wanderer(Agent):
    """Sleeps a random while, then sends to a random peer; replies in kind."""

    def __init__(self, peers: list[AgentRef]) -> None:
        self.peers = peers

    async def setup(self) -> None:
        await self.sleep(self.random.uniform(0, 3))
        self.send(self.peers[self.random.randrange(len(self.peers))], Tick(0))

    @on(Tick)
    def tick(self, msg: Tick, env: Envelope) -> None:
        if msg.n:
            self.set_alarm(Tick(msg.n - 1), after=self.random.uniform(0, 1))
        elif self.random.random() < 0.5:
            self.send(self.peers[self.random.randrange(len(self.peers))], Tick(0))


async def _digest(agents: int, seed: int) -> tuple[str, int]:
    recorder = TraceRecorder()
    peers: list[AgentRef] = []
    async with triomas.open_container(
        "local://scale", clock=triomas.VirtualClock(), seed=seed, trace=recorder
    ) as c:
        for i in range(agents):
            peers.append(await c.spawn(Wanderer, peers, name=f"w{i}"))
        await c.run_until_idle()
    text = str(recorder)
    return hashlib.sha256(text.encode()).hexdigest(), text.count("\trecv\t")


async def test_a_hundred_thousand_agents_repeat_byte_for_byte() -> None:
    runs = [await _digest(100_000, seed=5) for _ in range(3)]
    assert runs[0] == runs[1] == runs[2]
    assert runs[0][1] > 150_000  # every agent received its share
    assert (await _digest(1000, seed=6))[0] != (await _digest(1000, seed=5))[0]


def test_the_collector_threshold_is_widened_only_while_agents_step() -> None:
    """Messages and alarms in flight die young while agents step (see docs/performance.md);
    the user's own setting is back whenever the engine hands control to trio."""
    seen: list[tuple[int, int, int]] = []

    class Looker(Agent):
        async def setup(self) -> None:
            seen.append(gc.get_threshold())
            await self.sleep(1)
            seen.append(gc.get_threshold())

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            await c.spawn(Looker)
            await c.run_until_idle()
            seen.append(gc.get_threshold())

    old = gc.get_threshold()
    gc.set_threshold(500, 9, 8)
    try:
        trio.run(main)
        assert seen[0][0] >= 100_000
        assert seen[0][1:] == (9, 8)
        assert seen[1] == seen[0]
        assert seen[2] == (500, 9, 8)
        assert gc.get_threshold() == (500, 9, 8)
        gc.set_threshold(0)  # a user who turned the collector off keeps it off
        seen.clear()
        trio.run(main)
        assert seen == [(0, 9, 8)] * 3
    finally:
        gc.set_threshold(*old)


async def test_odd_sleeps_in_virtual_time(vc: triomas.Container) -> None:
    """NaN is refused at once, an endless sleep keeps nothing waiting, a negative one is
    an error, and the clock never reaches infinity."""
    outcome: list[object] = []

    class Odd(Agent):
        async def setup(self) -> None:
            for seconds in (math.nan, -1.0):
                try:
                    await self.sleep(seconds)
                except ValueError as exc:
                    outcome.append(str(exc))
            self.start_task(self.forever)
            try:
                await self.ask(self.ref, Tick(0), timeout=math.nan)
            except ValueError as exc:
                outcome.append(str(exc))

        async def forever(self) -> None:
            await self.sleep(math.inf)
            outcome.append("woke")  # pragma: no cover - it never does

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            pass

    await vc.spawn(Odd)
    report = await vc.run_until_idle()
    assert report.reason == "idle"
    assert vc.clock.now() == 0.0
    assert len(outcome) == 3
    assert "NaN" in str(outcome[0])
    assert "negative" in str(outcome[1])
    assert "timeout" in str(outcome[2])


async def test_many_virtual_clocks_in_one_run_share_one_watcher() -> None:
    """A trio run that makes many virtual containers installs one instrument, which looks
    only at the schedulers that are driving (none, between runs). Runs awaited by one
    task with nobody else driving advance in that task: no driver task is started."""
    from triomas._time import demands as _demands

    for _ in range(20):
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:

            class Napper(Agent):
                async def setup(self) -> None:
                    await self.sleep(1)

            await c.spawn(Napper)
            await c.run_until_idle()
    watcher = _demands._WATCHER.get()
    assert watcher.driving == []
    assert watcher.drivers == set()


async def test_setups_that_cannot_suspend_and_one_that_returns_an_awaitable(
    both: triomas.Container, autojump_clock: object
) -> None:
    """A plain ``setup()``, an ``async def`` one with no await point, and a plain one that
    returns an awaitable all finish before the agent's first message is handled."""
    log: list[tuple[str, float]] = []

    class Plain(Agent):
        def setup(self) -> None:
            log.append(("plain setup", self.clock.now()))

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            log.append((f"{self.name} tick", self.clock.now()))

    class NoAwait(Plain):
        async def setup(self) -> None:  # type: ignore[override]
            log.append(("no-await setup", self.clock.now()))

    class Returns(Plain):
        def setup(self) -> Awaitable[None]:  # type: ignore[override]
            log.append(("returns setup", self.clock.now()))
            return self.sleep(2)

    class Broken(Plain):
        def setup(self) -> None:
            raise RuntimeError("no")

    for cls in (Plain, NoAwait, Returns):
        ref = await both.spawn(cls, name=cls.__name__.lower())
        both.send(ref, Tick(0))
    broken = await both.spawn(Broken, restart="temporary")
    await both.run_until_idle()
    assert ("plain setup", 0.0) in log
    assert ("no-await setup", 0.0) in log
    assert ("returns setup", 0.0) in log
    assert ("plain tick", 0.0) in log
    assert ("noawait tick", 0.0) in log
    assert ("returns tick", 2.0) in log
    assert log.index(("returns setup", 0.0)) < log.index(("returns tick", 2.0))
    assert broken not in both.agents()


async def test_agents_spawned_while_paused_run_setup_and_hold_their_mail(
    both: triomas.Container, autojump_clock: object
) -> None:
    """Whether ``setup()`` can suspend or not, an agent spawned into a paused container
    is set up, and handles nothing until the container resumes."""
    log: list[str] = []

    class Sync(Agent):
        def setup(self) -> None:
            log.append(f"{self.name} setup")

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            log.append(f"{self.name} tick")

    class Async(Sync):
        async def setup(self) -> None:  # type: ignore[override]
            await self.sleep(0)
            log.append(f"{self.name} setup")

    both.pause()
    for cls in (Sync, Async):
        ref = await both.spawn(cls, name=cls.__name__.lower())
        both.send(ref, Tick(0))
    await both.clock.sleep(1)
    assert sorted(log) == ["async setup", "sync setup"]
    both.resume()
    await both.run_until_idle()
    assert sorted(log) == ["async setup", "async tick", "sync setup", "sync tick"]


async def test_alarms_for_another_agent_and_the_list_of_alarms(
    both: triomas.Container, autojump_clock: object
) -> None:
    """MASlite's alarms: one may be set for another agent (sent from the setter when
    due), and ``list_alarms()`` shows what is pending, in firing order."""
    got: list[tuple[str, int, float, str]] = []
    listed: list[object] = []

    class Receiver(Agent):
        @on(Tick)
        def tick(self, msg: Tick, env: Envelope) -> None:
            assert env.sender is not None
            got.append((self.name, msg.n, self.clock.now(), env.sender.name))

    class Setter(Agent):
        async def setup(self) -> None:
            self.set_alarm(Tick(1), after=3, to="r")
            self.set_alarm(Tick(2), after=1)
            self.set_alarm(Tick(3), after=2, to="r", topic="later")
            self.set_alarm(Note(9.0), after=1)
            listed.append(self.list_alarms())
            listed.append(self.list_alarms(msg_type=Note))
            listed.append(self.list_alarms(topic="later"))
            self.clear_alarms(msg_type=Note)
            listed.append(len(self.list_alarms()))

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append((self.name, msg.n, self.clock.now(), self.name))

    await both.spawn(Receiver, name="r")
    await both.spawn(Setter, name="s")
    await both.run_until_idle()
    assert listed[0] == [(1.0, Tick(2)), (1.0, Note(9.0)), (2.0, Tick(3)), (3.0, Tick(1))]
    assert listed[1] == [(1.0, Note(9.0))]
    assert listed[2] == [(2.0, Tick(3))]
    assert listed[3] == 3
    assert [(name, n, sender) for name, n, _, sender in got] == [
        ("s", 2, "s"),
        ("r", 3, "s"),
        ("r", 1, "s"),
    ]
    assert [round(t) for _, _, t, _ in got] == [1, 2, 3]


async def test_an_agent_that_pauses_the_container_ends_the_run(
    both: triomas.Container, autojump_clock: object
) -> None:
    """MASlite's ``pause()`` from inside an agent: the run ends ``"paused"``, not
    ``"idle"``, while mail still waits (the pausing agent finishes the step it is in);
    the next run resumes and handles it."""
    handled: list[tuple[str, int]] = []

    class Pauser(Agent):
        def __init__(self, peer: AgentRef | None) -> None:
            self.peer = peer

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            handled.append((self.name, msg.n))
            if self.peer is not None:
                self.container.pause()
                self.send(self.peer, Tick(msg.n + 1))

    peer = await both.spawn(Pauser, None, name="peer")
    ref = await both.spawn(Pauser, peer, name="pauser")
    both.send(ref, Tick(1))
    report = await both.run_until_idle()
    assert report.reason == "paused"
    assert both.paused
    assert handled == [("pauser", 1)]  # the peer's mail waits
    report = await both.run_until_idle()  # a run resumes a paused container
    assert report.reason == "idle"
    assert handled == [("pauser", 1), ("peer", 2)]

    class Timed(Agent):
        async def setup(self) -> None:
            await self.sleep(2)
            self.container.pause()
            await self.sleep(5)

    await both.spawn(Timed)
    start = both.clock.now()
    report = await both.run(seconds=10)
    assert report.reason == "paused"
    assert 2.0 <= both.clock.now() - start < 2.1


_REQUEST: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


async def test_each_agent_has_its_own_contextvars(
    both: triomas.Container, autojump_clock: object
) -> None:
    """A context variable one agent sets is not seen by another (OpenTelemetry's current
    span, structlog's bound context), in virtual time as in real time; a task an agent
    starts begins with a copy of the agent's, and its changes stay its own."""
    seen: list[tuple[str, str]] = []

    class Worker(Agent):
        async def setup(self) -> None:
            seen.append((self.name, _REQUEST.get()))
            _REQUEST.set(self.name)

        @on(Tick)
        async def tick(self, msg: Tick) -> None:
            seen.append((f"{self.name} tick", _REQUEST.get()))
            await self.sleep(1)
            seen.append((f"{self.name} after", _REQUEST.get()))

    class Plain(Agent):
        def setup(self) -> None:
            seen.append((self.name, _REQUEST.get()))
            _REQUEST.set("plain")

        @on(Tick)
        def tick(self, msg: Tick) -> None:
            seen.append((f"{self.name} tick", _REQUEST.get()))
            self.start_task(self.side)

        async def side(self) -> None:
            seen.append(("side", _REQUEST.get()))
            _REQUEST.set("side")

    _REQUEST.set("spawner")
    a = await both.spawn(Worker, name="a")
    b = await both.spawn(Worker, name="b")
    p = await both.spawn(Plain, name="p")
    for ref in (a, b, p):
        both.send(ref, Tick(0))
    await both.run_until_idle()
    both.send(p, Tick(1))
    await both.run_until_idle()
    got = dict(seen)
    assert got["a"] == got["b"] == got["p"] == "spawner"  # copied from the spawner
    assert got["a tick"] == got["a after"] == "a"
    assert got["b tick"] == got["b after"] == "b"
    assert [v for k, v in seen if k == "p tick"] == ["plain", "plain"]
    assert [v for k, v in seen if k == "side"] == ["plain", "plain"]


async def test_teardown_runs_exactly_when_setup_ran(
    both: triomas.Container, autojump_clock: object
) -> None:
    """An agent removed before its first step runs neither setup() nor teardown(); once
    setup() has run, teardown() runs whatever ends it."""
    log: list[str] = []

    class Logged(Agent):
        def setup(self) -> None:
            log.append(f"{self.name} setup")

        def teardown(self) -> None:
            log.append(f"{self.name} teardown")

    early = await both.spawn(Logged, name="early")
    await both.remove(early)
    late = await both.spawn(Logged, name="late")
    await both.run_until_idle()
    await both.remove(late)
    assert log == ["late setup", "late teardown"]


def test_an_agent_made_by_hand_is_refused_at_once() -> None:
    """aiomas, MASPY and MASlite users write ``HelloWorld(c, "Monty")``."""

    class HelloWorld(Agent):
        def __init__(self, name: str) -> None:
            self.greeting = f"hello {name}"

    with pytest.raises(TypeError, match=r"container\.spawn\(.*HelloWorld"):
        HelloWorld("Monty")

    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            ref = await c.spawn(HelloWorld, "Monty")
            assert c.agent(ref, HelloWorld).greeting == "hello Monty"

    trio.run(main)


async def test_send_refuses_what_is_not_a_message_or_a_recipient(
    both: triomas.Container, autojump_clock: object
) -> None:
    """Locally anything would pass, and fail later or in silence (a class sent where an
    instance belongs is the commonest slip)."""
    errors: list[str] = []

    class Sloppy(Agent):
        @on(Tick)
        async def tick(self, msg: Tick) -> None:
            for attempt in (
                lambda: self.send(self.ref, {"n": 1}),  # type: ignore[arg-type]
                lambda: self.send(self.ref, Tick),
                lambda: self.send(None, Tick(1)),  # type: ignore[arg-type]
                lambda: self.publish(42),
            ):
                try:
                    attempt()
                except TypeError as exc:
                    errors.append(str(exc))
            try:
                await self.ask(42, Tick(1))  # type: ignore[arg-type]
            except TypeError as exc:
                errors.append(str(exc))

    ref = await both.spawn(Sloppy)
    with pytest.raises(TypeError, match="class Tick where a message belongs"):
        both.send(ref, Tick)
    with pytest.raises(TypeError, match="needs a recipient"):
        both.send(42, Tick(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="@message instance"):
        await both.ask(ref, object())
    with pytest.raises(TypeError, match="@message instance"):
        both.publish("hello")
    both.send(ref, Tick(0))
    await both.run_until_idle()
    assert len(errors) == 5
    assert "@message instance" in errors[0]
    assert "dict" in errors[0]
    assert "send an instance, Tick(...)" in errors[1]
    assert "needs a recipient" in errors[2]
    assert "publish()" in errors[3]
    assert "ask()" in errors[4]
    assert "needs a recipient" in errors[4]


async def test_the_container_lists_the_agents_that_failed(
    both: triomas.Container, autojump_clock: object
) -> None:
    """A program whose only agent crashes in setup() can see it, and exit non-zero."""

    class Broken(Agent):
        def setup(self) -> None:
            raise RuntimeError("no database")

    class Fine(Agent):
        pass

    class Flaky(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            raise ValueError("bad tick")

    broken = await both.spawn(Broken)
    await both.spawn(Fine)
    flaky = await both.spawn(Flaky, restart="temporary")
    both.send(flaky, Tick(0))
    await both.run_until_idle()
    failures = dict(both.failures)  # in the order they stopped, which real time decides
    assert sorted(failures) == sorted([broken, flaky])
    assert isinstance(failures[broken], triomas.Failure)
    assert "no database" in str(failures[broken].exception)
    assert isinstance(failures[flaky].exception, ValueError)


@pytest.mark.parametrize(
    ("to", "says"),
    [
        ("localhost:5555/x", "not an agent address"),
        ("tcp:/host:1/x", "not an agent address"),
        ("TCP://host:1/x", "lowercase"),
        ("tcp://host:99999/x", "port from 0 to 65535"),
        ("tcp://host/x", "port from 0 to 65535"),
        ("local://c1/", "no agent name"),
    ],
)
async def test_a_recipient_that_is_no_address_is_an_error(
    vc: triomas.Container, to: str, says: str
) -> None:
    """Not a local name that does not exist (a dead letter): agent names have no '/'."""
    with pytest.raises(ValueError, match=says):
        vc.send(to, Tick(0))

    refused: list[str] = []

    class Sender(Agent):
        async def setup(self) -> None:
            try:
                self.send(to, Tick(0))
            except ValueError as exc:
                refused.append(str(exc))
            try:
                await self.ask(to, Tick(0))
            except ValueError as exc:
                refused.append(str(exc))

    await vc.spawn(Sender)
    await vc.run_until_idle()
    assert len(refused) == 2
    assert all(says in text for text in refused)
    assert vc.dead_letter_counts.total() == 0


async def test_a_message_to_a_class_reaches_its_subclasses_too(
    both: triomas.Container, autojump_clock: object
) -> None:
    """As ``@on(Base)`` dispatch and pykka's ``broadcast(target_class=)`` do; a class
    *name* (MASlite's receivers) still means exactly that class."""
    got: list[str] = []

    class Animal(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append(f"{self.name} {msg.n}")

    class Dog(Animal):
        pass

    await both.spawn(Animal, name="generic")
    await both.spawn(Dog, name="rex")
    both.send(Animal, Tick(1))
    both.send("Animal", Tick(2))
    both.send(Dog, Tick(3))
    await both.run_until_idle()
    assert sorted(got) == ["generic 1", "generic 2", "rex 1", "rex 3"]


async def test_a_class_name_or_group_after_an_address_works_between_local_containers() -> None:
    """As over TCP: ``local://c2/Shop`` reaches c2's agents of class Shop, and
    ``local://c2/night`` its receiver group, from another local container or its own."""
    got: list[str] = []

    class Shop(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append(f"{self.name} {msg.n}")

    clock = triomas.VirtualClock()
    async with (
        triomas.open_container("local://c1", clock=clock) as c1,
        triomas.open_container("local://c2", clock=clock) as c2,
    ):
        await c2.spawn(Shop, name="s1")
        guard = await c2.spawn(Shop, name="s2")
        c2.agent(guard, Shop).subscribe(receiver="night")
        c1.send("local://c2/Shop", Tick(1))
        c1.send("local://c2/night", Tick(2))
        c2.send("local://c2/Shop", Tick(3))
        await c1.run_until_idle()
        assert c1.dead_letter_counts.total() == 0
        assert c2.dead_letter_counts.total() == 0
    assert sorted(got) == ["s1 1", "s1 3", "s2 1", "s2 2", "s2 3"]


async def test_subscribing_to_an_agents_name_tracks_its_mail(
    both: triomas.Container, autojump_clock: object
) -> None:
    """MASlite's receiver tracking: ``subscribe(receiver="bob")`` where bob is an agent
    gets a copy of bob's mail (it used to join a group named bob, which bob's name
    shadowed: silently nothing); an agent cannot take the name of a receiver group."""
    got: list[tuple[str, int]] = []

    class Keeper(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append((self.name, msg.n))

    bob = await both.spawn(Keeper, name="bob")
    spy = await both.spawn(Keeper, name="spy")
    both.agent(spy, Keeper).subscribe(receiver="bob")
    both.send(bob, Tick(1))
    both.send("bob", Tick(2))
    await both.run_until_idle()
    assert sorted(got) == [("bob", 1), ("bob", 2), ("spy", 1), ("spy", 2)]
    both.agent(spy, Keeper).unsubscribe(receiver="bob")
    both.send(bob, Tick(3))
    await both.run_until_idle()
    assert ("spy", 3) not in got
    both.agent(spy, Keeper).subscribe(receiver="night")
    with pytest.raises(triomas.NameTaken, match="receiver group"):
        await both.spawn(Keeper, name="night")


async def test_a_sender_tracking_with_a_topic_or_receiver_is_one_filter(
    both: triomas.Container, autojump_clock: object
) -> None:
    """``subscribe(sender=, topic=)`` and ``subscribe(sender=, receiver=)`` are one filter
    (both must match), as in MASlite; not two subscriptions, either of which matches."""
    got: list[tuple[str, str, int]] = []

    @message(tag="sim_engine.Other")
    class Other:
        n: int

    class Keeper(Agent):
        @on(Tick)
        def tick(self, msg: Tick, env: Envelope) -> None:
            got.append((self.name, "Tick", msg.n))

        @on(Other)
        def other(self, msg: Other) -> None:
            got.append((self.name, "Other", msg.n))

    ann = await both.spawn(Keeper, name="ann")
    await both.spawn(Keeper, name="bob")
    await both.spawn(Keeper, name="cy")
    by_topic = await both.spawn(Keeper, name="by_topic")
    to_bob = await both.spawn(Keeper, name="to_bob")
    both.agent(by_topic, Keeper).subscribe(sender="ann", topic=Tick)
    both.agent(to_bob, Keeper).subscribe(sender="ann", receiver="bob")
    a = both.agent(ann, Keeper)
    a.send("bob", Tick(1))
    a.send("cy", Other(2))
    a.send("cy", Tick(3))
    a.send("bob", Other(4))
    both.send("cy", Tick(5))  # not from ann: no copy at all
    a.publish(Tick(6))  # nobody subscribed to the topic: a dead letter, and one copy
    await both.run_until_idle()
    copies = sorted((name, kind, n) for name, kind, n in got if name in ("by_topic", "to_bob"))
    assert copies == [
        ("by_topic", "Tick", 1),
        ("by_topic", "Tick", 3),
        ("by_topic", "Tick", 6),
        ("to_bob", "Other", 4),
        ("to_bob", "Tick", 1),
    ]
    both.agent(by_topic, Keeper).unsubscribe(sender="ann", topic=Tick)
    a.send("bob", Tick(7))
    await both.run_until_idle()
    assert ("by_topic", "Tick", 7) not in got


async def test_failures_are_kept_bounded_and_a_later_subscription_wins(
    vc: triomas.Container,
) -> None:
    """A long-lived service may see many failures: the container keeps the last ones
    (each holds its traceback's frames). Subscribing to a sender again without a filter
    drops the filter made before."""
    from triomas._runtime.registry import FAILURES_KEPT

    class Broken(Agent):
        def setup(self) -> None:
            raise RuntimeError("no")

    for i in range(FAILURES_KEPT + 20):
        await vc.spawn(Broken, name=f"b{i}")
    await vc.run_until_idle()
    names = [ref.name for ref, _ in vc.failures]
    assert len(names) == FAILURES_KEPT
    assert names[-1] == f"b{FAILURES_KEPT + 19}"

    got: list[int] = []

    class Keeper(Agent):
        @on(Tick)
        def tick(self, msg: Tick) -> None:
            got.append(msg.n)

        @on(Note)
        def note(self, msg: Note) -> None:
            got.append(int(msg.t))

    ann = await vc.spawn(Keeper, name="ann")
    spy = await vc.spawn(Keeper, name="spy")
    await vc.spawn(Keeper, name="bob")
    vc.agent(spy, Keeper).subscribe(sender="ann", topic=Tick)
    vc.agent(spy, Keeper).subscribe(sender="ann")  # everything from ann, after all
    vc.agent(ann, Keeper).send("bob", Note(7.0))
    await vc.run_until_idle()
    assert got == [7, 7]  # bob's, and the spy's copy

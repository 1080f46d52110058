"""The agent lifecycle: setup, update, teardown always; names; stop order; tasks."""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import triomas
from triomas import (
    Agent,
    AgentStarted,
    AgentStateError,
    AgentStopped,
    CalleeDown,
    DeadLetter,
    DeadLetterReason,
    Failure,
    NameTaken,
    Normal,
    Shutdown,
    message,
    on,
)


@message
class Note:
    text: str


@message(tag="lifecycle.Unheard")
class Unheard:
    n: int


@message
class Crash:
    pass


@message
class Stop:
    pass


class Recorder(Agent):
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def setup(self) -> None:
        self.log.append(f"{self.name} setup")

    def teardown(self) -> None:
        self.log.append(f"{self.name} teardown")

    @on(Note)
    def note(self, msg: Note) -> None:
        self.log.append(f"{self.name} {msg.text}")

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("boom")

    @on(Stop)
    def stop_me(self, msg: Stop) -> None:
        self.stop()


def both_clocks() -> pytest.MarkDecorator:
    return pytest.mark.parametrize("clock", [triomas.VirtualClock, triomas.RealClock])


@both_clocks()
async def test_teardown_always_runs_once(
    clock: type[triomas.Clock], autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    events: list[object] = []
    async with triomas.open_container(clock=clock()) as c:
        c.on_event(events.append)
        normal = await c.spawn(Recorder, log, name="normal")
        failing = await c.spawn(Recorder, log, name="failing", restart="temporary")
        restarted = await c.spawn(Recorder, log, name="restarted")
        removed = await c.spawn(Recorder, log, name="removed")
        await c.spawn(Recorder, log, name="shutdown")
        c.send(normal, Stop())
        c.send(failing, Crash())
        c.send(restarted, Crash())
        await c.run_until_idle()
        await c.remove(removed)
    assert sorted(line for line in log if line.endswith("teardown")) == [
        "failing teardown",
        "normal teardown",
        "removed teardown",
        "restarted teardown",  # the incarnation that crashed
        "restarted teardown",  # the next one, at the container's stop
        "shutdown teardown",
    ]
    stopped = {e.ref.name: e.reason for e in events if isinstance(e, AgentStopped)}
    assert stopped["normal"] == Normal()
    assert isinstance(stopped["failing"], Failure)
    assert stopped["removed"] == Shutdown("removed")
    assert stopped["shutdown"] == Shutdown("container stopped")
    assert stopped["restarted"] == Shutdown("container stopped")
    assert sum(isinstance(e, AgentStarted) for e in events) == 5  # one per agent, not per start


async def test_container_stops_agents_in_reverse_spawn_order(vc: triomas.Container) -> None:
    log: list[str] = []
    for name in "abc":
        await vc.spawn(Recorder, log, name=name)
    await vc.run_until_idle()
    await vc.stop()
    assert log == ["a setup", "b setup", "c setup", "c teardown", "b teardown", "a teardown"]
    assert vc.agents() == []


async def test_slow_teardowns_stop_one_after_another() -> None:
    ended: list[tuple[str, float]] = []

    class Slow(Agent):
        async def teardown(self) -> None:
            await self.sleep(0.5)
            ended.append((self.name, self.clock.now()))

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        for name in "abc":
            await c.spawn(Slow, name=name)
        await c.run(seconds=1)
    assert ended == [("c", 1.5), ("b", 2.0), ("a", 2.5)]


async def test_names_are_unique_and_stable(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    first = await both.spawn(Recorder, log)
    second = await both.spawn(Recorder, log)
    assert (first.name, second.name) == ("Recorder-1", "Recorder-2")
    with pytest.raises(NameTaken):
        await both.spawn(Recorder, log, name="Recorder-1")
    await both.spawn(Recorder, log, name="Recorder-3")
    assert (await both.spawn(Recorder, log)).name == "Recorder-4"
    with pytest.raises(ValueError, match="'/'"):
        await both.spawn(Recorder, log, name="a/b")
    with pytest.raises(TypeError):
        await both.spawn(int)  # type: ignore[type-var]
    assert both.lookup("Recorder-2") == second
    assert both.lookup("nope") is None


async def test_update_runs_once_after_setup_then_with_messages(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    calls: list[tuple[float, int]] = []

    class Counter(Agent):
        def update(self) -> None:
            calls.append((self.clock.now(), len(self.messages)))
            self.messages.clear()

    ref = await both.spawn(Counter)
    await both.run_until_idle()
    both.send(ref, Note("x"))
    both.send(ref, Note("y"))
    await both.run_until_idle()
    assert calls == [(0.0, 0), (0.0, 2)]


async def test_keep_awake_updates_every_round(vc: triomas.Container) -> None:
    rounds: list[int] = []

    class Busy(Agent):
        keep_awake = True

        def update(self) -> None:
            rounds.append(self.container.round)
            if len(rounds) == 5:
                self.stop()

    await vc.spawn(Busy)
    await vc.join()
    assert rounds == [1, 2, 3, 4, 5]


async def test_stop_with_queued_messages_makes_dead_letters(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)

    class Stuck(Agent):
        @on(Note)
        async def note(self, msg: Note) -> str:
            if msg.text == "first":
                await self.sleep(10)
            return msg.text

    ref = await both.spawn(Stuck)
    await both.run_until_idle()
    for text in ("first", "a", "b", "c"):
        both.send(ref, Note(text))
    outcome: list[object] = []

    async def asker() -> None:
        try:
            outcome.append(await both.ask(ref, Note("asked"), timeout=None))
        except CalleeDown as exc:
            outcome.append((both.clock.now(), exc.reason))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(asker)
        await both.run(seconds=1)
        await both.remove(ref, timeout=2)
    assert both.clock.now() == 3.0  # graceful for 2 s, then cancelled
    dead = [e for e in events if isinstance(e, DeadLetter)]
    assert [d.message for d in dead] == [Note("a"), Note("b"), Note("c"), Note("asked")]
    assert {d.reason for d in dead} == {DeadLetterReason.RECIPIENT_STOPPED}
    assert outcome == [(3.0, Shutdown("removed"))]


async def test_tell_to_a_stopped_agent_is_a_dead_letter(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    log: list[str] = []
    ref = await both.spawn(Recorder, log)
    await both.remove(ref)
    both.send(ref, Note("late"))
    both.send("ghost", Note("nobody"))
    dead = [(e.message, e.reason) for e in events if isinstance(e, DeadLetter)]
    assert dead == [
        (Note("late"), DeadLetterReason.UNKNOWN_RECIPIENT),
        (Note("nobody"), DeadLetterReason.UNKNOWN_RECIPIENT),
    ]


async def test_dead_letters_reach_subscribed_agents(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[DeadLetter] = []

    class Watcher(Agent):
        def setup(self) -> None:
            self.subscribe(topic=DeadLetter)

        @on(DeadLetter)
        def dead(self, letter: DeadLetter) -> None:
            seen.append(letter)

    await both.spawn(Watcher)
    await both.run_until_idle()
    both.send("ghost", Note("x"))
    await both.run_until_idle()
    assert [d.message for d in seen] == [Note("x")]


async def test_no_handler_is_a_dead_letter_for_tells(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    ref = await both.spawn(Recorder, [])
    both.send(ref, Unheard(42))  # a message the Recorder has no handler for
    await both.run_until_idle()
    dead = [e for e in events if isinstance(e, DeadLetter)]
    assert [(d.message, d.reason) for d in dead] == [(Unheard(42), DeadLetterReason.NO_HANDLER)]
    assert both.lookup(ref.name) == ref  # the agent carries on


async def test_setup_failure_stops_the_agent(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    torn: list[str] = []

    class Fragile(Agent):
        def setup(self) -> None:
            raise KeyError("missing")

        def teardown(self) -> None:
            torn.append(self.name)

    await both.spawn(Fragile)
    await both.run_until_idle()
    stopped = [e for e in events if isinstance(e, AgentStopped)]
    assert len(stopped) == 1
    assert isinstance(stopped[0].reason, Failure)
    assert isinstance(stopped[0].reason.exception, KeyError)
    assert torn == ["Fragile-1"]


@both_clocks()
async def test_tasks_and_concurrent_handlers(
    clock: type[triomas.Clock], autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[str, float]] = []

    class Worker(Agent):
        async def setup(self) -> None:
            self.start_task(self.ticker)

        async def ticker(self) -> None:
            for _ in range(3):
                await self.sleep(1)
                log.append(("tick", round(self.clock.now())))

        @on(Note, concurrent=True)
        async def slow(self, msg: Note) -> str:
            await self.sleep(2)
            log.append((msg.text, round(self.clock.now())))
            return msg.text.upper()

    async with triomas.open_container(clock=clock()) as c:
        ref = await c.spawn(Worker)
        async with trio.open_nursery() as nursery:
            for text in ("x", "y"):
                nursery.start_soon(c.ask, ref, Note(text))
            await c.run_until_idle()
        assert sorted(log) == [("tick", 1), ("tick", 2), ("tick", 3), ("x", 2), ("y", 2)]
        assert await c.ask(ref, Note("z")) == "Z"


@both_clocks()
async def test_a_crashing_task_crashes_the_agent(
    clock: type[triomas.Clock], autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    torn: list[float] = []

    class Doomed(Agent):
        async def setup(self) -> None:
            self.start_task(self.fail_later)

        async def fail_later(self) -> None:
            await self.sleep(1)
            raise OSError("disk")

        @on(Note)
        async def note(self, msg: Note) -> None:
            await self.sleep(100)

        def teardown(self) -> None:
            torn.append(self.clock.now())

    async with triomas.open_container(clock=clock()) as c:
        c.on_event(events.append)
        ref = await c.spawn(Doomed, restart="temporary")
        with pytest.raises(CalleeDown):
            await c.ask(ref, Note("hang"), timeout=None)
    stopped = [e for e in events if isinstance(e, AgentStopped)]
    assert isinstance(stopped[0].reason, Failure)
    assert torn == [pytest.approx(1.0)]


async def test_start_task_after_stop_is_refused(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[Exception] = []

    class Late(Agent):
        async def noop(self) -> None:
            pass

        def teardown(self) -> None:
            try:
                self.start_task(self.noop)
            except AgentStateError as exc:
                errors.append(exc)

    await both.spawn(Late)
    await both.run_until_idle()
    await both.stop()
    assert len(errors) == 1


async def test_pause_and_resume(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[str] = []
    ref = await both.spawn(Recorder, log, name="r")
    await both.run_until_idle()
    both.pause()
    both.send(ref, Note("held"))
    # a paused container handles nothing, even while the simulation runs
    await both.clock.sleep(1)
    assert log == ["r setup"]
    both.resume()
    await both.run_until_idle()
    assert log == ["r setup", "r held"]


async def test_messages_in_flight_to_a_removed_agent_are_dead_letters(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    ref = await both.spawn(Recorder, [])
    both.send(ref, Note("in flight"))  # delivered when the round ends, in virtual time
    await both.remove(ref)
    dead = [(e.message, e.reason) for e in events if isinstance(e, DeadLetter)]
    assert dead == [(Note("in flight"), DeadLetterReason.RECIPIENT_STOPPED)]
    await both.run_until_idle()
    assert len([e for e in events if isinstance(e, DeadLetter)]) == 1


async def test_receive_on_an_empty_mailbox_is_an_index_error(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[Exception] = []

    class Eager(Agent):
        def update(self) -> None:
            try:
                self.receive()
            except IndexError as exc:
                errors.append(exc)

    await both.spawn(Eager)
    await both.run_until_idle()
    assert len(errors) == 1
    assert "no message is waiting" in str(errors[0])


@both_clocks()
async def test_a_concurrent_handler_cut_off_by_stop_fails_its_caller(
    clock: type[triomas.Clock], autojump_clock: trio.testing.MockClock
) -> None:
    class Helper(Agent):
        @on(Note, concurrent=True)
        async def note(self, msg: Note) -> str:
            await self.sleep(10)
            return msg.text

    async with triomas.open_container(clock=clock()) as c:
        ref = await c.spawn(Helper)
        outcome: list[object] = []

        async def asker() -> None:
            try:
                outcome.append(await c.ask(ref, Note("x"), timeout=None))
            except CalleeDown as exc:
                outcome.append(exc.reason)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(asker)
            await c.run(seconds=1)
            await c.remove(ref)
        assert outcome == [Shutdown("removed")]


async def test_a_failing_teardown_is_logged_and_the_agent_still_stops(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Messy(Agent):
        async def teardown(self) -> None:
            raise OSError("cannot close")

    ref = await both.spawn(Messy)
    await both.run_until_idle()
    await both.remove(ref)
    assert both.agents() == []
    assert "teardown of agent" in caplog.text


async def test_dead_letter_logging_is_throttled(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("INFO", logger="triomas.deadletters")
    for n in range(20):
        both.send("ghost", Note(str(n)))
    lines = [r.getMessage() for r in caplog.records if r.name == "triomas.deadletters"]
    assert len(lines) == 11  # ten letters, then one line saying the rest is not logged
    assert "Note(text='9')" in lines[9]
    assert "not logged for 300 s" in lines[10]
    await both.clock.sleep(299)
    both.send("ghost", Note("still quiet"))
    assert len([r for r in caplog.records if r.name == "triomas.deadletters"]) == 11
    await both.clock.sleep(1)
    both.send("ghost", Note("again"))
    lines = [r.getMessage() for r in caplog.records if r.name == "triomas.deadletters"]
    assert "11 dead letters (unknown recipient) were not logged" in lines[11]
    assert "Note(text='again')" in lines[12]
    assert both.dead_letter_counts[DeadLetterReason.UNKNOWN_RECIPIENT] == 22


async def test_dead_letters_are_warnings_throttled_per_reason(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Python shows WARNING by default: a misspelt name must not pass in silence; a
    flood of one reason does not hide the first letter of another."""
    caplog.set_level("WARNING", logger="triomas.deadletters")
    for n in range(30):
        both.send("ghost", Note(str(n)))  # unknown recipient: 10 lines, then quiet
    both.publish(Note("nobody listens"))  # no subscribers: still logged
    records = [r for r in caplog.records if r.name == "triomas.deadletters"]
    assert {r.levelno for r in records} == {logging.WARNING}
    assert any("nobody listens" in r.getMessage() for r in records)
    assert len([r for r in records if "ghost" in r.getMessage()]) == 10

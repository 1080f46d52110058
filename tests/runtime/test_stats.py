"""``Container.stats()``: messages in, handled and out, and handler time, per agent, on
every path a message takes (issue 18's observability), in both engines."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
import trio

import triomas
from triomas import Agent, Down, message, on
from triomas._runtime import dispatch, mailbox


@message(tag="stats.Note")
class Note:
    n: int


@message(tag="stats.Nap")
class Nap:
    seconds: float


@message(tag="stats.Relay")
class Relay:
    to: str
    times: int


class Counter(Agent):
    """Handles Notes (and asks of them), naps on Nap, relays on Relay."""

    def __init__(self) -> None:
        self.notes = 0

    def setup(self) -> None:
        self.subscribe(topic="news")

    @on(Note)
    def note(self, msg: Note) -> int:
        self.notes += 1
        return msg.n

    @on(Nap)
    async def nap(self, msg: Nap) -> None:
        await self.sleep(msg.seconds)

    @on(Relay)
    async def relay(self, msg: Relay) -> None:
        for n in range(msg.times):
            self.send(msg.to, Note(n))  # by name: the tell fast path
        await self.ask(msg.to, Note(-1))
        self.publish(Note(0), topic="news")
        self.send(msg.to, Note(0), topic="with an option")  # the router's general path

    @on(Down)
    def down(self, msg: Down) -> None:
        pass


def _clock(live: bool) -> triomas.VirtualClock | None:
    return None if live else triomas.VirtualClock()


async def _settle(c: triomas.Container, live: bool) -> None:
    if live:
        await trio.testing.wait_all_tasks_blocked()
    else:
        await c.run(until_idle=True)


@pytest.mark.parametrize("live", [True, False], ids=["live", "virtual"])
def test_every_path_counts_in_handled_and_out(live: bool) -> None:
    async def main() -> triomas.ContainerStats:
        async with triomas.open_container(clock=_clock(live)) as c:
            await c.spawn(Counter, name="a")
            await c.spawn(Counter, name="b")
            for n in range(3):
                c.send("b", Note(n))  # from outside, by name
            assert await c.ask("b", Note(7)) == 7  # from outside: counts, and is handled
            c.send("a", Relay("b", 5))
            await _settle(c, live)
            c.publish(Note(1), topic="news")  # both subscribers: one sent, two in
            await _settle(c, live)
            return c.stats()

    stats = trio.run(main)
    a, b = stats.agent("a"), stats.agent("b")
    # a: the Relay and the outside publish arrived; it sent 5 tells, an ask, a
    # publish and a tell with an option; the answer to its ask is no message.
    assert (a.received, a.handled, a.sent, a.mailbox) == (3, 3, 8, 0)
    # b: 3 tells and an ask from outside, 5 tells, an ask, a tell with an option
    # and two publishes: 12 notes, handled, and it sent nothing (answers are no sends).
    assert (b.received, b.handled, b.sent, b.mailbox) == (13, 13, 0, 0)
    assert stats.outside_sent == 6  # 3 tells, an ask, a tell (the Relay), a publish
    if live:
        assert a.handler_time is not None
        assert b.handler_time is not None
        assert a.handler_time > 0.0
        assert b.handler_time > 0.0
    else:  # wall clock is not read in virtual time
        assert (a.handler_time, b.handler_time) == (None, None)
    as_dict = stats.as_dict()
    assert as_dict["outside_sent"] == 6
    assert as_dict["agents"][0]["handler_time"] == stats.agents[0].handler_time
    with pytest.raises(KeyError):
        stats.agent("nobody")


def test_a_system_message_counts_in() -> None:
    async def main() -> triomas.ContainerStats:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            watcher = await c.spawn(Counter, name="watcher")
            doomed = await c.spawn(Counter, name="doomed")
            c.agent(watcher, Counter).monitor(doomed)
            c.agent(doomed, Counter).stop()
            await c.run(until_idle=True)
            return c.stats()

    watcher = trio.run(main).agent("watcher")
    assert (watcher.received, watcher.handled) == (1, 1)  # the Down


def test_waiting_and_in_flight_messages_count_in_before_they_are_handled() -> None:
    async def main() -> None:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            await c.spawn(Counter, name="b")
            for n in range(4):
                c.send("b", Note(n))
            b = c.stats().agent("b")
            assert (b.received, b.mailbox, b.handled) == (4, 4, 0)  # in this round's outbox
            await c.run(until_idle=True)
            b = c.stats().agent("b")
            assert (b.received, b.mailbox, b.handled) == (4, 0, 4)

    trio.run(main)


class _FakeClock:
    """Stands for the wall clock that handler time is read from: handlers advance it."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Slow(Agent):
    """Each Note 'takes' 2.5 s of the fake wall clock; a Nap awaits on top of that."""

    def __init__(self, clock: _FakeClock) -> None:
        self.wall = clock

    @on(Note)
    def note(self, msg: Note) -> int:
        self.wall.now += 2.5
        return msg.n

    @on(Nap)
    async def nap(self, msg: Nap) -> None:
        self.wall.now += 1.0
        await self.sleep(msg.seconds)
        self.wall.now += 1.0


def test_handler_time_is_the_wall_time_inside_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = _FakeClock()
    monkeypatch.setattr(dispatch, "_clock", wall)
    monkeypatch.setattr(mailbox, "_clock", wall)

    async def main(send: Callable[[triomas.Container], Awaitable[None]]) -> float | None:
        async with triomas.open_container() as c:
            await c.spawn(Slow, wall, name="slow")
            await send(c)
            await _settle(c, live=True)
            wall.now += 50.0  # time outside any handler does not count
            return c.stats().agent("slow").handler_time

    async def tells(c: triomas.Container) -> None:
        for n in range(4):
            c.send("slow", Note(n))

    async def asks(c: triomas.Container) -> None:  # handled in the asker's task
        for n in range(3):
            await c.ask("slow", Note(n))

    async def naps(c: triomas.Container) -> None:
        c.send("slow", Nap(0.0))

    assert trio.run(main, tells) == 10.0
    assert trio.run(main, asks) == 7.5
    assert trio.run(main, naps) == 2.0


class Concurrent(Agent):
    """Its Naps run as tasks of their own, beside the mailbox."""

    def __init__(self, clock: _FakeClock) -> None:
        self.wall = clock

    @on(Nap, concurrent=True)
    async def nap(self, msg: Nap) -> None:
        self.wall.now += 1.5
        await self.sleep(msg.seconds)


def test_handler_time_counts_concurrent_handlers(monkeypatch: pytest.MonkeyPatch) -> None:
    wall = _FakeClock()
    monkeypatch.setattr(dispatch, "_clock", wall)

    async def main() -> float | None:
        async with triomas.open_container() as c:
            await c.spawn(Concurrent, wall, name="worker")
            c.send("worker", Nap(0.0))
            await trio.testing.wait_all_tasks_blocked()
            return c.stats().agent("worker").handler_time

    # the task's 1.5 s; the batch that started it took none of the clock. (Two at once
    # would each count the other's time too: wall clock, awaits included.)
    assert trio.run(main) == 1.5

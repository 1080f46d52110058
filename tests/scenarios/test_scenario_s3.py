"""Scenario S3: topic broadcast, class-name receivers, trackers, unsubscribe on removal."""

from __future__ import annotations

import trio.testing

import triomas
from triomas import Agent, DeadLetter, DeadLetterReason, Envelope, message, on


@message
class Hello:
    sender: str


class Listener(Agent):
    def __init__(self, inbox: dict[str, list[object]]) -> None:
        self.inbox = inbox

    @on(Hello)
    def hello(self, msg: Hello, env: Envelope) -> None:
        self.inbox.setdefault(self.name, []).append((msg.sender, env.receiver, env.topic))


class A(Listener):
    pass


class B(Listener):
    def setup(self) -> None:
        self.subscribe(topic="Hello")


async def spawn_abcd(c: triomas.Container) -> dict[str, list[object]]:
    inbox: dict[str, list[object]] = {}
    for name in "ab":
        await c.spawn(A, inbox, name=name)
    for name in "cd":
        await c.spawn(B, inbox, name=name)
    await c.run_until_idle()
    return inbox


async def test_broadcast_reaches_subscribers_only(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = await spawn_abcd(both)
    both.agent("a").publish(Hello("a"))
    await both.run_until_idle()
    assert inbox == {"c": [("a", None, "Hello")], "d": [("a", None, "Hello")]}


async def test_broadcast_to_nobody_is_counted_and_reported(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    await spawn_abcd(both)
    both.agent("a").publish(Hello("a"), topic="Nobody")
    await both.run_until_idle()
    dead = [e for e in events if isinstance(e, DeadLetter)]
    assert dead == [DeadLetter(Hello("a"), both.lookup("a"), None, DeadLetterReason.NO_SUBSCRIBERS)]
    assert both.dead_letter_counts[DeadLetterReason.NO_SUBSCRIBERS] == 1


async def test_class_name_reaches_every_agent_of_the_class(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    # Decision: class names are receivers automatically (legacy MASlite behaviour).
    inbox = await spawn_abcd(both)
    both.agent("a").send("B", Hello("a"))
    await both.run_until_idle()
    assert inbox == {"c": [("a", "B", "Hello")], "d": [("a", "B", "Hello")]}


async def test_explicit_receiver_group_has_no_duplicates(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = await spawn_abcd(both)
    for name in "cd":
        both.agent(name).subscribe(receiver="B")
    both.agent("b").subscribe(receiver="Team")
    both.agent("a").send("B", Hello("a"))
    both.agent("a").send("Team", Hello("a"))
    await both.run_until_idle()
    assert inbox == {
        "c": [("a", "B", "Hello")],
        "d": [("a", "B", "Hello")],
        "b": [("a", "Team", "Hello")],
    }


async def test_tracker_sees_everything_a_sends_unless_direct(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = await spawn_abcd(both)
    both.agent("b").subscribe(sender="a")
    a = both.agent("a")
    a.send("c", Hello("to c"))
    a.publish(Hello("published"))
    a.send("d", Hello("direct"), direct=True)
    await both.run_until_idle()
    # one agent, named, is the receiver as its reference (as on the wire); a group or a
    # class stays the name written
    c, d = both.lookup("c"), both.lookup("d")
    assert inbox["b"] == [("to c", c, "Hello"), ("published", None, "Hello")]
    assert inbox["c"] == [("to c", c, "Hello"), ("published", None, "Hello")]
    assert inbox["d"] == [("published", None, "Hello"), ("direct", d, "Hello")]


async def test_removal_unsubscribes_everything(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = await spawn_abcd(both)
    await both.remove("d")
    both.agent("a").publish(Hello("a"))
    both.agent("a").send("B", Hello("by class"))
    await both.run_until_idle()
    assert inbox == {"c": [("a", None, "Hello"), ("by class", "B", "Hello")]}
    assert both.lookup("d") is None


async def test_unsubscribe_one_and_all(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    inbox = await spawn_abcd(both)
    c = both.agent("c")
    c.subscribe(topic=Hello)  # a class stands for its name: same subscription
    c.subscribe(sender="a")
    c.unsubscribe(topic="Hello")
    both.agent("a").publish(Hello("one"))
    await both.run_until_idle()
    assert inbox["c"] == [("one", None, "Hello")]  # as a tracker of a
    c.unsubscribe()
    both.agent("a").publish(Hello("two"))
    await both.run_until_idle()
    assert inbox["c"] == [("one", None, "Hello")]
    assert inbox["d"] == [("one", None, "Hello"), ("two", None, "Hello")]

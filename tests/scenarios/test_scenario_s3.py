"""Scenario S3: topic broadcast, class-name receivers, trackers, unsubscribe on removal."""

from __future__ import annotations

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


async def test_broadcast_reaches_subscribers_only(vc: triomas.Container) -> None:
    inbox = await spawn_abcd(vc)
    vc.agent("a").publish(Hello("a"))
    await vc.run_until_idle()
    assert inbox == {"c": [("a", None, "Hello")], "d": [("a", None, "Hello")]}


async def test_broadcast_to_nobody_is_counted_and_reported(vc: triomas.Container) -> None:
    events: list[object] = []
    vc.on_event(events.append)
    await spawn_abcd(vc)
    vc.agent("a").publish(Hello("a"), topic="Nobody")
    await vc.run_until_idle()
    dead = [e for e in events if isinstance(e, DeadLetter)]
    assert dead == [DeadLetter(Hello("a"), vc.lookup("a"), None, DeadLetterReason.NO_SUBSCRIBERS)]
    assert vc.dead_letter_counts[DeadLetterReason.NO_SUBSCRIBERS] == 1


async def test_class_name_reaches_every_agent_of_the_class(vc: triomas.Container) -> None:
    # Decision: class names are receivers automatically (legacy MASlite behaviour).
    inbox = await spawn_abcd(vc)
    vc.agent("a").send("B", Hello("a"))
    await vc.run_until_idle()
    assert inbox == {"c": [("a", "B", "Hello")], "d": [("a", "B", "Hello")]}


async def test_explicit_receiver_group_has_no_duplicates(vc: triomas.Container) -> None:
    inbox = await spawn_abcd(vc)
    for name in "cd":
        vc.agent(name).subscribe(receiver="B")
    vc.agent("b").subscribe(receiver="Team")
    vc.agent("a").send("B", Hello("a"))
    vc.agent("a").send("Team", Hello("a"))
    await vc.run_until_idle()
    assert inbox == {
        "c": [("a", "B", "Hello")],
        "d": [("a", "B", "Hello")],
        "b": [("a", "Team", "Hello")],
    }


async def test_tracker_sees_everything_a_sends_unless_direct(vc: triomas.Container) -> None:
    inbox = await spawn_abcd(vc)
    vc.agent("b").subscribe(sender="a")
    a = vc.agent("a")
    a.send("c", Hello("to c"))
    a.publish(Hello("published"))
    a.send("d", Hello("direct"), direct=True)
    await vc.run_until_idle()
    assert inbox["b"] == [("to c", "c", "Hello"), ("published", None, "Hello")]
    assert inbox["c"] == [("to c", "c", "Hello"), ("published", None, "Hello")]
    assert inbox["d"] == [("published", None, "Hello"), ("direct", "d", "Hello")]


async def test_removal_unsubscribes_everything(vc: triomas.Container) -> None:
    inbox = await spawn_abcd(vc)
    await vc.remove("d")
    vc.agent("a").publish(Hello("a"))
    vc.agent("a").send("B", Hello("by class"))
    await vc.run_until_idle()
    assert inbox == {"c": [("a", None, "Hello"), ("by class", "B", "Hello")]}
    assert vc.lookup("d") is None


async def test_unsubscribe_one_and_all(vc: triomas.Container) -> None:
    inbox = await spawn_abcd(vc)
    c = vc.agent("c")
    c.subscribe(topic=Hello)  # a class stands for its name: same subscription
    c.subscribe(sender="a")
    c.unsubscribe(topic="Hello")
    vc.agent("a").publish(Hello("one"))
    await vc.run_until_idle()
    assert inbox["c"] == [("one", None, "Hello")]  # as a tracker of a
    c.unsubscribe()
    vc.agent("a").publish(Hello("two"))
    await vc.run_until_idle()
    assert inbox["c"] == [("one", None, "Hello")]
    assert inbox["d"] == [("one", None, "Hello"), ("two", None, "Hello")]

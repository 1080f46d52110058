"""Broadcasts: topics, class-name receivers, groups, a sender tracker and dead letters.

    python examples/broadcast.py

Who hears a message depends on how it was sent:

- ``publish(msg)`` reaches every subscriber of the topic (by default the
  message's class name);
- ``send("Reader", msg)`` reaches every agent of class ``Reader``: class names
  are receivers without any subscription (as in MASlite);
- ``send("night-shift", msg)`` reaches the agents that joined that receiver
  group with ``subscribe(receiver="night-shift")``;
- a tracker, ``subscribe(sender="alice")``, gets a copy of everything alice
  sends or publishes, unless she sends with ``direct=True``;
- what reaches nobody becomes a ``DeadLetter`` event, which
  ``container.on_event`` reports.

The run is in virtual time: alice waits one clock second between acts, which
takes no real time, and every run prints the same lines.
"""

from __future__ import annotations

import logging
import sys

import triomas
from triomas import Agent, DeadLetter, Envelope, SystemEvent, message, on


@message
class Hello:
    """A line of text."""

    text: str


class Listener(Agent):
    """Prints every ``Hello`` it gets, with the envelope's topic and receiver."""

    @on(Hello)
    def hello(self, msg: Hello, envelope: Envelope) -> None:
        got = f"{self.name:<5} got {msg.text!r:<20}"
        print(f"    {got} topic={envelope.topic} to={envelope.receiver}")


class Reader(Listener):
    """Subscribes to the ``Hello`` topic."""

    def __init__(self, night_shift: bool = False) -> None:
        self.night_shift = night_shift

    def setup(self) -> None:
        self.subscribe(topic=Hello)  # the same as topic="Hello"
        if self.night_shift:
            self.subscribe(receiver="night-shift")


class Clerk(Listener):
    """Subscribes to no topic, but joins the night shift."""

    def setup(self) -> None:
        self.subscribe(receiver="night-shift")


class Auditor(Agent):
    """Tracks alice: sees a copy of whatever she sends or publishes."""

    def setup(self) -> None:
        self.subscribe(sender="alice")

    @on(object)  # a handler for a base class catches its subclasses: here, everything
    def audit(self, msg: object, envelope: Envelope) -> None:
        if isinstance(msg, Hello):
            print(f"    audit copy of {msg.text!r}")


class Announcer(Agent):
    """Alice: one act per clock second, then she is done."""

    async def setup(self) -> None:
        self.say("publishes to topic Hello")
        self.publish(Hello("good morning"))
        await self.sleep(1)
        self.say("sends to class Reader")
        self.send("Reader", Hello("readers only"))
        await self.sleep(1)
        self.say("sends to group night-shift")
        self.send("night-shift", Hello("night shift only"))
        await self.sleep(1)
        self.say("sends to class Reader with direct=True")
        self.send("Reader", Hello("off the record"), direct=True)
        await self.sleep(1)
        self.say("publishes to topic weather")
        self.publish(Hello("rain?"), topic="weather")
        await self.sleep(1)
        self.say("sends to eve")
        self.send("eve", Hello("hi eve"))
        await self.sleep(1)
        self.say("removes dave and publishes to topic Hello")
        await self.container.remove("dave")
        self.publish(Hello("bye dave"))

    def say(self, what: str) -> None:
        print(f"t={self.clock.now()}: alice {what}")


def report_dead_letter(event: SystemEvent) -> None:
    if isinstance(event, DeadLetter):
        print(f"    dead letter {event.message} to {event.recipient}: {event.reason}")


async def broadcast() -> None:
    # This example prints its dead letters itself, from the events; without this line
    # they would also be logged (as WARNING, which Python shows by default).
    logging.getLogger("triomas.deadletters").setLevel(logging.ERROR)
    async with triomas.open_container() as c:
        c.on_event(report_dead_letter)
        await c.spawn(Reader, name="carol", night_shift=True)
        await c.spawn(Reader, name="dave")
        await c.spawn(Clerk, name="bob")
        await c.spawn(Auditor, name="audit")
        await c.spawn(Announcer, name="alice")
        report = await c.run_until_idle()
        print(f"run_until_idle -> {report.reason} at t={report.time}")
        counts = {str(reason): n for reason, n in c.dead_letter_counts.items()}
        print(f"dead letters: {counts}")
        if c.failures:  # an agent that failed for good: not an exit status of 0
            sys.exit(f"agents failed: {c.failures}")


def main() -> None:
    triomas.run(broadcast, clock=triomas.VirtualClock(), seed=1)


if __name__ == "__main__":
    main()

"""Alarms in virtual time: set_alarm, clear_alarms, run(seconds=), ignore_if_idle.

    python examples/alarms.py

An alarm delivers a message to the agent that set it, at a clock time (``at=``)
or after a delay (``after=``). Alarms due at the same time arrive in the order
they were set. Under a ``VirtualClock`` the clock jumps straight to the next
alarm whenever every agent is waiting, so the hours below take microseconds,
and every run prints the same thing.
"""

from __future__ import annotations

import triomas
from triomas import Agent, TimerHandle, message, on


@message
class Wake:
    """What an alarm brings back: a label."""

    label: str


@message
class Beat:
    """A heartbeat that re-arms itself."""


@message
class Cancel:
    """Ask an agent to cancel its pending alarms with this topic (or all, if None)."""

    topic: str | None = None


class Sleeper(Agent):
    """Sets three alarms in setup and notes when each one arrives."""

    def setup(self) -> None:
        self.woken: list[tuple[float, str]] = []
        self.t10: TimerHandle = self.set_alarm(Wake("t10"), after=10)
        self.set_alarm(Wake("t3a"), after=3, topic="t3a")
        self.set_alarm(Wake("t3b"), after=3, topic="t3b")

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        self.woken.append((self.clock.now(), msg.label))

    @on(Cancel)
    def cancel(self, msg: Cancel) -> int:
        return self.clear_alarms(topic=msg.topic)  # how many alarms it cancelled


class Heart(Agent):
    """Beats every 2 s of clock time until told to stop; a reminder may never come."""

    def setup(self) -> None:
        self.beats: list[float] = []
        self.set_alarm(Beat(), after=2)
        # An ignore_if_idle alarm does not keep run_until_idle() waiting: when the run
        # goes idle before it is due, it is dropped.
        self.set_alarm(Wake("reminder"), at=3600, ignore_if_idle=True)

    @on(Beat)
    def beat(self, msg: Beat) -> None:
        self.beats.append(self.clock.now())
        self.set_alarm(Beat(), after=2)

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        print(f"    {self.name} woke up for {msg.label!r}")

    @on(Cancel)
    def cancel(self, msg: Cancel) -> int:
        return self.clear_alarms(msg_type=Beat)


async def three_alarms() -> None:
    """run(seconds=) stops the clock on the dot; run_until_idle() goes on to the last alarm."""
    async with triomas.open_container() as c:
        ref = await c.spawn(Sleeper, name="sleeper")
        sleeper = c.agent(ref, Sleeper)

        report = await c.run(seconds=5)
        print(f"  run(seconds=5)   -> {report.reason} at t={report.time}: {sleeper.woken}")
        print(f"  t10 still pending: {sleeper.t10.pending}")

        report = await c.run_until_idle()
        print(f"  run_until_idle() -> {report.reason} at t={report.time}: {sleeper.woken}")


async def cleared_alarm() -> None:
    """clear_alarms(topic=) removes only the matching alarm."""
    async with triomas.open_container() as c:
        ref = await c.spawn(Sleeper, name="sleeper")
        cleared = await c.ask(ref, Cancel(topic="t3a"))
        print(f"  clear_alarms(topic='t3a') at t={c.clock.now()} cancelled {cleared} alarm")
        report = await c.run_until_idle()
        sleeper = c.agent(ref, Sleeper)
        print(f"  run_until_idle() -> {report.reason} at t={report.time}: {sleeper.woken}")


async def heartbeat() -> None:
    """A repeating alarm runs forever, so bound the run by time; then cancel it."""
    async with triomas.open_container() as c:
        ref = await c.spawn(Heart, name="heart")
        heart = c.agent(ref, Heart)

        report = await c.run(seconds=7)
        print(f"  run(seconds=7)   -> {report.reason} at t={report.time}: beats at {heart.beats}")
        cleared = await c.ask(ref, Cancel())
        print(f"  clear_alarms(msg_type=Beat) cancelled {cleared} alarm")
        report = await c.run_until_idle()
        print(f"  run_until_idle() -> {report.reason} at t={report.time}; the reminder was dropped")
        report = await c.run(seconds=7200)
        print(f"  run(seconds=7200) -> {report.reason} at t={report.time}: nothing else arrives")


def main() -> None:
    for scene in (three_alarms, cleared_alarm, heartbeat):
        print(f"{scene.__name__}: {scene.__doc__}")
        # A fresh run per scene, so that each one starts at t=0.
        triomas.run(scene, clock=triomas.VirtualClock(), seed=1)


if __name__ == "__main__":
    main()

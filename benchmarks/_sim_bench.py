"""The simulation workloads on triomas (``VirtualClock``): timers, many agents, idle runs.

The peers' side (SimPy, MASlite, the ``heapq`` floor) is in ``_sim_peers.py``, with the
shared delays and checks. The agents are spawned before the clock starts; their
``setup()`` runs as their first step, inside the timed ``run_until_idle()`` (as a SimPy
process starts inside ``env.run()`` and a MASlite agent in its first ``update()``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import trio
import trio.testing
from _harness import Sample, clock
from _sim_peers import SEED, Delays, check_events, other

import triomas
from triomas import Agent, message, on


@message(tag="bench.sim.Wake")
class Wake:
    """An alarm an agent sets for itself."""

    n: int


@message(tag="bench.sim.Note")
class Note:
    """A message to another agent."""

    n: int


# ---- timers: sleeps and alarms (1000 agents) --------------------------------------------


class Sleeper(Agent):
    """Sleeps each of its delays in turn in its ``setup()``; counts every wake-up."""

    def __init__(self, delays: Sequence[float], tally: list[int]) -> None:
        self.delays = delays
        self.tally = tally

    async def setup(self) -> None:
        sleep = self.sleep
        tally = self.tally
        for d in self.delays:
            await sleep(d)
            tally[0] += 1


class Alarmer(Agent):
    """Sets an alarm for its first delay in ``setup()``; its sync handler re-arms the
    alarm message with the next delay until it has had them all."""

    def __init__(self, delays: Sequence[float], tally: list[int]) -> None:
        self.delays = delays
        self.tally = tally
        self.i = 0

    def setup(self) -> None:
        self.set_alarm(Wake(0), after=self.delays[0])

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        self.tally[0] += 1
        i = self.i + 1
        if i < len(self.delays):
            self.i = i
            self.set_alarm(msg, after=self.delays[i])


def _timers(cls: type[Agent], what: str, delays: Delays) -> Sample:
    async def main() -> Sample:
        tally = [0]
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            for row in delays:
                await c.spawn(cls, row, tally)
            start = clock()
            report = await c.run_until_idle()
            elapsed = clock() - start
            end = c.clock.now()
        ops = check_events(what, tally[0], delays, end)
        return Sample(ops, elapsed, {"virtual_end": round(end, 4), "rounds": report.rounds})

    return trio.run(main)


def sleeps(delays: Delays) -> Sample:
    """One agent per row of ``delays``, ``await self.sleep(d)`` for each, until idle."""
    return _timers(Sleeper, "triomas", delays)


def alarms(delays: Delays) -> Sample:
    """One agent per row of ``delays``, an alarm re-armed for each, until idle."""
    return _timers(Alarmer, "triomas-alarm", delays)


# ---- 100k agents: random sends, ticks ---------------------------------------------------


class RandomSender(Agent):
    """Sends ``sends`` notes to random other agents in ``setup()``; counts what it gets."""

    def __init__(
        self, index: int, refs: list[triomas.AgentRef], sends: int, rng: random.Random
    ) -> None:
        self.index = index
        self.refs = refs
        self.sends = sends
        self.rng = rng
        self.seen = 0

    def setup(self) -> None:
        refs, rng, me, n = self.refs, self.rng, self.index, len(self.refs)
        send = self.send
        for j in range(self.sends):
            send(refs[other(rng, me, n)], Note(j))

    @on(Note)
    def note(self, msg: Note) -> None:
        self.seen += 1


class Ticker(Agent):
    """An alarm every second of clock time, ``ticks`` times; each tick sends one note to
    a random other agent. Counts its ticks and the notes it gets."""

    def __init__(
        self, index: int, refs: list[triomas.AgentRef], ticks: int, rng: random.Random
    ) -> None:
        self.index = index
        self.refs = refs
        self.ticks = ticks
        self.rng = rng
        self.ticked = 0
        self.seen = 0

    def setup(self) -> None:
        self.set_alarm(Wake(0), after=1.0)

    @on(Wake)
    def wake(self, msg: Wake) -> None:
        self.ticked += 1
        if self.ticked < self.ticks:
            self.set_alarm(msg, after=1.0)
        refs = self.refs
        self.send(refs[other(self.rng, self.index, len(refs))], Note(0))

    @on(Note)
    def note(self, msg: Note) -> None:
        self.seen += 1


def _many(cls: type[Agent], agents: int, arg: int, check: str) -> Sample:
    """``agents`` agents of ``cls(index, refs, arg, rng)``, spawned (not timed), then
    ``run_until_idle()`` (timed)."""

    async def main() -> Sample:
        rng = random.Random(SEED)
        refs: list[triomas.AgentRef] = []
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            t0 = clock()
            for i in range(agents):
                refs.append(await c.spawn(cls, i, refs, arg, rng))
            spawn_s = clock() - t0
            start = clock()
            report = await c.run_until_idle()
            elapsed = clock() - start
            made = [c.agent(ref, cls) for ref in refs]
            seen = sum(a.seen for a in made)  # type: ignore[attr-defined]
            ticked = sum(getattr(a, "ticked", 0) for a in made)
            end = c.clock.now()
        total = agents * arg
        extra: dict[str, object] = {"spawn_s": round(spawn_s, 4), "rounds": report.rounds}
        if check == "sends":
            if seen != total:
                raise AssertionError(f"{cls.__name__}: {seen} notes handled, {total} sent")
        elif ticked != total or seen != total or end != float(arg):
            raise AssertionError(
                f"{cls.__name__}: {ticked} ticks and {seen} notes handled by t={end}, "
                f"{total} each expected by t={arg}"
            )
        else:
            extra.update(messages=seen, virtual_end=end)
        return Sample(total, elapsed, extra)

    return trio.run(main)


def random_sends(agents: int, sends: int) -> Sample:
    """``agents`` agents each send ``sends`` notes to random other agents from their
    ``setup()``; until idle."""
    return _many(RandomSender, agents, sends, "sends")


def ticks(agents: int, count: int) -> Sample:
    """``agents`` agents tick once a second for ``count`` seconds (an alarm re-armed in a
    sync handler), each tick a note to a random other agent; until idle."""
    return _many(Ticker, agents, count, "ticks")


# ---- the cost of an idle run ------------------------------------------------------------


class Idle(Agent):
    """An agent that does nothing (no setup, no handler)."""


def idle_runs(agents: int, calls: int) -> Sample:
    """``await c.run_until_idle()`` ``calls`` times with ``agents`` idle agents; the
    spawns and a first run (every setup) are not timed."""

    async def main() -> Sample:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            for _ in range(agents):
                await c.spawn(Idle)
            await c.run_until_idle()
            start = clock()
            for _ in range(calls):
                report = await c.run_until_idle()
                if report.reason != "idle" or report.rounds != 0:
                    raise AssertionError(f"an idle run did something: {report}")
            elapsed = clock() - start
            if len(c.agents()) != agents:
                raise AssertionError("agents went missing")
        return Sample(calls, elapsed, {"seconds_per_call": float(f"{elapsed / calls:.4g}")})

    return trio.run(main)


# ---- a test's loop: a send from main, then a run until idle -----------------------------


@message(tag="bench.Poke")
class Poke:
    n: int


class Poked(Agent):
    """Counts what it is sent."""

    def __init__(self) -> None:
        self.count = 0

    @on(Poke)
    def poke(self, msg: Poke) -> None:
        self.count += 1


def main_loop(rounds: int) -> Sample:
    """``c.send(ref, Poke(n))`` then ``await c.run_until_idle()``, ``rounds`` times, from
    the code outside the agents (a test's ``main``)."""

    async def main() -> Sample:
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            ref = await c.spawn(Poked)
            await c.run_until_idle()
            send, run_until_idle = c.send, c.run_until_idle
            start = clock()
            for n in range(rounds):
                send(ref, Poke(n))
                await run_until_idle()
            elapsed = clock() - start
            agent = c.agent(ref)
            if not isinstance(agent, Poked) or agent.count != rounds:
                raise AssertionError("the agent did not get every poke")
        return Sample(rounds, elapsed)

    return trio.run(main)


def trio_main_loop(rounds: int) -> Sample:
    """The same in plain trio: ``send_nowait`` to a task's memory channel, then
    ``await trio.testing.wait_all_tasks_blocked()`` (how a trio test lets a task catch up)."""

    async def main() -> Sample:
        send, receive = trio.open_memory_channel[Poke](math.inf)
        count = 0

        async def consumer() -> None:
            nonlocal count
            async for _ in receive:
                count += 1

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consumer)
            await trio.testing.wait_all_tasks_blocked()
            start = clock()
            for n in range(rounds):
                send.send_nowait(Poke(n))
                await trio.testing.wait_all_tasks_blocked()
            elapsed = clock() - start
            nursery.cancel_scope.cancel()
        if count != rounds:
            raise AssertionError("the task did not get every poke")
        return Sample(rounds, elapsed)

    return trio.run(main)

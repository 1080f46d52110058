"""The simulation workloads on the peers: SimPy, MASlite, and a plain ``heapq`` loop.

The floor (``heapq-floor``) is the least any discrete-event loop in Python can do for a
timer event: pop ``(time, seq, generator)`` off a heap, set the clock, resume the
generator with ``send``, and push its next wake-up. SimPy (processes yielding
``env.timeout(d)``) is the reference of the sleep and alarm workloads, MASlite
(``Scheduler(real_time=False)``, agents re-arming ``set_alarm``) that of the message
workloads with many agents.

Every implementation of one benchmark gets the same delays (:func:`sim_delays`, from a
seeded ``random.Random``), starts its processes or agents inside the timed part (a
SimPy process starts in ``env.run``, a MASlite agent in its first ``update()``), counts
what it handled into a shared tally, and checks the count and the final clock time, so
a broken engine cannot look fast.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterator, Sequence
from functools import cache
from typing import Any

from _harness import Sample, clock
from _peers import _quiet_logger

try:
    import simpy
except ImportError:  # pragma: no cover - optional peer
    simpy = None

try:
    import maslite
except ImportError:  # pragma: no cover - optional peer
    maslite = None

HAVE_SIMPY = simpy is not None
HAVE_MASLITE = maslite is not None

SEED = 14
"""The seed of every random draw of these benchmarks (delays, targets)."""

Delays = Sequence[Sequence[float]]


@cache
def sim_delays(agents: int, sleeps: int, fixed: bool) -> tuple[tuple[float, ...], ...]:
    """``agents`` rows of ``sleeps`` delays: all 1.0 (``fixed``), or uniform in [0.001, 1.0)
    from ``random.Random(SEED)``. Made once per size and shared by every implementation."""
    if fixed:
        row = (1.0,) * sleeps
        return (row,) * agents
    rng = random.Random(SEED)
    uniform = rng.uniform
    return tuple(tuple(uniform(0.001, 1.0) for _ in range(sleeps)) for _ in range(agents))


@cache
def expected_end(delays: Delays) -> float:
    """The clock time of the last wake-up: the largest row sum, added up in order."""
    end = 0.0
    for row in delays:
        t = 0.0
        for d in row:
            t += d
        end = max(end, t)
    return end


def check_events(what: str, handled: int, delays: Delays, end: float) -> int:
    """Raise AssertionError unless every delay was slept once and the clock ended right."""
    total = sum(len(row) for row in delays)
    if handled != total:
        raise AssertionError(f"{what}: {handled} events handled, {total} expected")
    want = expected_end(delays)
    if not math.isclose(end, want, rel_tol=1e-9):
        raise AssertionError(f"{what}: the clock ended at {end}, {want} expected")
    return total


def other(rng: random.Random, me: int, n: int) -> int:
    """A random index in ``range(n)`` other than ``me``."""
    r = rng.randrange(n - 1)
    return r + 1 if r >= me else r


# ---- the heapq floor --------------------------------------------------------------------


def _sleeper_gen(delays: Sequence[float], tally: list[int]) -> Iterator[float]:
    for d in delays:
        yield d
        tally[0] += 1


def heapq_sleeps(delays: Delays) -> Sample:
    """Every row of ``delays`` a generator that yields its delays; a heap of
    ``(time, seq, generator)`` wakes them in time order. No runtime at all."""
    tally = [0]
    gens = [_sleeper_gen(row, tally) for row in delays]
    heap: list[tuple[float, int, Iterator[float]]] = [(0.0, i, g) for i, g in enumerate(gens)]
    push, pop = heapq.heappush, heapq.heappop
    seq = len(heap)
    now = 0.0
    start = clock()
    while heap:
        now, _, gen = pop(heap)
        try:
            d = gen.send(None)
        except StopIteration:
            continue
        seq += 1
        push(heap, (now + d, seq, gen))
    elapsed = clock() - start
    ops = check_events("heapq-floor", tally[0], delays, now)
    return Sample(ops, elapsed, {"virtual_end": round(now, 4)})


# ---- SimPy ------------------------------------------------------------------------------


def _simpy_sleeper(env: Any, delays: Sequence[float], tally: list[int]) -> Iterator[Any]:
    timeout = env.timeout
    for d in delays:
        yield timeout(d)
        tally[0] += 1


def simpy_sleeps(delays: Delays) -> Sample:
    """One SimPy process per row, ``yield env.timeout(d)`` for each delay; ``env.run()``."""
    assert simpy is not None
    tally = [0]
    env = simpy.Environment()
    for row in delays:
        env.process(_simpy_sleeper(env, row, tally))
    start = clock()
    env.run()
    elapsed = clock() - start
    ops = check_events("simpy", tally[0], delays, env.now)
    return Sample(ops, elapsed, {"virtual_end": round(env.now, 4)})


# ---- MASlite ----------------------------------------------------------------------------

if maslite is not None:

    class MWake(maslite.AgentMessage):
        """An alarm an agent sets for itself."""

    class MNote(maslite.AgentMessage):
        """A message to another agent."""

        def __init__(self, sender: Any, receiver: Any, n: int) -> None:
            super().__init__(sender=sender, receiver=receiver)
            self.n = n

    class MSleeper(maslite.Agent):
        """Sets an alarm for its first delay in its first ``update()``, then re-arms the
        alarm message it gets with the next delay until it has slept them all."""

        def __init__(self, delays: Sequence[float], tally: list[int]) -> None:
            super().__init__()
            self.delays = delays
            self.i = -1
            self.tally = tally

        def update(self) -> None:
            if self.i < 0:
                self.i = 0
                self.set_alarm(self.delays[0], MWake(self.uuid, self.uuid))
                return
            while self.messages:
                msg = self.receive()
                self.tally[0] += 1
                i = self.i + 1
                if i < len(self.delays):
                    self.i = i
                    self.set_alarm(self.delays[i], msg)

    class MSender(maslite.Agent):
        """Sends ``sends`` messages to random other agents in its first ``update()``;
        counts what it gets."""

        def __init__(self, index: int, uuids: list[Any], sends: int, rng: random.Random) -> None:
            super().__init__()
            self.index = index
            self.uuids = uuids
            self.sends = sends
            self.rng = rng
            self.started = False
            self.seen = 0

        def update(self) -> None:
            if not self.started:
                self.started = True
                uuids, rng, me, n = self.uuids, self.rng, self.index, len(self.uuids)
                send = self.send
                uuid = self.uuid
                for j in range(self.sends):
                    send(MNote(uuid, uuids[other(rng, me, n)], j))
            while self.messages:
                self.receive()
                self.seen += 1

    class MTicker(maslite.Agent):
        """An alarm every second of clock time, ``ticks`` times; each tick sends one
        message to a random other agent. Counts its ticks and what it gets."""

        def __init__(self, index: int, uuids: list[Any], ticks: int, rng: random.Random) -> None:
            super().__init__()
            self.index = index
            self.uuids = uuids
            self.ticks = ticks
            self.rng = rng
            self.started = False
            self.ticked = 0
            self.seen = 0

        def update(self) -> None:
            if not self.started:
                self.started = True
                self.set_alarm(1.0, MWake(self.uuid, self.uuid))
            while self.messages:
                msg = self.receive()
                if msg.__class__ is MWake:
                    self.ticked += 1
                    if self.ticked < self.ticks:
                        self.set_alarm(1.0, msg)
                    uuids = self.uuids
                    self.send(MNote(self.uuid, uuids[other(self.rng, self.index, len(uuids))], 0))
                else:
                    self.seen += 1

    class MIdle(maslite.Agent):
        """Does nothing."""

        def update(self) -> None:
            pass


def new_scheduler() -> Any:
    """A MASlite scheduler in simulated time that logs warnings only."""
    assert maslite is not None
    return maslite.Scheduler(logger=_quiet_logger(), real_time=False)


def maslite_sleeps(delays: Delays) -> Sample:
    """One MASlite agent per row, re-arming an alarm with each delay in turn;
    ``run(pause_if_idle=True)``."""
    tally = [0]
    scheduler = new_scheduler()
    for row in delays:
        scheduler.add(MSleeper(row, tally))
    start = clock()
    scheduler.run(pause_if_idle=True)
    elapsed = clock() - start
    end = scheduler.clock.time
    ops = check_events("maslite", tally[0], delays, end)
    return Sample(ops, elapsed, {"virtual_end": round(end, 4)})


def _add_many(cls: type, agents: int, *args: Any) -> tuple[Any, list[Any], float]:
    """``agents`` agents of ``cls(index, uuids, *args)`` added to a new scheduler."""
    scheduler = new_scheduler()
    uuids: list[Any] = []
    start = clock()
    made = [cls(i, uuids, *args) for i in range(agents)]
    uuids.extend(a.uuid for a in made)
    for a in made:
        scheduler.add(a)
    return scheduler, made, clock() - start


def maslite_sends(agents: int, sends: int) -> Sample:
    """``agents`` MASlite agents each send ``sends`` messages to random other agents in
    their first ``update()``; ``run(pause_if_idle=True)``. Adding them is not timed."""
    rng = random.Random(SEED)
    scheduler, made, spawn_s = _add_many(MSender, agents, sends, rng)
    start = clock()
    scheduler.run(pause_if_idle=True)
    elapsed = clock() - start
    total = agents * sends
    seen = sum(a.seen for a in made)
    if seen != total:
        raise AssertionError(f"maslite: {seen} messages handled, {total} sent")
    return Sample(total, elapsed, {"spawn_s": round(spawn_s, 4)})


def maslite_ticks(agents: int, ticks: int) -> Sample:
    """``agents`` MASlite agents with a 1 s alarm, ``ticks`` times, each tick a message to
    a random other agent; ``run(pause_if_idle=True)`` (it pauses when the last tick's
    messages are handled, at clock time ``ticks``). Adding them is not timed."""
    rng = random.Random(SEED)
    scheduler, made, spawn_s = _add_many(MTicker, agents, ticks, rng)
    start = clock()
    scheduler.run(pause_if_idle=True)
    elapsed = clock() - start
    total = agents * ticks
    ticked = sum(a.ticked for a in made)
    seen = sum(a.seen for a in made)
    end = scheduler.clock.time
    if ticked != total or seen != total or end != float(ticks):
        raise AssertionError(
            f"maslite: {ticked} ticks and {seen} messages handled by t={end}, "
            f"{total} each expected by t={ticks}"
        )
    extra = {"messages": seen, "virtual_end": end, "spawn_s": round(spawn_s, 4)}
    return Sample(total, elapsed, extra)

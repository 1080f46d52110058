"""The triomas workloads, live (real clock) and virtual (``VirtualClock``)."""

from __future__ import annotations

from typing import Any

import trio
from _harness import Sample, clock
from _messages import Ball, Go, Item, Ping

import triomas
from triomas import Agent, Envelope, on

# ---- ask round trips (live) -------------------------------------------------------------


class Ponger(Agent):
    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n + 1


class AsyncPonger(Agent):
    """The same with an ``async`` handler that awaits (one checkpoint), so every ask goes
    through the callee's task: the general path. (An ``async def`` without an await point
    would be answered by hand-off, like a plain handler.)"""

    @on(Ping)
    async def ping(self, msg: Ping) -> int:
        await trio.lowlevel.checkpoint()
        return msg.n + 1


class Asker(Agent):
    """Asks ``peer`` ``count`` times in a row from its setup, times it, then stops."""

    def __init__(self, peer: triomas.AgentRef, count: int, out: list[float]) -> None:
        self.peer = peer
        self.count = count
        self.out = out

    async def setup(self) -> None:
        peer = self.peer
        start = clock()
        for i in range(self.count):
            if await self.ask(peer, Ping(i)) != i + 1:
                raise AssertionError("wrong reply")
        self.out.append(clock() - start)
        self.stop()


def live_ask(round_trips: int, callee: type[Agent] = Ponger) -> Sample:
    async def main() -> Sample:
        out: list[float] = []
        async with triomas.open_container() as c:
            ponger = await c.spawn(callee, name="ponger")
            await c.run_until_idle()
            await c.spawn(Asker, ponger, round_trips, out, name="asker")
            await c.run_until_idle()
        if len(out) != 1:
            raise AssertionError("the asker did not finish")
        return Sample(round_trips, out[0])

    return trio.run(main)


def live_ask_outside(round_trips: int) -> Sample:
    """``await container.ask(...)`` from plain trio code, in a loop."""

    async def main() -> Sample:
        async with triomas.open_container() as c:
            ponger = await c.spawn(Ponger, name="ponger")
            await c.run_until_idle()
            start = clock()
            for i in range(round_trips):
                if await c.ask(ponger, Ping(i)) != i + 1:
                    raise AssertionError("wrong reply")
            elapsed = clock() - start
        return Sample(round_trips, elapsed)

    return trio.run(main)


# ---- tell ping-pong (live and virtual) --------------------------------------------------


class _Server(Agent):
    """Given a ``peer``, serves the first :class:`Ball` from its setup."""

    def __init__(self, hops: int, peer: triomas.AgentRef | None = None) -> None:
        self.hops = hops
        self.peer = peer
        self.seen = 0

    def setup(self) -> None:
        if self.peer is not None:
            self.send(self.peer, Ball(1))


class Bouncer(_Server):
    """Bounces a :class:`Ball` back to its sender until it has made ``hops`` hops."""

    @on(Ball)
    def ball(self, msg: Ball, env: Envelope) -> None:
        self.seen += 1
        if msg.n < self.hops:
            self.send(env.sender, Ball(msg.n + 1))  # type: ignore[arg-type]


class UpdateBouncer(_Server):
    """The same in MASlite's style: a custom sync ``update()`` draining the inbox."""

    def update(self) -> None:
        while self.messages:
            env = self.receive()
            self.seen += 1
            n = env.body.n
            if n < self.hops:
                self.send(env.sender, Ball(n + 1))  # type: ignore[arg-type]


def _pingpong(hops: int, cls: type[Agent], virtual: bool) -> Sample:
    async def main() -> Sample:
        clk = triomas.VirtualClock() if virtual else None
        async with triomas.open_container(clock=clk) as c:
            start = clock()
            b = await c.spawn(cls, hops, name="b")
            await c.spawn(cls, hops, b, name="a")
            report = await c.run_until_idle()
            elapsed = clock() - start
            seen = sum(c.agent(name).seen for name in ("a", "b"))  # type: ignore[attr-defined]
        if seen != hops:
            raise AssertionError(f"{seen} balls handled, {hops} expected")
        extra: dict[str, Any] = {}
        if virtual:
            if report.rounds < hops:
                raise AssertionError(f"only {report.rounds} rounds for {hops} hops")
            extra["rounds"] = report.rounds
        return Sample(hops, elapsed, extra)

    return trio.run(main)


def virtual_pingpong(hops: int) -> Sample:
    return _pingpong(hops, Bouncer, virtual=True)


def virtual_pingpong_update(hops: int) -> Sample:
    return _pingpong(hops, UpdateBouncer, virtual=True)


def live_tell_pingpong(hops: int) -> Sample:
    return _pingpong(hops, Bouncer, virtual=False)


# ---- fan-out ----------------------------------------------------------------------------


class Sink(Agent):
    """Counts what it gets into the shared ``tally``; the last message sets ``done``."""

    def __init__(self, tally: list[int], total: int, done: trio.Event | None) -> None:
        self.tally = tally
        self.total = total
        self.done = done

    @on(Item)
    def item(self, msg: Item) -> None:
        tally = self.tally
        tally[0] += 1
        if tally[0] == self.total and self.done is not None:
            self.done.set()


class Sender(Agent):
    """On :class:`Go`, sends ``per_receiver`` rounds of one :class:`Item` to every target."""

    def __init__(self, targets: list[triomas.AgentRef], per_receiver: int) -> None:
        self.targets = targets
        self.per_receiver = per_receiver

    @on(Go)
    def go(self, msg: Go) -> None:
        send = self.send
        targets = self.targets
        for j in range(self.per_receiver):
            for ref in targets:
                send(ref, Item(j))


def fanout(receivers: int, per_receiver: int, virtual: bool) -> Sample:
    """1 sender agent → ``receivers`` agents x ``per_receiver`` messages, round-robin.

    The agents are spawned and started before the clock starts; it stops when the
    last message has been handled (live) or when the run goes idle (virtual).
    """
    total = receivers * per_receiver

    async def main() -> Sample:
        tally = [0]
        done = None if virtual else trio.Event()
        clk = triomas.VirtualClock() if virtual else None
        async with triomas.open_container(clock=clk) as c:
            refs = [await c.spawn(Sink, tally, total, done) for _ in range(receivers)]
            sender = await c.spawn(Sender, refs, per_receiver, name="sender")
            await c.run_until_idle()
            start = clock()
            c.send(sender, Go(0))
            if done is not None:
                await done.wait()
            else:
                await c.run_until_idle()
            elapsed = clock() - start
            await c.run_until_idle()
        if tally[0] != total:
            raise AssertionError(f"handled {tally[0]} of {total}")
        return Sample(total, elapsed)

    return trio.run(main)


# ---- many agents, few hops (virtual) ----------------------------------------------------


def virtual_many_pairs(agents: int, hops_per_agent: int) -> Sample:
    """``agents`` agents in pairs, each sending ``hops_per_agent`` balls to its partner.

    The clock covers the whole scenario: opening the container, spawning, running
    until idle and closing the container (which stops every agent).
    """
    pairs = agents // 2
    hops = 2 * hops_per_agent

    async def main() -> Sample:
        start = clock()
        async with triomas.open_container(clock=triomas.VirtualClock()) as c:
            for p in range(pairs):
                b = await c.spawn(Bouncer, hops, name=f"b{p}")
                await c.spawn(Bouncer, hops, b, name=f"a{p}")
            spawned = clock()
            report = await c.run_until_idle()
            ran = clock()
        end = clock()
        if report.rounds < hops:
            raise AssertionError("too few rounds")
        extra = {
            "spawn_s": round(spawned - start, 4),
            "run_s": round(ran - spawned, 4),
            "close_s": round(end - ran, 4),
            "rounds": report.rounds,
        }
        return Sample(pairs * hops, end - start, extra)

    return trio.run(main)

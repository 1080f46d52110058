"""The triomas workloads, live (real clock) and virtual (``VirtualClock``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import trio
from _harness import Sample, clock
from _messages import Ball, Crash, Go, Item, Ping

import triomas
from triomas import Agent, ChildSpec, Envelope, Supervisor, on

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


def live_ask(
    round_trips: int,
    callee: type[Agent] = Ponger,
    *,
    supervised: bool = False,
    by_name: bool = False,
) -> Sample:
    """An agent asks another ``round_trips`` times from its setup.

    With ``supervised``, the callee is the one child of a :class:`Supervisor` (started
    with ``container.start``), else it is spawned directly under the container's root.
    With ``by_name``, the asker holds the callee's name, not its reference.
    """

    async def main() -> Sample:
        out: list[float] = []
        async with triomas.open_container() as c:
            if supervised:
                await c.start(Supervisor, [ChildSpec("ponger", callee)])
                ponger = c.lookup("ponger")
                if ponger is None:
                    raise AssertionError("the supervisor did not start its child")
            else:
                ponger = await c.spawn(callee, name="ponger")
            await c.run_until_idle()
            await c.spawn(Asker, "ponger" if by_name else ponger, round_trips, out, name="asker")
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

    def __init__(self, targets: list[triomas.AgentRef] | list[str], per_receiver: int) -> None:
        self.targets = targets
        self.per_receiver = per_receiver

    @on(Go)
    def go(self, msg: Go) -> None:
        send = self.send
        targets = self.targets
        for j in range(self.per_receiver):
            for ref in targets:
                send(ref, Item(j))


def fanout(receivers: int, per_receiver: int, virtual: bool, how: str = "ref") -> Sample:
    """1 sender agent → ``receivers`` agents x ``per_receiver`` messages, round-robin.

    ``how``: the sender holds references (``"ref"``) or names (``"name"``), or the
    messages are sent from outside the container, by reference (``"outside"``) or by
    name (``"outside-name"``). The
    agents are spawned and started before the clock starts; it stops when the last
    message has been handled (live) or when the run goes idle (virtual).
    """
    total = receivers * per_receiver

    async def main() -> Sample:
        tally = [0]
        done = None if virtual else trio.Event()
        clk = triomas.VirtualClock() if virtual else None
        async with triomas.open_container(clock=clk) as c:
            refs = [
                await c.spawn(Sink, tally, total, done, name=f"sink{i}") for i in range(receivers)
            ]
            targets = [ref.name for ref in refs] if how == "name" else refs
            sender = await c.spawn(Sender, targets, per_receiver, name="sender")
            await c.run_until_idle()
            start = clock()
            if how.startswith("outside"):
                send = c.send
                names = [ref.name for ref in refs] if how == "outside-name" else refs
                for j in range(per_receiver):
                    for to in names:
                        send(to, Item(j))
            else:
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


# ---- supervision: crash-and-restart cycles (live and virtual) ---------------------------


class Worker(Agent):
    """Answers :class:`Ping` like :class:`Ponger`; its :class:`Crash` handler raises.

    Every incarnation adds one to ``tally`` when it is made; ``setup()`` is the default.
    """

    def __init__(self, tally: list[int]) -> None:
        tally[0] += 1

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n + 1

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("crash requested")


@contextmanager
def crash_log(logged: bool) -> Iterator[None]:
    """Silence the ``triomas`` logger, or (``logged``) send its records to ``os.devnull``.

    Every crash is logged at ERROR with its traceback; with logging not configured
    that goes to stderr, which would swamp the output and time the terminal.
    """
    logger = logging.getLogger("triomas")
    saved = logger.level, logger.propagate
    with open(os.devnull, "w") as sink:
        handler = logging.StreamHandler(sink)
        if logged:
            logger.addHandler(handler)
            logger.propagate = False
        else:
            logger.setLevel(logging.CRITICAL)
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]


async def _start_worker(c: triomas.Container, tally: list[int]) -> triomas.AgentRef:
    """A :class:`Supervisor` with one permanent :class:`Worker` child, ``w``, both started."""
    await c.start(Supervisor, [ChildSpec("w", Worker, (tally,))], max_restarts=10**9, period=1.0)
    ref = c.lookup("w")
    if ref is None:
        raise AssertionError("the supervisor did not start its child")
    await c.run_until_idle()
    return ref


def restart_cycles(
    crashes: int, how: Literal["ask", "send"], *, virtual: bool = False, logged: bool = False
) -> Sample:
    """``crashes`` crash-and-restart cycles of the one permanent child of a Supervisor.

    ``how="ask"``: ``await container.ask(w, Crash(i))`` in a loop; each raises
    :exc:`triomas.CalleeDown` as the handler crashes, and the next ask reaches the new
    incarnation. ``how="send"``: ``crashes`` Crash messages are sent at once, then the
    container runs until idle; each crashes one incarnation, and the mailbox (holding
    the rest) survives the restarts. The clock stops when the last restart is done
    (``run_until_idle`` returns); ``tally`` checks that every crash made an incarnation.
    """

    async def main() -> Sample:
        tally = [0]
        clk = triomas.VirtualClock() if virtual else None
        async with triomas.open_container(clock=clk) as c:
            w = await _start_worker(c, tally)
            start = clock()
            if how == "ask":
                for i in range(crashes):
                    try:
                        await c.ask(w, Crash(i))
                    except triomas.CalleeDown:
                        pass
                    else:
                        raise AssertionError("the handler did not crash")
            else:
                for i in range(crashes):
                    c.send(w, Crash(i))
            await c.run_until_idle()
            elapsed = clock() - start
        if tally[0] != crashes + 1:
            raise AssertionError(f"{tally[0] - 1} restarts for {crashes} crashes")
        return Sample(crashes, elapsed)

    with crash_log(logged):
        return trio.run(main)


def supervised_ask_outside(round_trips: int) -> Sample:
    """The baseline of the restart cycles: the same asks to the same child, none crashing."""

    async def main() -> Sample:
        tally = [0]
        async with triomas.open_container() as c:
            w = await _start_worker(c, tally)
            start = clock()
            for i in range(round_trips):
                if await c.ask(w, Ping(i)) != i + 1:
                    raise AssertionError("wrong reply")
            elapsed = clock() - start
        if tally[0] != 1:
            raise AssertionError("the child restarted")
        return Sample(round_trips, elapsed)

    return trio.run(main)

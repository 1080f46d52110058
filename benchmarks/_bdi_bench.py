"""The BDI workloads: tells around a ring of agents, live (real clock).

``agents`` agents stand in a ring, each knowing the next. Every agent starts one token,
so ``agents`` tokens go round at once, each for ``hops`` hops: ``agents * hops`` tells
in all. In ``triomas-bdi`` a token is ``Tell(Belief("token", h))``: the receiver
believes it (from the sender) and the ``gain`` event starts the plan
``@plan(gain, Belief("token", Any))`` as an intention, which tells the next agent
``Belief("token", h + 1)``. The hop count makes every belief an agent receives a new one
(a belief already held raises no event). ``triomas-agent`` is the baseline: plain
agents send the same ``Tell`` objects, and an ``@on(Tell)`` handler sends the next, with
no belief base, event or intention.

The agents are spawned, linked and started before the clock starts; it stops when the
last tell has been handled.
"""

from __future__ import annotations

from typing import Any

import trio
from _harness import Sample, clock

import triomas
from triomas import Agent, on
from triomas.bdi import Any as AnyValue
from triomas.bdi import BDIAgent, Belief, Tell, gain, plan


class _Tally:
    """Tells handled so far (shared by every agent of a run); the last one sets ``done``."""

    __slots__ = ("count", "done", "total")

    def __init__(self, total: int) -> None:
        self.count = 0
        self.total = total
        self.done = trio.Event()

    def one(self) -> None:
        self.count += 1
        if self.count == self.total:
            self.done.set()


class BDIRinger(BDIAgent):
    """Believes each token told, and its plan tells the next agent the token + 1."""

    def __init__(self, hops: int, tally: _Tally) -> None:
        self.hops = hops
        self.tally = tally
        self.next: triomas.AgentRef | None = None

    @plan(gain, Belief("token", AnyValue))
    def token(self, source: str, h: int) -> None:
        self.tally.one()
        if h < self.hops:
            self.send(self.next, Tell(Belief("token", h + 1)))  # type: ignore[arg-type]


class TellRinger(Agent):
    """The baseline: the same tells, handled by a plain ``@on`` handler."""

    def __init__(self, hops: int, tally: _Tally) -> None:
        self.hops = hops
        self.tally = tally
        self.next: triomas.AgentRef | None = None

    @on(Tell)
    def tell(self, act: Tell) -> None:
        self.tally.one()
        h = act.content.args[0]
        if h < self.hops:
            self.send(self.next, Tell(Belief("token", h + 1)))  # type: ignore[arg-type]


def tell_ring(agents: int, total: int, bdi: bool) -> Sample:
    """``agents`` agents in a ring pass ``agents`` tokens, ``total // agents`` hops each."""
    hops = total // agents
    cls: type[BDIRinger | TellRinger] = BDIRinger if bdi else TellRinger

    async def main() -> Sample:
        tally = _Tally(agents * hops)
        async with triomas.open_container() as c:
            refs = [await c.spawn(cls, hops, tally, name=f"r{k}") for k in range(agents)]
            for k, ref in enumerate(refs):
                c.agent(ref, cls).next = refs[(k + 1) % agents]
            await c.run_until_idle()
            start = clock()
            for ref in refs:
                c.send(ref, Tell(Belief("token", 1)))
            await tally.done.wait()
            elapsed = clock() - start
            await c.run_until_idle()
            extra: dict[str, Any] = {}
            if bdi:
                held = sum(len(c.agent(ref, BDIRinger).beliefs) for ref in refs)
                extra["beliefs_held_at_end"] = held
        if tally.count != agents * hops:
            raise AssertionError(f"handled {tally.count} of {agents * hops}")
        return Sample(agents * hops, elapsed, extra)

    return trio.run(main)

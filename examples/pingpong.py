"""Ping-pong: one agent asks another, first in real time, then in virtual time.

    python examples/pingpong.py            # both runs, one after the other
    python examples/pingpong.py --real     # real time only
    python examples/pingpong.py --virtual  # deterministic virtual time only

The agents are the same code in both runs. They read time from ``self.clock`` and
wait only through the runtime (``self.ask``), so the clock given to
``triomas.run`` decides what a second is: wall-clock seconds, or simulated
seconds that pass only when the runtime says so.
"""

from __future__ import annotations

import sys

import triomas
from triomas import Agent, message, on

HOPS = 1000


@message
class Ping:
    """A number to be incremented."""

    n: int


class Ponger(Agent):
    """Answers every ``Ping(n)`` with ``n + 1``."""

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        return msg.n + 1  # the return value is the reply to an ask


class Pinger(Agent):
    """Spawns a ponger, asks it once, then bounces ``hops`` asks off it and stops."""

    def __init__(self, hops: int) -> None:
        self.hops = hops

    async def setup(self) -> None:
        peer = await self.container.spawn(Ponger, name="ponger")
        answer = await self.ask(peer, Ping(1), timeout=5)
        print(f"  ask(ponger, Ping(1)) -> {answer}")

        start, n = self.clock.now(), 0
        for _ in range(self.hops):
            n = await self.ask(peer, Ping(n))
        elapsed = self.clock.now() - start
        per_hop = elapsed / self.hops * 1e6
        print(f"  {n} asks took {elapsed:.6f} s of clock time ({per_hop:.1f} us per round trip)")
        self.stop()  # the ponger lives on; the container stops it on exit


async def ping_pong() -> None:
    async with triomas.open_container() as c:
        await c.spawn(Pinger, HOPS, name="pinger")
        # The pinger stops itself but not the ponger it spawned, so join() would wait
        # forever; run until nothing is left to do instead.
        report = await c.run_until_idle()
        print(f"  run_until_idle -> {report.reason} at t={report.time:.6f}, {report.rounds} rounds")
        if c.failures:  # an agent that failed for good: not an exit status of 0
            sys.exit(f"agents failed: {c.failures}")


def main(argv: list[str] | None = None) -> None:
    """Run :func:`ping_pong` under the clocks the command-line flags ask for."""
    flags = set(sys.argv[1:] if argv is None else argv)
    if flags - {"--real", "--virtual"}:
        sys.exit(__doc__)
    if not flags:
        flags = {"--real", "--virtual"}
    if "--real" in flags:
        print("real time (RealClock):")
        triomas.run(ping_pong)
    if "--virtual" in flags:
        print("virtual time (VirtualClock, seed 7):")
        triomas.run(ping_pong, clock=triomas.VirtualClock(), seed=7)


if __name__ == "__main__":
    main()

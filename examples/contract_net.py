"""A FIPA Contract Net with twenty bidders: call, bids, refusals, late ones, award, result.

    python examples/contract_net.py

A ``Shipper`` BDI agent has the goal of getting a crate delivered. Its plan calls
``contract_net(self, bidders, task, deadline=5, choose=cheapest)``, which sends
``Cfp(task)`` to every bidder with a ``reply_by`` five seconds away, collects
``Propose`` and ``Refuse`` until all have answered or the deadline passes,
accepts the bids ``choose`` picks, rejects the others, and waits for the
winner's ``InformResult``. Every message of the run carries one
``conversation_id`` and the protocol ``"fipa-contract-net"``.

Each ``Carrier`` is a ``ContractNetParticipant``: ``bid`` thinks a while and
returns a price, or None to refuse (a busy carrier), and ``perform`` does the
job. Prices, thinking times and who is busy come from ``self.random``, seeded
from the run's seed and the carrier's name. Two carriers think too long: they are
silent at the deadline, and their proposals, when they come, are rejected as
late. In virtual time the auction comes out the same on every run.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import triomas
from triomas.bdi import (
    Any,
    BDIAgent,
    Bid,
    ContractNetParticipant,
    Goal,
    contract_net,
    gain,
    plan,
)

BIDDERS = 20
SLOW = {"carrier-07", "carrier-13"}  # these think past the deadline


class Carrier(ContractNetParticipant):
    """Bids a price for a delivery, or refuses when busy; delivers when chosen."""

    async def bid(self, task: str, initiator: str) -> int | None:
        rng = self.random
        busy = rng.random() < 0.25 and self.name not in SLOW
        await self.sleep(6.0 if self.name in SLOW else round(rng.uniform(0.5, 4.5), 1))
        return None if busy else rng.randint(40, 120)

    async def perform(self, task: str, proposal: int) -> str:
        await self.sleep(3)
        return f"{task} delivered by {self.name} at t={self.clock.now():.1f}"


def cheapest(bids: Sequence[Bid]) -> list[Bid]:
    """Accept the lowest price (the first of equals)."""
    return [min(bids, key=lambda bid: bid.proposal)] if bids else []


class Shipper(BDIAgent):
    """Holds an auction for its goal ``deliver(what)``."""

    def __init__(self, bidders: list[str]) -> None:
        self.bidders = bidders
        self.add(Goal("deliver", "crate"))

    @plan(gain, Goal("deliver", Any))
    async def auction(self, src: str, what: str) -> None:
        print(f"t={self.clock.now():.1f} call for proposals to {len(self.bidders)} carriers")
        result = await contract_net(self, self.bidders, what, deadline=5, choose=cheapest)
        now = self.clock.now()
        prices = sorted(bid.proposal for bid in result.bids)
        print(
            f"t={now:.1f} done: {len(result.bids)} bids in time, from {prices[0]} to {prices[-1]}"
        )
        print(f"  refused: {sorted(result.refused)}")
        print(f"  silent at the deadline: {result.silent}")
        for bid in result.accepted:
            print(f"  accepted: {bid.participant} for {bid.proposal}")
        for name, outcome in result.results.items():
            print(f"  result from {name}: {outcome!r}")
        print(f"  rejected as late: {result.late}")


async def main() -> None:
    async with triomas.open_container() as c:
        names = [f"carrier-{i:02d}" for i in range(1, BIDDERS + 1)]
        for name in names:
            await c.spawn(Carrier, name=name)
        await c.spawn(Shipper, names, name="shipper")
        report = await c.run_until_idle()
        print(f"run_until_idle -> {report.reason} at t={report.time:.1f}")
        if c.failures:  # an agent that failed for good: not an exit status of 0
            sys.exit(f"agents failed: {c.failures}")


if __name__ == "__main__":
    triomas.run(main, clock=triomas.VirtualClock(), seed=11)

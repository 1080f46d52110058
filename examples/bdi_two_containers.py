"""BDI agents in two containers over loopback TCP: KQML asks, a request, a Contract Net.

    python examples/bdi_two_containers.py

Two containers listen on 127.0.0.1 (port 0: any free port), in one process. The
``market`` holds a ``Shop`` and three ``Courier``\\ s; the ``town`` holds a
``Customer`` that knows them only by address (``f"{market.address}/shop"``).
Every speech act crosses the wire through the codec, beliefs, goals and the
``Any`` wildcard included, and comes out the same as between local agents:

- ``Tell`` adds a belief at the shop, with the customer's name as its source
  (and messages from one agent to another arrive in the order they were sent);
- ``ask_one`` answers a ``Belief`` from the shop, or False if it has none;
  ``ask_all`` a list;
- ``request`` asks the shop to achieve a goal and waits for the outcome: what the
  plan returned, or ``RequestFailed`` (here: the shop has no plan for the goal);
- ``contract_net`` calls for proposals from the three couriers and awards the job.

Network containers need the real clock, so the run is guarded by
``trio.fail_after``. The ports differ from run to run; everything printed is the
same every time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import trio

import triomas
from triomas.bdi import (
    Any,
    BDIAgent,
    Belief,
    Bid,
    ContractNetParticipant,
    Goal,
    RequestFailed,
    Tell,
    contract_net,
    gain,
    plan,
)


class Shop(BDIAgent):
    """Knows its prices and stock; takes orders as goals."""

    def __init__(self) -> None:
        self.add(Belief("price", "apple", 3), Belief("price", "pear", 5))
        self.add(Belief("stock", "apple", 10))

    @plan(gain, Goal("welcome"), context=Belief("customer", Any))
    def welcome(self, src: str, who: str) -> str:
        told = self.get(Belief("customer", who))
        return f"welcome, {who} (as {told.source} told me)"

    @plan(gain, Goal("order", Any, Any))
    def order(self, src: str, item: str, n: int) -> str:
        price = self.get(Belief("price", item, Any)).args[1]
        left = self.get(Belief("stock", item, Any)).args[1]
        self.rm(Belief("stock", item, Any))
        self.add(Belief("stock", item, left - n))
        return f"{n} {item}s for {n * price}"


class Courier(ContractNetParticipant):
    """Bids a fixed fee for any delivery."""

    def __init__(self, fee: int) -> None:
        self.fee = fee

    def bid(self, task: str, initiator: str) -> int:
        return self.fee

    async def perform(self, task: str, proposal: int) -> str:
        return f"{self.name} delivers {task} for {proposal}"


def cheapest(bids: Sequence[Bid]) -> list[Bid]:
    """Accept the lowest fee."""
    return [min(bids, key=lambda bid: bid.proposal)]


def show(what: str, answer: object) -> None:
    print(f"{what:<19} -> {answer}")


class Customer(BDIAgent):
    """Talks to the shop and the couriers in the other container, by address."""

    def __init__(self, market: str) -> None:
        self.market = market
        self.add(Goal("shop"))

    @plan(gain, Goal("shop"))
    async def shop(self, src: str) -> None:
        shop = f"{self.market}/shop"
        self.send(shop, Tell(Belief("customer", "ann")))
        show("request welcome", await self.request(shop, Goal("welcome")))
        show("ask_one apple price", await self.ask_one(shop, Belief("price", "apple", Any)))
        show("ask_one kiwi price", await self.ask_one(shop, Belief("price", "kiwi", Any)))
        show("ask_all prices", await self.ask_all(shop, Belief("price", Any, Any)))
        show("request 4 apples", await self.request(shop, Goal("order", "apple", 4)))
        try:
            await self.request(shop, Goal("haggle", "apple"))  # no plan for that
        except RequestFailed as failure:
            show("request haggle", f"{type(failure).__name__}: {failure.reason}")
        show("ask_one apple stock", await self.ask_one(shop, Belief("stock", "apple", Any)))

        couriers = [f"{self.market}/courier-{i}" for i in (1, 2, 3)]
        result = await contract_net(self, couriers, "4 apples", deadline=2, choose=cheapest)
        show("contract_net bids", sorted((b.participant, b.proposal) for b in result.bids))
        show("  accepted", [b.participant for b in result.accepted])
        show("  results", result.results)
        self.stop()


async def main() -> None:
    async with (
        triomas.open_container("tcp://127.0.0.1:0") as market,
        triomas.open_container("tcp://127.0.0.1:0") as town,
    ):
        await market.spawn(Shop, name="shop")
        for i, fee in enumerate((9, 7, 8), start=1):
            await market.spawn(Courier, fee, name=f"courier-{i}")
        await town.spawn(Customer, market.address, name="customer")
        with trio.fail_after(10):
            await town.join()  # until the customer has stopped
        failed = market.failures + town.failures
        if failed:  # an agent that failed for good: not an exit status of 0
            sys.exit(f"agents failed: {failed}")
    print("both containers closed")


if __name__ == "__main__":
    triomas.run(main)

"""MASPY's parking lot: drivers bargain with a manager, park, stay a while and leave.

    python examples/parking.py

``Parking`` is an ``Environment``: its spots are percepts
(``Percept("spot", 1, "free")``) that connected agents believe, and ``park`` and
``leave`` are actions (``@action``) agents call with ``env_action``. The manager
and the drivers are BDI agents speaking KQML: a driver ``Tell``s the manager an
offer; the manager tells back a counter-offer (halfway to its last price, never under its
floor), a deal with a spot, or that the lot is full. A driver accepts a counter
within its budget, raises its offer otherwise, and gives up at its budget. A
driver told "full" waits, in that intention only, for the ``vacancy`` the manager
broadcasts on ``Channel("Parking")`` when a car leaves.

``Admin`` spawns ``Driver_1`` ... ``Driver_5`` and connects them to the lot and
the channel. Each draws its arrival, budget and stay from ``self.random``, seeded
from the run's seed and its name: in virtual time every run tells the same story.
"""

from __future__ import annotations

import sys

import triomas
from triomas.bdi import (
    Admin,
    Any,
    BDIAgent,
    Belief,
    Channel,
    Environment,
    Event,
    Goal,
    Percept,
    Signal,
    Tell,
    action,
    gain,
    lose,
    plan,
)

LIST_PRICE, FLOOR = 20, 12
CHANNEL = Channel("Parking")


class Parking(Environment):
    """A lot of numbered spots, each ``free`` or held by a driver's name."""

    def __init__(self, spots: int) -> None:
        self.create(*(Percept("spot", n, "free") for n in range(1, spots + 1)))

    @action
    def park(self, driver: str, spot: int) -> None:
        if self.get(Percept("spot", spot, "free")) is None:  # change() would add it anyway
            raise ValueError(f"spot {spot} is taken")
        self.change(Percept("spot", spot, "free"), Percept("spot", spot, driver))

    @action
    def leave(self, driver: str, spot: int) -> None:
        self.change(Percept("spot", spot, driver), Percept("spot", spot, "free"))


class Manager(BDIAgent):
    """Sells spots: counters each offer until it reaches the asking price."""

    def __init__(self) -> None:
        self.asking: dict[str, int] = {}
        self.reserved: set[int] = set()
        self.income = 0

    @plan(gain, Belief("offer", Any))
    def offer(self, driver: str, amount: int) -> None:
        self.rm(Belief("offer", amount, source=driver))  # the same offer again is news
        spots = [b.args[0] for b in self.get_all(Belief("spot", Any, "free"))]
        free = [n for n in spots if n not in self.reserved]
        ask = self.asking.get(driver, LIST_PRICE)
        if not free:
            self.send(driver, Tell(Belief("full")))
        elif amount >= ask:
            self.reserved.add(free[0])
            self.income += amount
            self.send(driver, Tell(Belief("deal", free[0], amount)))
        else:
            self.asking[driver] = max(FLOOR, (ask + amount + 1) // 2)
            self.send(driver, Tell(Belief("counter", self.asking[driver])))

    @plan(lose, Belief("spot", Any, Any))
    def spot_changed(self, env: str, spot: int, holder: str) -> None:
        if holder == "free":  # taken: the reservation is used
            self.reserved.discard(spot)
        else:  # a car left
            self.broadcast(Signal(Belief("vacancy", spot)), CHANNEL)


class Driver(BDIAgent):
    """Arrives, bargains for a spot within its budget, parks, stays, and leaves."""

    def __init__(self) -> None:
        self.budget = self.bid = 0
        self.add(Goal("park"))

    def say(self, what: str) -> None:
        print(f"t={self.clock.now():5.1f}  {self.name}  {what}")

    @plan(gain, Goal("park"))
    async def arrive(self, src: str) -> None:
        rng = self.random
        await self.sleep(rng.randint(1, 12))
        self.budget = rng.randint(8, 18)
        self.bid = self.budget // 2
        self.say(f"arrives with a budget of {self.budget}, offers {self.bid}")
        self.send("Manager", Tell(Belief("offer", self.bid)))

    @plan(gain, Belief("counter", Any))
    def counter(self, src: str, price: int) -> None:
        self.rm(Belief("counter", Any))
        if price <= self.budget:
            self.bid = price
            self.say(f"accepts {price}")
        elif self.bid < self.budget:
            self.bid = min(self.budget, (self.bid + price) // 2)
        else:
            self.say(f"gives up: {price} is over its budget of {self.budget}")
            return
        self.send(src, Tell(Belief("offer", self.bid)))

    @plan(gain, Belief("full"))
    async def full(self, src: str) -> None:
        self.rm(Belief("full"))
        self.say("hears the lot is full and waits")
        await self.wait(Event(gain, Belief("vacancy", Any)))
        self.send(src, Tell(Belief("offer", self.bid)))

    @plan(gain, Belief("deal", Any, Any))
    async def deal(self, src: str, spot: int, price: int) -> None:
        await self.env_action("Parking", "park", spot)
        self.say(f"parks in spot {spot} for {price}")
        await self.sleep(self.random.randint(5, 15))
        await self.env_action("Parking", "leave", spot)
        self.say(f"leaves spot {spot}")


async def main() -> None:
    async with triomas.open_container() as c:
        admin = Admin(c)
        parking = await c.spawn(Parking, 2, name="Parking")
        manager = await c.spawn(Manager, name="Manager")
        drivers = await admin.agents(Driver, 5)
        admin.connect(manager, parking)
        admin.connect(drivers, parking, CHANNEL)
        report = await admin.run()
        lot = c.agent(parking, Parking)
        free = sorted(p.args[0] for p in lot.get_all(Percept("spot", Any, "free")))
        print(f"run -> {report.reason} at t={report.time:.1f}; free spots: {free}")
        print(f"the manager took {c.agent(manager, Manager).income} in all")
        if c.failures:  # an agent that failed for good: not an exit status of 0
            sys.exit(f"agents failed: {c.failures}")


if __name__ == "__main__":
    triomas.run(main, clock=triomas.VirtualClock(), seed=8)

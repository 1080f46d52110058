"""What MASPY users write, and what they get: the porting traps of issue 15, each in
both clocks where both apply."""

from __future__ import annotations

from typing import Any as AnyType

import pytest
import trio
import trio.testing

import triomas
from triomas import CalleeDown
from triomas.bdi import (
    Admin,
    Any,
    BDIAgent,
    Belief,
    Channel,
    Environment,
    Goal,
    Percept,
    RequestFailed,
    Signal,
    gain,
    lose,
    plan,
)

# each test that takes `both` runs untraced too, where the BDI fast paths are taken
pytestmark = pytest.mark.untraced

CHANNEL = Channel("Parking")


class Lot(Environment):
    def __init__(self) -> None:
        self.create(Percept("spot", 1, "free"), Percept("sign", "hidden", adds_event=False))


class Manager(BDIAgent):
    """MASPY's parking Manager: adopts a goal in ``__init__`` whose plan broadcasts at once."""

    def __init__(self) -> None:
        self.add(Goal("announce"))

    @plan(gain, Goal("announce"))
    def announce(self, src: str) -> None:
        self.broadcast(Signal(Belief("open", 1)), CHANNEL)


class Driver(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log
        self.add(Goal("look"))

    @plan(gain, Goal("look"))
    def look(self, src: str) -> None:
        # the environment's percepts are believed before the first plan runs
        spots = [b.args for b in self.get_all(Belief("spot", Any, Any))]
        self.log.append((self.name, "spots", spots))

    @plan(gain, Belief("open", Any))
    def heard(self, src: str, n: int) -> None:
        self.log.append((self.name, "open", n, src))

    @plan(gain, Belief("sign", Any))
    def sign(self, src: str, what: str) -> None:
        self.log.append((self.name, "sign event", what))  # adds_event=False: never


async def test_wiring_done_before_the_system_starts_is_there_for_the_first_plan(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    admin = Admin(both)
    lot = await both.spawn(Lot, name="Lot")
    manager = await both.spawn(Manager, name="Manager")
    drivers = await admin.agents(Driver, 2, log)
    # In real time the agents exist already; none may have run a plan yet.
    await trio.testing.wait_all_tasks_blocked()
    assert log == []
    admin.connect(drivers, lot, CHANNEL)
    admin.connect(manager, lot)
    report = await admin.run()
    assert report.reason == "idle"
    assert sorted(log) == [
        ("Driver_1", "open", 1, "Manager"),
        ("Driver_1", "spots", [(1, "free")]),
        ("Driver_2", "open", 1, "Manager"),
        ("Driver_2", "spots", [(1, "free")]),
    ]
    driver = both.agent(drivers[0], Driver)
    assert driver.has(Belief("sign", "hidden"))  # believed, without an event


async def test_the_container_run_starts_an_admin_system_too(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    admin = Admin(both)
    drivers = await admin.agents(Driver, 1, log)
    admin.connect(drivers, await both.spawn(Lot, name="Lot"))
    assert not admin.started
    await both.run(until_idle=True)  # not admin.run(): the agents must not wait forever
    assert admin.started
    assert log == [("Driver_1", "spots", [(1, "free")])]


async def test_an_admin_made_mid_run_holds_back_only_the_agents_spawned_after_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[AnyType] = []
    async with triomas.open_container() as c:
        early = await c.spawn(Driver, log, name="early")
        await trio.testing.wait_all_tasks_blocked()
        assert log == [("early", "spots", [])]
        admin = Admin(c)
        await c.spawn(Driver, log, name="late")
        await trio.testing.wait_all_tasks_blocked()
        assert [entry[0] for entry in log] == ["early"]
        c.agent(early, Driver).add(Goal("look"))  # the early one goes on
        await trio.testing.wait_all_tasks_blocked()
        assert [entry[0] for entry in log] == ["early", "early"]
        admin.start()
        await trio.testing.wait_all_tasks_blocked()
        assert [entry[0] for entry in log] == ["early", "early", "late"]


# ---- plans checked when the class is made -----------------------------------------------


def test_a_plan_that_does_not_fit_its_trigger_fails_when_the_class_is_made() -> None:
    with pytest.raises(TypeError, match=r"def counter\(self, src, v1\)"):

        class Haggler(BDIAgent):
            @plan(gain, Belief("counter", Any))
            def counter(self, src: str) -> None:  # forgot the price
                pass

    with pytest.raises(TypeError, match=r"context Belief\('budget', \(Any, Any\)\)"):

        class Buyer(BDIAgent):
            @plan(gain, Goal("buy", Any), Belief("budget", (Any, Any)))
            def buy(self, src: str, item: str, budget: tuple[int, int]) -> None:
                pass  # MASPY's binding, without maspy_compat: the values come one by one


def test_a_plan_with_star_args_or_defaults_fits() -> None:
    class Loose(BDIAgent):
        @plan(gain, Belief("a", Any, Any))
        def a(self, src: str, *values: object) -> None:
            pass

        @plan(gain, Belief("b", Any))
        def b(self, src: str, x: int, y: int = 0) -> None:
            pass

    assert len(Loose._declared) == 2


class Budgeted(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log
        self.add(Belief("budget", (8, 18)), Belief("pos", 3, 4), Belief("ready"))
        self.add(Goal("buy", "tea"))

    @plan(gain, Goal("buy", Any), [Belief("budget", (Any, Any)), Belief("pos", Any, Any)])
    def buy(self, src: str, item: str, low: int, high: int, x: int, y: int) -> None:
        self.log.append((item, low, high, x, y))


class MaspyBudgeted(BDIAgent):
    maspy_compat = True

    def __init__(self, log: list[AnyType]) -> None:
        self.log = log
        self.add(Belief("budget", (8, 18)), Belief("pos", 3, 4), Belief("ready"))
        self.add(Goal("buy", "tea"))

    @plan(
        gain,
        Goal("buy", Any),
        [Belief("budget", (Any, Any)), Belief("pos", Any, Any), Belief("ready")],
    )
    def buy(self, src: str, item: str, budget: tuple[int, int], pos: tuple[int, int]) -> None:
        self.log.append((item, budget, pos))


class MaspyChild(Budgeted):
    maspy_compat = True  # inherited plans keep the binding of the class that declared them


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (Budgeted, ("tea", 8, 18, 3, 4)),
        (MaspyBudgeted, ("tea", (8, 18), (3, 4))),
        (MaspyChild, ("tea", 8, 18, 3, 4)),
    ],
)
async def test_context_values_bind_one_by_one_or_as_maspy_binds_them(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    cls: type[BDIAgent],
    expected: tuple[AnyType, ...],
) -> None:
    log: list[AnyType] = []
    await both.spawn(cls, log)
    await both.run(until_idle=True)
    assert log == [expected]


# ---- adds_event, super().__init__(name), request ----------------------------------------


class Quiet(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        super().__init__(
            "quiet",
            beliefs=[Belief("x", 1, adds_event=False), Belief("y", 2)],
            goals=Goal("go"),
        )
        self.log = log

    @plan(gain, Belief("x", Any))
    def x(self, src: str, v: int) -> None:
        self.log.append(("+x", v))

    @plan(lose, Belief("x", Any))
    def lost_x(self, src: str, v: int) -> None:
        self.log.append(("-x", v))

    @plan(gain, Belief("y", Any))
    def y(self, src: str, v: int) -> None:
        self.log.append(("+y", v))

    @plan(gain, Goal("go"))
    def go(self, src: str) -> None:
        self.log.append(("go", self.has(Belief("x", 1))))
        self.rm(Belief("x", Any))  # no -x either
        self.add(Belief("z", 3, adds_event=False))


async def test_adds_event_false_and_maspy_constructor(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Quiet, log, name="quiet")
    await both.run(until_idle=True)
    assert log == [("+y", 2), ("go", True)]
    quiet = both.agent(ref, Quiet)
    assert quiet.has(Belief("z", 3))
    assert not quiet.has(Belief("x", Any))
    assert repr(Belief("x", 1, adds_event=False)) == "Belief('x', 1)"
    assert Belief("x", 1, adds_event=False) == Belief("x", 1)


async def test_a_name_given_to_the_maspy_constructor_must_be_the_spawned_one(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    class Named(BDIAgent):
        def __init__(self, name: str) -> None:
            super().__init__(name)

    await both.spawn(Named, "D1", name="D1")  # the same name: fine
    with pytest.raises(ValueError, match=r"spawn\(.*Named, \.\.\., name='D2'\)"):
        await both.spawn(Named, "D2", name="other")


class Requester(BDIAgent):
    def __init__(self, log: list[AnyType], to: str) -> None:
        self.log = log
        self.to = to
        self.add(Goal("go"))

    @plan(gain, Goal("go"))
    async def go(self, src: str) -> None:
        try:
            self.log.append(await self.request(self.to, Goal("double", 4)))
            await self.request(self.to, Goal("unplanned"))
        except RequestFailed as exc:
            self.log.append(("failed", "no applicable plan" in str(exc.reason)))
        try:
            await self.request("nobody", Goal("double", 1), timeout=5)
        except CalleeDown:
            self.log.append(("down", self.clock.now()))


class Doubler(BDIAgent):
    @plan(gain, Goal("double", Any))
    def double(self, src: str, n: int) -> int:
        return 2 * n


async def test_request_returns_the_result_and_raises_on_failure(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Doubler, name="doubler")
    await both.spawn(Requester, log, "doubler")
    await both.run(until_idle=True)
    assert log == [8, ("failed", True), ("down", 0.0)]

"""BDI agents: beliefs, goals, plans, the cycle, intentions, and the speech acts (S5, S6)."""

from __future__ import annotations

import logging
from typing import Any as AnyType

import pytest
import trio.testing

import triomas
from triomas import AskTimeout, CalleeDown, Codec, NoHandler
from triomas.bdi import (
    Achieve,
    Any,
    AskOne,
    BDIAgent,
    Belief,
    Event,
    Goal,
    NoApplicablePlan,
    PlanFailure,
    RequestFailed,
    Signal,
    Tell,
    TellHow,
    Trigger,
    Unachieve,
    Untell,
    UntellHow,
    gain,
    lose,
    plan,
    plan_spec,
    teachable,
    test,
)
from triomas.bdi._terms import bindings, matches, normalize
from triomas.testing import TraceRecorder

# each test that takes `both` runs untraced too, where the BDI fast paths are taken
pytestmark = pytest.mark.untraced

# ---- terms -------------------------------------------------------------------------------


def test_patterns_match_by_name_arity_values_and_source() -> None:
    b = Belief("pos", 1, (2, 3), source="env")
    assert matches(Belief("pos", Any, Any), b)
    assert matches(Belief("pos", 1, (Any, 3), source="env"), b)
    assert not matches(Belief("pos", Any), b)
    assert not matches(Belief("pos", 2, Any), b)
    assert not matches(Belief("pos", Any, Any, source="other"), b)
    assert not matches(Goal("pos", Any, Any), b)
    assert bindings(Belief("pos", Any, (Any, 3)), b) == (1, 2)


def test_arguments_are_frozen_and_must_be_hashable() -> None:
    assert Belief("l", [1, [2]], 3).args == ((1, (2,)), 3)
    with pytest.raises(TypeError, match="hashable"):
        Belief("o", bytearray(b"x"))


def test_dict_and_set_arguments_are_frozen_as_maspy_users_write_them() -> None:
    config = {"speed": 3, "tags": ["a", "b"]}
    belief = Belief("config", config, {1, 2})
    frozen = belief.args[0]
    assert frozen == {"speed": 3, "tags": ("a", "b")}
    assert belief.args[1] == frozenset({1, 2})
    assert hash(belief) == hash(Belief("config", dict(config), {2, 1}))
    with pytest.raises(TypeError, match="cannot change"):
        frozen["speed"] = 4
    assert config == {"speed": 3, "tags": ["a", "b"]}  # the caller's dict is untouched
    assert matches(Belief("config", Any, Any), belief)
    assert bindings(Belief("config", Any, Any), belief)[0] == config | {"tags": ("a", "b")}
    # over the wire a dict travels as a dict, and arrives frozen again
    codec = Codec()
    again = normalize(codec.loads(codec.dumps(Belief("config", {"speed": 3}))))
    assert again == Belief("config", {"speed": 3})
    assert hash(again) == hash(Belief("config", {"speed": 3}))


def test_beliefs_goals_and_wildcards_survive_the_codec() -> None:
    codec = Codec()
    for item in (Belief("x", 1, (2, "a"), source="s"), Goal("g", Any), Belief("n")):
        back = codec.loads(codec.dumps(item))
        assert type(back) is type(item)
        assert normalize(back) == item  # what a receiver does with it


def test_plans_need_a_plan_trigger_and_patterns() -> None:
    with pytest.raises(ValueError, match="gain, lose or test"):
        plan(Trigger.SUCCESS, Goal("g"))
    with pytest.raises(TypeError):
        plan(gain, "g")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        plan(gain, Goal("g"), context=[3])  # type: ignore[list-item]


# ---- the belief base and plan selection --------------------------------------------------


class Selector(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log
        self.add(Belief("price", 10), Belief("price", 12), Belief("mode", "cheap"))

    @plan(gain, Goal("buy", Any), context=Belief("mode", "rich"))
    def buy_rich(self, src: str, item: str) -> None:
        self.log.append(("rich", item))

    @plan(gain, Goal("buy", Any), context=[Belief("mode", "cheap"), Belief("price", Any)])
    def buy_cheap(self, src: str, item: str, price: int) -> None:
        self.log.append(("cheap", src, item, price))

    @plan(gain, Goal("buy", Any))
    def buy_any(self, src: str, item: str) -> None:
        self.log.append(("any", item))

    @plan(gain, Belief("price", Any), context=lambda self: self.has(Belief("mode", "cheap")))
    def saw_price(self, src: str, price: int) -> None:
        self.log.append(("price", src, price))


async def test_the_first_applicable_plan_runs_with_its_bindings(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Selector, log, name="sel")
    await both.run_until_idle()
    assert log == [("price", "self", 10), ("price", "self", 12)]
    log.clear()
    both.send(ref, Achieve(Goal("buy", "milk")))
    await both.run_until_idle()
    assert log == [("cheap", "unknown", "milk", 10)]


async def test_add_rm_has_get(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    agents: list[BDIAgent] = []

    class Keeper(BDIAgent):
        def setup(self) -> None:
            agents.append(self)

    await both.spawn(Keeper)
    await both.run_until_idle()
    (k,) = agents
    k.add(Belief("a", 1), [Belief("a", 2), Belief("b")])
    assert k.has(Belief("a", Any))
    assert not k.has(Belief("c"))
    assert k.get(Belief("a", Any)) == Belief("a", 1, source="self")
    assert k.get_all(Belief("a", Any)) == [
        Belief("a", 1, source="self"),
        Belief("a", 2, source="self"),
    ]
    assert k.rm(Belief("a", Any)) == 2
    assert k.beliefs == [Belief("b", source="self")]
    with pytest.raises(TypeError):
        k.add(3)  # type: ignore[arg-type]


# ---- intentions, subgoals, failure, drop, wait ---------------------------------------------


class Worker(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Goal("long", Any))
    async def long(self, src: str, n: int) -> int:
        self.log.append(("long start", n, self.clock.now()))
        await self.sleep(5)
        self.log.append(("long end", n, self.clock.now()))
        return n

    @plan(gain, Goal("quick"))
    def quick(self, src: str) -> None:
        self.log.append(("quick", self.clock.now()))

    @plan(gain, Goal("parent"))
    async def parent(self, src: str) -> None:
        self.log.append(("sub", await self.achieve(Goal("double", 21))))
        try:
            await self.achieve(Goal("broken"))
        except PlanFailure as exc:
            self.log.append(("sub failed", type(exc).__name__))
        try:
            await self.achieve(Goal("unknown"))
        except NoApplicablePlan:
            self.log.append("no plan")
        self.log.append(("recovered", await self.achieve(Goal("fragile"))))

    @plan(gain, Goal("double", Any))
    def double(self, src: str, n: int) -> int:
        return 2 * n

    @plan(gain, Goal("broken"))
    def broken(self, src: str) -> None:
        raise ValueError("broken")

    @plan(gain, Goal("fragile"))
    def fragile(self, src: str) -> None:
        raise ValueError("fragile")

    @plan(lose, Goal("fragile"))
    def fragile_failed(self, src: str) -> str:
        return "handled"

    @plan(gain, Goal("root_fails"))
    def root_fails(self, src: str) -> None:
        raise RuntimeError("root")

    @plan(lose, Goal("root_fails"))
    def root_failed(self, src: str) -> None:
        self.log.append(("-!root_fails", src))


async def test_intentions_run_side_by_side(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Worker, log, name="w")
    both.send(ref, Achieve(Goal("long", 1)))
    both.send(ref, Achieve(Goal("quick")))
    await both.run_until_idle()
    # a plan that cannot wait runs at once; the other waits in a task of its own
    assert log == [("quick", 0.0), ("long start", 1, 0.0), ("long end", 1, 5.0)]


async def test_subgoals_run_inline_and_failures_are_handled(
    both: triomas.Container, autojump_clock: trio.testing.MockClock, recorder: TraceRecorder
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Worker, log, name="w")
    both.send(ref, Achieve(Goal("parent")))
    both.send(ref, Achieve(Goal("root_fails")))
    await both.run_until_idle()
    assert log == [
        ("-!root_fails", "unknown"),  # plain plans run at once
        ("sub", 42),
        ("sub failed", "PlanFailure"),
        "no plan",
        ("recovered", "handled"),
    ]
    kinds = [(r.event, r.payload) for r in recorder.records if r.agent == "w"]
    assert ("failure", "Goal('root_fails', source='unknown')") in kinds
    assert ("success", "Goal('parent', source='unknown')") in kinds


async def test_a_failing_plan_never_kills_the_agent(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Worker, log, name="w")
    both.send(ref, Achieve(Goal("root_fails")))
    both.send(ref, Achieve(Goal("nothing_for_this")))
    await both.run_until_idle()
    both.send(ref, Achieve(Goal("quick")))
    await both.run_until_idle()
    assert ("quick", 0.0) in log
    assert both._registry.cells["w"].incarnation == 1


class Waiter(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log
        self.add(Goal("watch"), Goal("tick"))

    @plan(gain, Goal("watch"))
    async def watch(self, src: str) -> None:
        got = await self.wait(Event(gain, Belief("door", Any)), timeout=10)
        self.log.append(("saw", got, self.clock.now()))
        got = await self.wait(Event(gain, Belief("never")), timeout=2)
        self.log.append(("timeout", got, self.clock.now()))

    @plan(gain, Goal("tick"))
    async def tick(self, src: str) -> None:
        await self.sleep(3)
        self.log.append(("tick", self.clock.now()))
        self.add(Belief("door", "open"))


async def test_wait_suspends_only_its_intention(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Waiter, log)
    await both.run_until_idle()
    assert log == [
        ("tick", 3.0),
        ("saw", Event(gain, Belief("door", "open", source="self")), 3.0),
        ("timeout", None, 5.0),
    ]


async def test_wait_needs_something_to_wait_for(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    errors: list[BaseException] = []

    class Impatient(BDIAgent):
        async def setup(self) -> None:
            try:
                await self.wait()
            except ValueError as exc:
                errors.append(exc)

    await both.spawn(Impatient)
    await both.run_until_idle()
    assert len(errors) == 1


async def test_drop_desire_intention_and_event(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    agents: list[Worker] = []

    class Dropper(Worker):
        def setup(self) -> None:
            agents.append(self)

    await both.spawn(Dropper, log, name="d")
    await both.run_until_idle()
    (d,) = agents
    d.post(Goal("long", 1))
    d.post(Goal("long", 2))
    await both.run(seconds=1)
    assert d.drop_intention(Goal("long", 1)) == 1
    await both.run(seconds=1)
    assert d.goals == [Goal("long", 2, source="self")]
    assert d.drop_desire(Goal("long", Any)) == 2  # the goal and its intention
    await both.run_until_idle()
    assert d.goals == []
    assert d.intentions == []
    assert [e for e in log if e[0] == "long end"] == []
    assert d.drop_event(Goal("long", Any)) == 0


class Exclusive(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Goal("slow"))
    async def slow(self, src: str) -> None:
        for _ in range(3):
            await self.sleep(1)
            self.log.append(("slow", self.clock.now()))

    @plan(gain, Goal("atomic"), exclusive=True)
    async def atomic(self, src: str) -> None:
        self.log.append(("atomic start", self.clock.now()))
        await self.sleep(2.5)
        self.log.append(("atomic end", self.clock.now()))

    @plan(gain, Goal("after"))
    def after(self, src: str) -> None:
        self.log.append(("after", self.clock.now()))


async def test_an_exclusive_plan_holds_other_intentions_back(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Exclusive, log)
    both.send(ref, Achieve(Goal("slow")))
    await both.run(seconds=0.5)
    both.send(ref, Achieve(Goal("atomic")))
    both.send(ref, Achieve(Goal("after")))
    await both.run_until_idle()
    assert log == [
        ("atomic start", 0.5),
        ("atomic end", 3.0),
        ("after", 3.0),  # no new intention started meanwhile
        ("slow", 3.0),  # its sleep ended at 1.0, but it was held back until now
        ("slow", 4.0),
        ("slow", 5.0),
    ]


async def test_show_exec_logs_the_cycle(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Chatty(Worker):
        show_exec = True

    ref = await both.spawn(Chatty, [], name="chatty")
    with caplog.at_level(logging.INFO, logger="triomas.bdi"):
        both.send(ref, Achieve(Goal("quick")))
        await both.run_until_idle()
    text = caplog.text
    assert "chatty @ 0: gain Goal('quick', source='unknown')" in text
    assert "intend gain Goal('quick', source='unknown') with quick" in text
    assert "success Goal('quick', source='unknown')" in text


# ---- S6: tell / untell / achieve / unachieve / tellHow / untellHow ------------------------


class Receiver(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Belief("b", Any))
    def gained(self, src: str, n: int) -> None:
        self.log.append(("+b", n, src))

    @plan(lose, Belief("b", Any))
    def lost(self, src: str, n: int) -> None:
        self.log.append(("-b", n, src))

    @plan(gain, Goal("g", Any))
    async def g(self, src: str, n: int) -> None:
        self.log.append(("g", n, src, self.clock.now()))
        await self.sleep(5)
        self.log.append(("g done", n))

    @plan(gain, Belief("ping"))
    def pinged(self, src: str) -> None:
        self.log.append(("signal", src, self.has(Belief("ping"))))


@triomas.message
class Later:
    act: AnyType


class Sender(triomas.Agent):
    """Sends speech acts to R at given times; any agent may speak to a BDI agent."""

    def __init__(self, plan_of_acts: list[tuple[float, AnyType]]) -> None:
        for at, act in plan_of_acts:
            self.set_alarm(Later(act), at=at)

    @triomas.on(Later)
    def forward(self, later: Later) -> None:
        self.send("R", later.act)


async def test_s6_tell_untell_sources_and_no_deadlock(
    vc: triomas.Container, recorder: TraceRecorder
) -> None:
    # virtual time only: the order between two senders is fixed there, not in real time
    log: list[AnyType] = []
    await vc.spawn(Receiver, log, name="R")
    await vc.spawn(Sender, [(0, Tell(Belief("b", 1))), (2, Untell(Belief("b", 1)))], name="S1")
    await vc.spawn(Sender, [(0, Tell(Belief("b", 1))), (3, Tell(Belief("b", 2)))], name="S2")
    await vc.run_until_idle()
    assert log == [("+b", 1, "S1"), ("+b", 1, "S2"), ("-b", 1, "S1"), ("+b", 2, "S2")]
    # the follow-up tell was handled as soon as it arrived
    arrivals = [x for x in recorder.records if x.agent == "R" and x.event == "gain"]
    assert [x.time for x in arrivals] == [0.0, 0.0, 3.0]


async def test_a_repeated_tell_raises_no_new_event(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Receiver, log, name="R")
    await both.spawn(Sender, [(0, Tell(Belief("b", 1))), (1, Tell([Belief("b", 1)]))], name="S1")
    await both.run_until_idle()
    assert log == [("+b", 1, "S1")]


async def test_s6_achieve_success_and_unachieve_drop(
    both: triomas.Container, autojump_clock: trio.testing.MockClock, recorder: TraceRecorder
) -> None:
    log: list[AnyType] = []
    await both.spawn(Receiver, log, name="R")
    await both.spawn(
        Sender,
        [(0, Achieve(Goal("g", 1))), (10, Achieve(Goal("g", 7))), (12, Unachieve(Goal("g", 7)))],
        name="S1",
    )
    await both.run_until_idle()
    assert log == [("g", 1, "S1", 0.0), ("g done", 1), ("g", 7, "S1", 10.0)]
    events = [(r.time, r.event, r.payload) for r in recorder.records if r.agent == "R"]
    assert (5.0, "success", "Goal('g', 1, source='S1')") in events
    assert (12.0, "dropped", "Goal('g', 7, source='S1')") in events
    agent = both._registry.cells["R"].agent
    assert isinstance(agent, BDIAgent)
    assert agent.goals == []
    assert agent.intentions == []


async def test_signal_raises_an_event_without_a_belief(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Receiver, log, name="R")
    await both.spawn(Sender, [(0, Signal(Belief("ping"))), (1, Signal(Belief("ping")))], name="S1")
    await both.run_until_idle()
    assert log == [("signal", "S1", False), ("signal", "S1", False)]


@teachable("test_bdi.greet")
@plan(gain, Goal("greet", Any))
def greet(agent: BDIAgent, src: str, who: str) -> str:
    agent.add(Belief("greeted", who))
    return f"hello {who}"


class Teacher(BDIAgent):
    def __init__(self, steps: list[tuple[float, AnyType]], log: list[AnyType]) -> None:
        self.steps = steps
        self.log = log
        self.add(Goal("teach"))

    @plan(gain, Goal("teach"))
    async def teach(self, src: str) -> None:
        for at, act in self.steps:
            await self.sleep_until(at)
            if isinstance(act, Goal):
                try:
                    self.log.append(await self.request("R", act))
                except RequestFailed as exc:
                    self.log.append(exc)
            else:
                self.send("R", act)

    @teachable("test_bdi.shout")
    @plan(gain, Goal("shout", Any))
    def shout(self, src: str, what: str) -> str:
        return what.upper()


async def test_s6_tell_how_teaches_and_untell_how_unteaches(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    spec = plan_spec("test_bdi.greet", gain, Goal("greet", Any))
    await both.spawn(Receiver, [], name="R")
    await both.spawn(
        Teacher,
        [
            (0, Goal("greet", "ann")),
            (1, TellHow(spec)),
            (2, Goal("greet", "bob")),
            (3, UntellHow("test_bdi.greet")),
            (4, Goal("greet", "cy")),
        ],
        log,
        name="T",
    )
    await both.run_until_idle()
    assert isinstance(log[0], RequestFailed)
    assert log[0].reason == repr(
        NoApplicablePlan("no applicable plan for Goal('greet', 'ann', source='T')")
    )
    assert log[1] == "hello bob"
    assert isinstance(log[2], RequestFailed)


async def test_tell_how_refuses_unregistered_plans(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from triomas.bdi import NotUnderstood, PlanSpec

    got: list[AnyType] = []

    class Student(BDIAgent):
        @triomas.on(NotUnderstood)
        def refused(self, msg: NotUnderstood) -> None:
            got.append(msg.what)

    await both.spawn(Receiver, [], name="R")
    await both.spawn(Sender, [(0, TellHow(PlanSpec("os.system", "gain", Goal("x"))))], name="S")
    await both.spawn(Student, name="St")
    with caplog.at_level(logging.WARNING, logger="triomas.bdi"):
        await both.run_until_idle()
    assert "not registered as teachable" in caplog.text


# ---- S5: askOne / askAll / askHow ----------------------------------------------------------


class Knower(BDIAgent):
    def __init__(self) -> None:
        self.add(Belief("x", 5), Belief("x", 6), Belief("value", 42))

    @plan(test, Belief("computed", Any))
    def compute(self, src: str, _: AnyType) -> None:
        self.add(Belief("computed", 99))

    @teachable("test_bdi.knower_sum")
    @plan(gain, Goal("sum", Any, Any))
    def sum(self, src: str, a: int, b: int) -> int:
        return a + b


class Asker(BDIAgent):
    maspy = False

    def __init__(self, log: list[AnyType], script: str) -> None:
        self.log = log
        self.script = script
        self.add(Goal(script))

    @plan(gain, Goal("sync"))
    async def sync(self, src: str) -> None:
        self.add(Goal("beside"))
        self.log.append(("one", await self.ask_one("R_1", Belief("value", Any)), self.clock.now()))
        self.log.append(("missing", await self.ask_one("R_1", Belief("nope")), self.clock.now()))
        self.log.append(("all", await self.ask_all("R_1", Belief("x", Any))))
        self.log.append(("none", await self.ask_all("R_1", Belief("zz", Any))))
        self.log.append(("test", await self.ask_one("R_1", Belief("computed", Any))))
        self.log.append(("believes", self.has(Belief("value", Any))))
        for to in ("ghost", "Plain", "Silent"):
            try:
                await self.ask_one(to, Belief("value", Any), timeout=2)
            except AskTimeout:
                self.log.append(("timeout", to, self.clock.now()))
            except (CalleeDown, NoHandler) as exc:  # the runtime knows at once
                self.log.append((type(exc).__name__, to, self.clock.now()))

    @plan(gain, Goal("beside"))
    def beside(self, src: str) -> None:
        self.log.append(("beside", self.clock.now()))

    @plan(gain, Goal("async"))
    def async_ask(self, src: str) -> None:
        self.send("R_1", AskOne(Belief("value", Any)))

    @plan(gain, Belief("value", Any))
    def got_value(self, src: str, v: int) -> None:
        self.log.append(("+value", v, src))

    @plan(gain, Goal("how"))
    async def how(self, src: str) -> None:
        specs = await self.ask_how("R_1", gain, Goal("sum", Any, Any), learn=True)
        self.log.append(("how", [s.name for s in specs]))
        self.log.append(("learnt", await self.achieve(Goal("sum", 2, 3))))

    @plan(gain, Goal("fan"))
    async def fan(self, src: str) -> None:
        for i in range(10):
            self.add(Goal("one_of", i))

    @plan(gain, Goal("one_of", Any))
    async def one_of(self, src: str, i: int) -> None:
        got = await self.ask_one(f"K{i}", Belief("k", Any))
        assert isinstance(got, Belief)
        self.log.append((i, got.args[0], got.source, self.clock.now()))


class Plain(triomas.Agent):
    pass


class Silent(BDIAgent):
    @triomas.on(AskOne)
    def ignore(self, msg: AskOne) -> None:
        pass


async def test_s5_ask_one_and_ask_all(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Knower, name="R_1")
    await both.spawn(Silent, name="Silent")
    await both.spawn(Plain, name="Plain")
    await both.spawn(Asker, log, "sync", name="S")
    await both.run_until_idle()
    assert log == [
        ("beside", 0.0),
        ("one", Belief("value", 42, source="R_1"), 0.0),
        ("missing", False, 0.0),
        ("all", [Belief("x", 5, source="R_1"), Belief("x", 6, source="R_1")]),
        ("none", []),
        ("test", Belief("computed", 99, source="R_1")),
        ("believes", False),
        ("CalleeDown", "ghost", 0.0),  # no such agent
        ("NoHandler", "Plain", 0.0),  # not a BDI agent
        ("timeout", "Silent", 2.0),
    ]


async def test_s5_maspy_compat_adds_answers_and_gives_none(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Compat(Asker):
        maspy_compat = True

    await both.spawn(Knower, name="R_1")
    await both.spawn(Silent, name="Silent")
    await both.spawn(Compat, log, "sync", name="S")
    await both.run_until_idle()
    assert ("missing", None, 0.0) in log
    assert ("believes", True) in log
    assert ("+value", 42, "R_1") in log


async def test_s5_an_async_ask_one_is_answered_by_a_tell(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Knower, name="R_1")
    await both.spawn(Asker, log, "async", name="S")
    await both.run_until_idle()
    assert log == [("+value", 42, "R_1")]


async def test_s5_ten_concurrent_asks_resolve_independently(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class K(BDIAgent):
        def __init__(self, i: int, delay: float) -> None:
            self.i = i
            self.delay = delay
            self.add(Belief("k", i))

        @triomas.on(AskOne)
        async def slow_answer(self, msg: AskOne, env: triomas.Envelope) -> None:
            await self.sleep(self.delay)
            self.send(env.sender, Tell(Belief("k", self.i)), in_reply_to=env.reply_with)  # type: ignore[arg-type]

    for i in range(10):
        await both.spawn(K, i, (10 - i) * 0.1, name=f"K{i}")
    await both.spawn(Asker, log, "fan", name="S")
    await both.run_until_idle()
    assert sorted(log) == sorted((i, i, f"K{i}", pytest.approx((10 - i) * 0.1)) for i in range(10))
    assert [entry[0] for entry in log] == list(range(9, -1, -1))


async def test_ask_how_returns_and_teaches_registered_plans(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Knower, name="R_1")
    await both.spawn(Asker, log, "how", name="S")
    await both.run_until_idle()
    assert log == [("how", ["test_bdi.knower_sum"]), ("learnt", 5)]


async def test_a_late_answer_is_ignored(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Slow(BDIAgent):
        @triomas.on(AskOne)
        async def late(self, msg: AskOne, env: triomas.Envelope) -> None:
            await self.sleep(3)
            self.send(env.sender, Tell(Belief("value", 1)), in_reply_to=env.reply_with)  # type: ignore[arg-type]

    class Asks(Asker):
        @plan(gain, Goal("late"))
        async def ask_late(self, src: str) -> None:
            try:
                await self.ask_one("R_1", Belief("value", Any), timeout=1)
            except AskTimeout:
                self.log.append(("timeout", self.clock.now()))

    await both.spawn(Slow, name="R_1")
    await both.spawn(Asks, log, "late", name="S")
    await both.run_until_idle()
    assert log == [("timeout", 1.0)]  # and no +value from the late tell


async def test_request_reports_done_and_failure(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    await both.spawn(Worker, [], name="R")
    await both.spawn(
        Teacher, [(0, Goal("quick")), (0, Goal("root_fails")), (0, Goal("nope"))], log, name="T"
    )
    await both.run_until_idle()
    assert log[0] is None  # InformDone
    assert isinstance(log[1], RequestFailed)
    assert "root" in log[1].reason
    assert isinstance(log[2], RequestFailed)
    assert "no applicable plan" in log[2].reason


def test_bdi_runs_are_deterministic() -> None:
    def once() -> list[str]:
        rec = TraceRecorder()

        async def main() -> None:
            async with triomas.open_container(trace=rec) as c:
                await c.spawn(Knower, name="R_1")
                await c.spawn(Silent, name="Silent")
                await c.spawn(Asker, [], "sync", name="S")
                await c.spawn(Receiver, [], name="R")
                await c.spawn(
                    Sender, [(0, Tell(Belief("b", 1))), (1, Achieve(Goal("g", 2)))], name="S1"
                )
                await c.run_until_idle()

        triomas.run(main, clock=triomas.VirtualClock(), seed=3)
        return [str(r) for r in rec.records]

    first = once()
    assert first == once() == once()
    assert any("\tgain\t" in line for line in first)

"""The BDI tell's fast paths and their fallbacks (docs/performance.md, "BDI").

Compiled pattern matchers, the plan index, an event selected as it happens with no
``Event`` made, a belief's plan run with no ``Intention`` made, the told belief's copy,
and a speech act on the tell's fast path with its performative in the envelope.
"""

from __future__ import annotations

import logging
from typing import Any as AnyType

import pytest
import trio.testing
from hypothesis import given
from hypothesis import strategies as st

import triomas
from triomas.bdi import (
    Any,
    BDIAgent,
    Belief,
    Event,
    Goal,
    Tell,
    Trigger,
    Untell,
    gain,
    lose,
    plan,
    test,
)
from triomas.bdi._base import Base
from triomas.bdi._match import compile_pattern
from triomas.bdi._plans import PlanLibrary
from triomas.bdi._terms import bindings, matches, normalize, told

# each test that takes `both` runs untraced too, where the BDI fast paths are taken
pytestmark = pytest.mark.untraced

# ---- compiled matchers -------------------------------------------------------------------

_values = st.sampled_from([0, 1, 2, "a", "b", 1.5, None, True])
_value_trees = st.recursive(_values, lambda inner: st.tuples(inner, inner), max_leaves=4)
_pattern_trees = st.recursive(
    st.one_of(_values, st.just(Any)), lambda inner: st.tuples(inner, inner), max_leaves=4
)
_sources = st.sampled_from([None, "s1", "s2"])


@given(
    pattern_args=st.lists(_pattern_trees, max_size=3),
    item_args=st.lists(_value_trees, max_size=3),
    pattern_source=_sources,
    item_source=_sources,
)
def test_a_compiled_matcher_agrees_with_matches_and_bindings(
    pattern_args: list[AnyType],
    item_args: list[AnyType],
    pattern_source: str | None,
    item_source: str | None,
) -> None:
    pattern = Belief("p", *pattern_args, source=pattern_source)
    match = compile_pattern(pattern)
    # an item made to fit the pattern's shape, and an arbitrary one
    shaped = [_fill(p, v) for p, v in zip(pattern_args, item_args, strict=False)]
    fitted = Belief("p", *shaped, *item_args[len(shaped) :], source=item_source)
    for item in (fitted, Belief("p", *item_args, source=item_source)):
        expected = bindings(pattern, item) if matches(pattern, item) else None
        assert match(item) == expected, (pattern, item)


def _fill(pattern: AnyType, value: AnyType) -> AnyType:
    """``value`` where ``pattern`` has a wildcard, ``pattern``'s constants elsewhere."""
    if pattern is Any:
        return value
    if type(pattern) is tuple:
        values = value if type(value) is tuple and len(value) == len(pattern) else pattern
        return tuple(_fill(p, v) for p, v in zip(pattern, values, strict=True))
    return pattern


def test_compiled_matchers_of_each_shape() -> None:
    b = Belief("pos", 1, (2, 3), source="env")
    assert compile_pattern(Belief("pos", Any, Any))(b) == (1, (2, 3))
    assert compile_pattern(Belief("pos", 1, (Any, 3), source="env"))(b) == (2,)
    assert compile_pattern(Belief("pos", Any, (Any, Any)))(b) == (1, 2, 3)
    assert compile_pattern(Belief("pos", 1, (2, 3)))(b) == ()
    assert compile_pattern(Belief("pos", 1, (2, 3), source="env"))(b) == ()
    assert compile_pattern(Belief("pos", 1, (2, 3), source="other"))(b) is None
    assert compile_pattern(Belief("pos", Any, Any, source="other"))(b) is None
    assert compile_pattern(Belief("pos", Any))(b) is None  # arity
    assert compile_pattern(Belief("pos", 2, Any))(b) is None  # a constant
    assert compile_pattern(Belief("pos", Any, (Any,)))(b) is None  # a nested arity
    assert compile_pattern(Belief("pos", Any, (Any, Any)))(Belief("pos", 1, 2)) is None
    assert compile_pattern(Goal("greet"))(Goal("greet", source="self")) == ()
    # the arguments themselves when the pattern is only wildcards
    assert compile_pattern(Belief("pos", Any, Any))(b) is b.args


# ---- the plan index ------------------------------------------------------------------------


class Indexed(BDIAgent):
    @plan(gain, Belief("x", Any))
    def gain_belief(self, src: str, v: AnyType) -> None: ...

    @plan(gain, Belief("x", 1))
    def gain_belief_one(self, src: str) -> None: ...

    @plan(gain, Goal("x", Any))
    def gain_goal(self, src: str, v: AnyType) -> None: ...

    @plan(lose, Belief("x", Any))
    def lose_belief(self, src: str, v: AnyType) -> None: ...

    @plan(test, Belief("x", Any))
    def test_belief(self, src: str, v: AnyType) -> None: ...


def test_the_plan_index_keeps_triggers_kinds_and_names_apart() -> None:
    library = PlanLibrary(Indexed._declared)

    def labels(trigger: Trigger, item: Belief | Goal) -> list[str]:
        return [p.label for p in library.relevant(trigger, item)]

    assert labels(gain, Belief("x", 1)) == ["gain_belief", "gain_belief_one"]
    assert labels(gain, Belief("x", 2)) == ["gain_belief"]
    assert labels(gain, Goal("x", 1)) == ["gain_goal"]
    assert labels(lose, Belief("x", 1)) == ["lose_belief"]
    assert labels(test, Belief("x", 1)) == ["test_belief"]
    assert labels(lose, Goal("x", 1)) == []
    assert labels(gain, Belief("y", 1)) == []
    assert labels(Trigger.SUCCESS, Goal("x", 1)) == []  # no plans there
    assert [p.label for p in library.candidates(gain, Belief("x", 2))] == [
        "gain_belief",
        "gain_belief_one",
    ]


# ---- the belief base and the told belief ---------------------------------------------------


def test_a_belief_added_twice_is_held_once_the_first_kept() -> None:
    base: Base[Belief] = Base()
    first = Belief("b", 1, source="s", adds_event=False)
    assert base.add(first)
    assert not base.add(Belief("b", 1, source="s"))
    assert base.add(Belief("b", 1, source="t"))
    assert next(iter(base)) is first
    assert len(base) == 2


def test_a_told_belief_is_a_copy_with_its_source() -> None:
    belief = Belief("b", 1, (2, 3), adds_event=False)
    copy = told(belief, "sender")
    assert copy == Belief("b", 1, (2, 3), source="sender")
    assert copy.args is belief.args
    assert not copy.adds_event
    assert belief.source is None  # the sender's belief is untouched
    assert normalize(copy, "sender") is copy  # already from that source: no copy
    assert normalize(belief, "sender") == copy


# ---- an event selected as it happens, and its fallbacks -----------------------------------


class Chain(BDIAgent):
    """Each belief's plan records itself; ``step(n)`` adds ``step(n + 1)`` up to 3."""

    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Belief("step", Any))
    def step(self, src: str, n: int) -> None:
        self.log.append(("step", n, [e.content.args for e in self.intentions]))
        if n < 3:
            self.add(Belief("step", n + 1), Belief("side", n))

    @plan(gain, Belief("side", Any))
    def side(self, src: str, n: int) -> None:
        self.log.append(("side", n))

    @plan(lose, Belief("step", Any))
    def unstep(self, src: str, n: int) -> None:
        self.log.append(("unstep", n))


async def test_events_raised_by_a_plan_wait_their_turn(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Chain, log)
    await both.run_until_idle()
    both.send(ref, Tell(Belief("step", 1)))
    await both.run_until_idle()
    # the plan that runs at once sees itself among the intentions, and what it adds
    # waits behind it, in order
    assert log == [
        ("step", 1, [(1,)]),
        ("step", 2, [(2,)]),
        ("side", 1),
        ("step", 3, [(3,)]),
        ("side", 2),
    ]
    log.clear()
    both.send(ref, Untell(Belief("step", 2)))
    await both.run_until_idle()
    assert log == []  # only the sender's beliefs go, and "unknown" told none
    agent = both.agent(ref, Chain)
    assert agent.rm(Belief("step", 2)) == 1
    assert log == [("unstep", 2)]
    assert agent.intentions == []
    assert agent._running == {}


async def test_events_of_init_wait_until_the_agent_runs(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Early(Chain):
        def __init__(self, log: list[AnyType]) -> None:
            super().__init__(log)
            self.add(Belief("step", 3))
            self.log.append("init done")

    await both.spawn(Early, log)
    assert log == ["init done"]
    await both.run_until_idle()
    assert log == ["init done", ("step", 3, [(3,)])]


async def test_a_waiter_sees_the_event_an_inline_plan_handles(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Watcher(Chain):
        @plan(gain, Goal("watch"))
        async def watch(self, src: str) -> None:
            got = await self.wait(Event(gain, Belief("side", Any)), timeout=5)
            self.log.append(("saw", got))

    ref = await both.spawn(Watcher, log)
    both.agent(ref, Watcher).post(Goal("watch"))
    await both.run(seconds=1)
    both.send(ref, Tell(Belief("step", 3)))
    await both.run(seconds=1)
    both.send(ref, Tell(Belief("side", 7)))
    await both.run_until_idle()
    assert log == [
        ("step", 3, [(), (3,)]),  # the watch intention, then itself
        ("side", 7),
        ("saw", Event(gain, Belief("side", 7, source="unknown"))),
    ]


async def test_an_exclusive_plan_holds_a_told_belief_back(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Busy(Chain):
        @plan(gain, Goal("atomic"), exclusive=True)
        async def atomic(self, src: str) -> None:
            self.log.append(("atomic", self.clock.now()))
            await self.sleep(2)
            self.log.append(("atomic end", self.clock.now()))

    ref = await both.spawn(Busy, log)
    both.agent(ref, Busy).post(Goal("atomic"))
    await both.run(seconds=1)
    both.send(ref, Tell(Belief("step", 3)))
    await both.run_until_idle()
    assert log == [("atomic", 0.0), ("atomic end", 2.0), ("step", 3, [(3,)])]


async def test_a_belief_plan_that_waits_runs_as_a_task(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Slow(BDIAgent):
        @plan(gain, Belief("job", Any))
        async def job(self, src: str, n: int) -> None:
            await self.sleep(1)
            log.append(("job", n, self.clock.now(), [e.content for e in self.intentions]))

    ref = await both.spawn(Slow)
    both.send(ref, Tell(Belief("job", 1)))
    both.send(ref, Tell(Belief("job", 2)))
    await both.run(seconds=0.5)
    assert len(both.agent(ref, Slow).intentions) == 2
    await both.run_until_idle()
    # in real time trio decides the order in which the two tasks first run
    assert sorted((n, t) for _, n, t, _ in log) == [(1, 1.0), (2, 1.0)]
    assert both.agent(ref, Slow).intentions == []


async def test_a_plan_running_at_once_can_be_dropped_and_counted_once(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    counts: list[int] = []

    class Dropping(BDIAgent):
        @plan(gain, Belief("b", Any))
        def b(self, src: str, n: int) -> None:
            counts.append(self.drop_intention(Belief("b", Any)))  # type: ignore[arg-type]
            counts.append(self.drop_intention(Belief("b", Any)))  # type: ignore[arg-type]

    ref = await both.spawn(Dropping)
    both.send(ref, Tell(Belief("b", 1)))
    await both.run_until_idle()
    assert counts == [1, 0]
    assert both.agent(ref, Dropping)._running == {}


async def test_a_failing_plan_run_at_once_posts_its_failure(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[AnyType] = []

    class Fragile(BDIAgent):
        @plan(gain, Belief("b", Any))
        def b(self, src: str, n: int) -> None:
            if n == 1:
                raise ValueError("no")
            log.append(("b", n))

        @plan(gain, Goal("watch"))
        async def watch(self, src: str) -> None:
            got = await self.wait(Event(Trigger.FAILURE, Belief("b", Any)), timeout=5)
            log.append(("failure", got.content, type(got.error).__name__))

    ref = await both.spawn(Fragile)
    both.agent(ref, Fragile).post(Goal("watch"))
    await both.run(seconds=1)
    with caplog.at_level(logging.WARNING, logger="triomas.bdi"):
        both.send(ref, Tell(Belief("b", 1)))
        await both.run(seconds=1)
    both.send(ref, Tell(Belief("b", 2)))
    await both.run_until_idle()
    assert log == [("failure", Belief("b", 1, source="unknown"), "ValueError"), ("b", 2)]
    assert "plan b for gain Belief('b', 1, source='unknown') failed" in caplog.text
    agent = both.agent(ref, Fragile)
    assert agent._running == {}
    assert agent._inline is None


async def test_a_failing_plan_run_at_once_never_kills_the_agent(
    both: triomas.Container,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    log: list[AnyType] = []

    class Fragile(BDIAgent):
        @plan(gain, Belief("b", Any))
        def b(self, src: str, n: int) -> None:
            if n == 1:
                raise ValueError("no")
            log.append(("b", n, [e.content for e in self.intentions]))

    ref = await both.spawn(Fragile)
    with caplog.at_level(logging.WARNING, logger="triomas.bdi"):
        both.send(ref, Tell(Belief("b", 1)))
        both.send(ref, Tell(Belief("b", 2)))
        await both.run_until_idle()
    assert log == [("b", 2, [Belief("b", 2, source="unknown")])]
    assert "plan b for gain Belief('b', 1, source='unknown') failed" in caplog.text
    agent = both.agent(ref, Fragile)
    assert agent._running == {}
    assert agent._inline is None
    assert both._registry.cells[ref.name].incarnation == 1


async def test_a_belief_plan_run_at_once_checks_its_context(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Picky(BDIAgent):
        @plan(gain, Belief("price", Any), context=Belief("mode", Any))
        def priced(self, src: str, price: int, mode: str) -> None:
            log.append(("priced", price, mode))

        @plan(gain, Belief("price", Any), context=lambda self: False)
        def never(self, src: str, price: int) -> None:
            log.append(("never", price))

        @plan(gain, Belief("price", Any))
        async def fallback(self, src: str, price: int) -> None:  # no await: runs at once
            log.append(("fallback", price))

    ref = await both.spawn(Picky)
    both.send(ref, Tell(Belief("price", 1)))
    await both.run_until_idle()
    both.agent(ref, Picky).add(Belief("mode", "cheap"))
    both.send(ref, Tell(Belief("price", 2)))
    await both.run_until_idle()
    assert log == [("fallback", 1), ("priced", 2, "cheap")]


async def test_context_patterns_bind_as_matches_and_bindings_do(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []

    class Contexts(BDIAgent):
        def __init__(self) -> None:
            self.add(Belief("pos", 1, (2, 3)), Belief("pos", 4, (5, 6)), Goal("busy", 7))
            self.add(Belief("mode", "exact", source="boss"))

        @plan(gain, Goal("busy", Any))
        async def busy(self, src: str, n: int) -> None:
            await self.sleep(10)

        @plan(
            gain,
            Belief("go"),
            context=[
                Belief("pos", Any, (Any, 6)),  # the second, by its nested constant
                Goal("busy", Any),  # a goal held
                Belief("mode", "exact", source="boss"),  # found by its hash
            ],
        )
        def go(self, src: str, a: int, b: int, busy: int) -> None:
            log.append(("go", a, b, busy))

    class MaspyContexts(Contexts):
        maspy_compat = True

        @plan(gain, Belief("go"), context=[Belief("pos", Any, (Any, 3)), Belief("mode", Any)])
        def go_maspy(self, src: str, pos: AnyType, mode: str) -> None:
            log.append(("go_maspy", pos, mode))

    await both.spawn(Contexts, name="c")
    await both.spawn(MaspyContexts, name="m")
    await both.run(seconds=1)
    both.send("c", Tell(Belief("go")))
    both.send("m", Tell(Belief("go")))
    both.send("m", Tell(Belief("not yet")))
    await both.run(seconds=1)
    both.agent("c", Contexts).drop_desire(Goal("busy", Any))
    both.send("c", Untell(Belief("go")))
    # told again (its source is the sender's, whatever it says): no goal busy now
    both.send("c", Tell(Belief("go", source="again")))
    await both.run_until_idle()
    # the inherited plan binds one value per wildcard even under maspy_compat, and comes
    # first; the MASPY plan of the subclass binds one value per pattern
    assert log == [("go", 4, 5, 7), ("go", 4, 5, 7)]
    log.clear()
    m = both.agent("m", MaspyContexts)
    m.rm(Belief("pos", 4, (5, 6)))
    m.add(Belief("go", 2))
    assert log == []  # no plan for go(2)
    m.rm(Belief("go"))
    m.add(Belief("go"))
    assert log == [("go_maspy", (1, (2, 3)), "exact")]


async def test_a_belief_with_no_plan_and_one_without_event(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[AnyType] = []
    ref = await both.spawn(Chain, log)
    both.send(ref, Tell(Belief("nobody", 1)))
    both.send(ref, Tell(Belief("step", 3, adds_event=False)))
    both.send(ref, Tell([Belief("side", 1), Belief("side", 2)]))
    await both.run_until_idle()
    assert log == [("side", 1), ("side", 2)]
    assert set(both.agent(ref, Chain).beliefs) == {
        Belief("nobody", 1, source="unknown"),
        Belief("step", 3, source="unknown"),
        Belief("side", 1, source="unknown"),
        Belief("side", 2, source="unknown"),
    }


# ---- the sender's side: an act on the tell's fast path -------------------------------------


class Peek(triomas.Agent):
    """Records every envelope's performative, topic and sender."""

    def __init__(self, seen: list[AnyType]) -> None:
        self.seen = seen

    @triomas.on(Tell)
    def tell(self, act: Tell, env: triomas.Envelope) -> None:
        self.seen.append((act.content, env.performative, env.topic, env.sender.name))

    @triomas.on(Belief)
    def plain(self, belief: Belief, env: triomas.Envelope) -> None:
        self.seen.append((belief, env.performative, env.topic, env.sender.name))


class Speaker(BDIAgent):
    def __init__(self, to: str) -> None:
        self.add(Goal("speak", to))

    @plan(gain, Goal("speak", Any))
    def speak(self, src: str, to: str) -> None:
        self.send(to, Tell(Belief("b", 1)))
        self.send(to, Belief("b", 2))  # not an act: no performative
        self.send(to, Tell(Belief("b", 3)), conversation_id="c1")
        self.send(to, Tell(Belief("b", 4)), performative="inform")


async def test_an_act_sent_with_no_option_carries_its_performative(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[AnyType] = []
    await both.spawn(Peek, seen, name="peek")
    await both.spawn(Speaker, "peek", name="speaker")
    await both.run_until_idle()
    assert seen == [
        (Belief("b", 1), "tell", "Tell", "speaker"),
        (Belief("b", 2), None, "Belief", "speaker"),
        (Belief("b", 3), "tell", "Tell", "speaker"),
        (Belief("b", 4), "inform", "Tell", "speaker"),
    ]


async def test_an_act_keeps_its_performative_when_read_by_hand(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    read: list[AnyType] = []

    class ByHand(triomas.Agent):
        def update(self) -> None:
            while self.messages:
                read.append(self.receive().performative)

    await both.spawn(ByHand, name="peek")
    await both.spawn(Speaker, "peek", name="speaker")
    await both.run_until_idle()
    assert read == ["tell", None, "tell", "inform"]


async def test_a_tell_across_containers_has_its_performative_and_source() -> None:
    log: list[AnyType] = []
    seen: list[AnyType] = []
    heard = trio.Event()

    class Hearer(BDIAgent):
        @plan(gain, Belief("b", Any))
        def b(self, src: str, n: int) -> None:
            log.append((src, n))
            if seen:
                heard.set()

    class Peeker(Peek):
        @triomas.on(Tell)
        def tell(self, act: Tell, env: triomas.Envelope) -> None:
            super().tell(act, env)
            if log:
                heard.set()

    class Teller(BDIAgent):
        def __init__(self, *to: str) -> None:
            self.add(Goal("tell", to))

        @plan(gain, Goal("tell", Any))
        def tell(self, src: str, to: tuple[str, ...]) -> None:
            for name in to:
                self.send(name, Tell(Belief("b", 1)))

    async with (
        triomas.open_container("tcp://127.0.0.1:0") as a,
        triomas.open_container("tcp://127.0.0.1:0") as b,
    ):
        peek = await a.spawn(Peeker, seen, name="peek")
        hearer = await a.spawn(Hearer, name="hearer")
        await b.spawn(Teller, peek.address, hearer.address, name="teller")
        with trio.fail_after(5):
            await heard.wait()
    # the sender's address is the source, and the envelope crossed with its performative
    assert log == [(f"{b.address}/teller", 1)]
    # (a belief's arguments arrive as a list, which the BDI agent freezes again)
    assert [(normalize(c), *rest) for c, *rest in seen] == [
        (Belief("b", 1), "tell", "Tell", "teller")
    ]

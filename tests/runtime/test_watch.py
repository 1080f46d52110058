"""Monitors and links (supervision spec rows 20 and 21), in virtual time."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triomas
from triomas import (
    Agent,
    AgentRef,
    Down,
    Exit,
    Failure,
    LinkedActorFailed,
    NoProc,
    Normal,
    Shutdown,
    message,
    on,
)


@message(tag="watch.Crash")
class Crash:
    pass


@message(tag="watch.Quit")
class Quit:
    pass


class Target(Agent):
    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise ValueError("target broke")

    @on(Quit)
    def quit(self, msg: Quit) -> None:
        self.stop()


class Watcher(Agent):
    def __init__(self, target: AgentRef | str, seen: list[tuple[float, object]]) -> None:
        self.target = target
        self.seen = seen

    def setup(self) -> None:
        self.mref = self.monitor(self.target)

    @on(Down)
    def down(self, msg: Down) -> None:
        self.seen.append((self.clock.now(), msg))


async def test_one_down_when_the_target_stops_for_good(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, object]] = []
    target = await both.spawn(Target)
    watcher = await both.spawn(Watcher, target, seen)
    for _ in range(3):  # three crashes, three restarts: no Down
        await both.clock.sleep(1)
        both.send(target, Crash())
    await both.run_until_idle()
    assert seen == []
    await both.clock.sleep(1)
    both.send(target, Quit())
    await both.run_until_idle()
    ((t, down),) = seen
    assert t == 4.0
    assert isinstance(down, Down)
    assert down.ref == target
    assert down.monitor == both.agent(watcher, Watcher).mref
    assert down.reason == Normal()


async def test_down_carries_the_failure_of_a_temporary_target(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, object]] = []
    target = await both.spawn(Target, restart="temporary")
    await both.spawn(Watcher, target, seen)
    await both.clock.sleep(3)
    both.send(target, Crash())
    await both.run_until_idle()
    ((t, down),) = seen
    assert t == 3.0
    assert isinstance(down.reason, Failure)  # type: ignore[attr-defined]
    assert isinstance(down.reason.exception, ValueError)  # type: ignore[attr-defined]


async def test_monitor_of_a_dead_or_unknown_agent_is_down_noproc_at_once(
    vc: triomas.Container,
) -> None:
    seen: list[tuple[float, object]] = []
    gone = await vc.spawn(Target)
    await vc.remove(gone)
    await vc.clock.sleep(2)
    await vc.spawn(Watcher, gone, seen)
    await vc.spawn(Watcher, "nobody", seen)
    await vc.run_until_idle()
    assert [(t, d.reason, d.ref.name) for t, d in seen] == [  # type: ignore[attr-defined]
        (2.0, NoProc(), gone.name),
        (2.0, NoProc(), "nobody"),
    ]


async def test_normal_stop_and_shutdown_reasons(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, object]] = []
    quitter = await both.spawn(Target)
    removed = await both.spawn(Target)
    # start(): each watcher's setup() (its monitor) is done before the Quit goes out,
    # which in real time nothing else orders
    await both.start(Watcher, quitter, seen)
    await both.start(Watcher, removed, seen)
    both.send(quitter, Quit())
    await both.run_until_idle()
    await both.remove(removed)
    await both.run_until_idle()
    assert [d.reason for _, d in seen] == [Normal(), Shutdown("removed")]  # type: ignore[attr-defined]


async def test_demonitor_with_flush_drops_a_queued_down(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    outcome: list[object] = []

    class Fickle(Agent):
        def __init__(self, target: AgentRef) -> None:
            self.target = target

        @on(Quit)
        async def go(self, msg: Quit) -> None:
            keep = self.monitor(self.target)
            drop = self.monitor(self.target)
            self.container.send(self.target, Quit())
            await self.sleep(1)  # the target stops meanwhile: both Downs are queued
            outcome.append(self.demonitor(drop, flush=True))
            outcome.append(self.demonitor(keep))  # already fired: nothing to remove
            outcome.append(len(self.messages))

        @on(Down)
        def down(self, msg: Down) -> None:
            outcome.append(msg.reason)

    target = await both.spawn(Target)
    fickle = await both.spawn(Fickle, target)
    both.send(fickle, Quit())
    await both.run_until_idle()
    assert outcome == [False, False, 1, Normal()]


async def test_demonitor_before_the_stop_means_no_down(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    seen: list[tuple[float, object]] = []
    target = await both.spawn(Target)
    watcher = await both.spawn(Watcher, target, seen)
    await both.run_until_idle()
    agent = both.agent(watcher, Watcher)
    assert agent.demonitor(agent.mref) is True
    both.send(target, Quit())
    await both.run_until_idle()
    assert seen == []


async def test_a_stopped_watcher_leaves_no_monitor_behind(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    events: list[object] = []
    both.on_event(events.append)
    target = await both.spawn(Target)
    watcher = await both.spawn(Watcher, target, [])
    await both.run_until_idle()
    await both.remove(watcher)
    both.send(target, Quit())
    await both.run_until_idle()
    assert not any(isinstance(e, triomas.DeadLetter) for e in events)
    assert both._registry.cells == {}


class Partner(Agent):
    def __init__(self, log: list[tuple[float, str, object]], trap: bool = False) -> None:
        self.log = log
        self.trap_exits = trap

    @on(Crash)
    def crash(self, msg: Crash) -> None:
        raise RuntimeError("partner broke")

    @on(Quit)
    def quit(self, msg: Quit) -> None:
        self.stop()

    @on(Exit)
    def exited(self, msg: Exit) -> None:
        self.log.append((self.clock.now(), self.name, msg.reason))

    def teardown(self) -> None:
        self.log.append((self.clock.now(), self.name, "teardown"))


async def test_a_failure_travels_along_links(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[float, str, object]] = []
    exits: dict[str, object] = {}
    both.on_event(
        lambda e: (
            exits.__setitem__(e.ref.name, e.reason) if isinstance(e, triomas.ChildExited) else None
        )
    )
    a = await both.spawn(Partner, log, name="a")
    b = await both.spawn(Partner, log, name="b")
    c = await both.spawn(Partner, log, name="c")
    both.link(a, b)
    both.link(b, c)
    await both.clock.sleep(1)
    both.send(c, Crash())
    await both.run_until_idle()
    assert [entry[1] for entry in log] == ["c", "b", "a"]  # teardowns, in cascade
    assert all(t == 1.0 for t, _, _ in log)
    reason = exits["b"]
    assert isinstance(reason, Failure)
    assert isinstance(reason.exception, LinkedActorFailed)
    assert reason.exception.peer == c
    assert isinstance(exits["a"], Failure)
    # each was restarted; the links ended with the incarnations that failed
    assert [both.lookup(name) for name in "abc"] == [a, b, c]
    await both.clock.sleep(10)  # out of the root's restart window
    both.send(c, Crash())
    await both.run_until_idle()
    assert [entry[1] for entry in log] == ["c", "b", "a", "c"]


async def test_trap_exits_turns_the_failure_into_a_message(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[float, str, object]] = []
    a = await both.spawn(Partner, log, True, name="a")
    b = await both.spawn(Partner, log, name="b")
    both.link(a, b)
    both.send(b, Crash())
    await both.run_until_idle()
    assert [(name, type(what).__name__) for _, name, what in log] == [
        ("b", "str"),
        ("a", "Failure"),
    ]
    assert both.lookup("a") == a


async def test_normal_exits_and_shutdowns_do_not_travel(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[float, str, object]] = []
    a = await both.spawn(Partner, log, name="a")
    b = await both.spawn(Partner, log, name="b")
    c = await both.spawn(Partner, log, name="c")
    both.link(a, b)
    both.link(a, c)
    both.send(b, Quit())
    await both.run_until_idle()
    await both.remove(c)
    assert both.lookup("a") == a
    # unlinked agents do not affect each other either
    d = await both.spawn(Partner, log, name="d")
    both.link(a, d)
    both.agent(a).unlink(d)
    both.send(d, Crash())
    await both.run_until_idle()
    assert both.lookup("a") == a


async def test_linking_to_a_missing_agent(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[float, str, object]] = []
    errors: list[BaseException] = []

    class Linker(Partner):
        @on(Quit)
        def quit(self, msg: Quit) -> None:
            try:
                self.link("ghost")
            except LinkedActorFailed as exc:
                errors.append(exc)

    plain = await both.spawn(Linker, log, name="plain")
    trapper = await both.spawn(Linker, log, True, name="trapper")
    both.send(plain, Quit())
    both.send(trapper, Quit())
    await both.run_until_idle()
    assert len(errors) == 1
    assert errors[0].reason == NoProc()  # type: ignore[attr-defined]
    assert ("trapper", NoProc()) in [(name, what) for _, name, what in log]


async def test_links_and_monitors_in_real_time(autojump_clock: trio.testing.MockClock) -> None:
    log: list[tuple[float, str, object]] = []
    seen: list[tuple[float, object]] = []
    async with triomas.open_container() as c:
        a = await c.spawn(Partner, log, name="a", restart="temporary")
        b = await c.spawn(Partner, log, name="b")
        await c.spawn(Watcher, a, seen)
        c.link(a, b)
        await c.run_until_idle()
        with pytest.raises(triomas.CalleeDown):
            await c.ask(b, Crash())
        await c.run_until_idle()
        assert c.lookup("a") is None
        ((_, down),) = seen
        assert isinstance(down.reason, Failure)  # type: ignore[attr-defined]


async def test_link_from_outside_by_address(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    log: list[tuple[float, str, object]] = []
    a = await both.spawn(Partner, log, name="a", restart="temporary")
    b = await both.spawn(Partner, log, name="b")
    both.link("a", b.address)
    both.send(b, Crash())
    await both.run_until_idle()
    assert both.lookup("a") is None  # the failure travelled along the link
    assert a.name == "a"

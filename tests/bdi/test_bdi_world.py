"""BDI agents in a world: environments, channels, Admin, the Contract Net, real time,
and speech acts between containers."""

from __future__ import annotations

from typing import Any as AnyType

import pytest
import trio

import triomas
from triomas.bdi import (
    ActionError,
    Admin,
    Any,
    BDIAgent,
    Belief,
    Bid,
    Channel,
    ContractNetParticipant,
    Environment,
    Event,
    Goal,
    Percept,
    Tell,
    action,
    contract_net,
    gain,
    lose,
    plan,
)
from triomas.testing import TraceRecorder

# ---- environments ------------------------------------------------------------------------


class Lot(Environment):
    def __init__(self) -> None:
        self.create(Percept("spot", 1, "free"), Percept("spot", 2, "free"))

    @action
    def park(self, agent: str, spot: int) -> str:
        if self.get(Percept("spot", spot, "free")) is None:
            raise ValueError(f"spot {spot} is taken")
        self.change(Percept("spot", spot, Any), Percept("spot", spot, agent))
        return f"{agent} parked at {spot}"

    @action
    async def leave(self, agent: str, spot: int) -> None:
        self.change(Percept("spot", spot, agent), Percept("spot", spot, "free"))


class Driver(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Belief("spot", Any, Any))
    def saw(self, src: str, n: int, state: str) -> None:
        self.log.append((self.name, "+spot", n, state, src))

    @plan(lose, Belief("spot", Any, Any))
    def unsaw(self, src: str, n: int, state: str) -> None:
        self.log.append((self.name, "-spot", n, state))

    @plan(gain, Goal("park", Any))
    async def park(self, src: str, n: int) -> None:
        try:
            self.log.append(await self.env_action("lot", "park", n))
        except ActionError as exc:
            self.log.append((self.name, "refused", str(exc)))

    @plan(gain, Goal("leave", Any))
    async def leave(self, src: str, n: int) -> None:
        self.log.append((self.name, "left", await self.env_action("lot", "leave", n)))

    @plan(gain, Goal("dance"))
    async def dance(self, src: str) -> None:
        await self.env_action("lot", "dance")


async def test_percepts_are_pushed_and_actions_change_them(vc: triomas.Container) -> None:
    log: list[AnyType] = []
    await vc.spawn(Lot, name="lot")
    d = await vc.spawn(Driver, log, name="d")
    vc.send(d, _connect("lot"))
    await vc.run_until_idle()
    assert log == [("d", "+spot", 1, "free", "lot"), ("d", "+spot", 2, "free", "lot")]
    log.clear()
    vc.send(d, _achieve(Goal("park", 2)))
    await vc.run_until_idle()
    # the action's result resumes the plan; the percepts it changed follow in the mail
    assert log == ["d parked at 2", ("d", "-spot", 2, "free"), ("d", "+spot", 2, "d", "lot")]
    log.clear()
    vc.send(d, _achieve(Goal("park", 2)))
    vc.send(d, _achieve(Goal("dance")))
    await vc.run_until_idle()
    assert log == [("d", "refused", "ValueError: spot 2 is taken")]
    log.clear()
    vc.send(d, _achieve(Goal("leave", 2)))
    await vc.run_until_idle()
    assert log == [("d", "left", None), ("d", "-spot", 2, "d"), ("d", "+spot", 2, "free", "lot")]


async def test_leaving_an_environment_retracts_its_percepts(vc: triomas.Container) -> None:
    agents: list[BDIAgent] = []

    class Watcher(BDIAgent):
        def setup(self) -> None:
            agents.append(self)
            self.connect_to("lot")

    await vc.spawn(Lot, name="lot")
    await vc.spawn(Watcher)
    await vc.run_until_idle()
    (w,) = agents
    assert w.get_all(Belief("spot", Any, Any, source="lot")) == [
        Belief("spot", 1, "free", source="lot"),
        Belief("spot", 2, "free", source="lot"),
    ]
    w.disconnect_from("lot")
    await vc.run_until_idle()
    assert w.beliefs == []


def test_environment_percepts_api() -> None:
    async def main() -> None:
        async with triomas.open_container() as c:
            ref = await c.spawn(Lot, name="lot")
            lot = c._registry.cells[ref.name].agent
            assert isinstance(lot, Lot)
            assert lot.get_all(Percept("spot", Any, "free")) == [
                Percept("spot", 1, "free"),
                Percept("spot", 2, "free"),
            ]
            assert lot.delete(Percept("spot", 1, Any)) == 1
            assert lot.percepts == [Percept("spot", 2, "free")]
            assert lot.get(Percept("spot", 1, Any)) is None
            assert lot.change(Percept("spot", 9, Any), Percept("spot", 9, "free")) == 0
            assert lot.percepts == [Percept("spot", 2, "free")]
            assert lot.connected == []

    triomas.run(main, clock=triomas.VirtualClock())


# ---- channels and Admin ------------------------------------------------------------------


class Listener(BDIAgent):
    def __init__(self, log: list[AnyType]) -> None:
        self.log = log

    @plan(gain, Belief("news", Any))
    def news(self, src: str, what: str) -> None:
        self.log.append((self.name, what, src))

    @plan(gain, Goal("announce", Any))
    def announce(self, src: str, what: str) -> None:
        self.broadcast(Tell(Belief("news", what)), Channel("Parking"))


async def test_admin_spawns_connects_and_channels_broadcast(vc: triomas.Container) -> None:
    log: list[AnyType] = []
    admin = Admin(vc)
    members = await admin.agents(Listener, 3, log)
    outsider = await vc.spawn(Listener, log, name="outsider")
    assert [m.name for m in members] == ["Listener_1", "Listener_2", "Listener_3"]
    admin.connect(members, Channel("Parking"))
    await admin.run()
    vc.send(outsider, _achieve(Goal("announce", "full")))
    await admin.run()
    assert sorted(log) == [
        ("Listener_1", "full", "outsider"),
        ("Listener_2", "full", "outsider"),
        ("Listener_3", "full", "outsider"),
    ]


# ---- the Contract Net ----------------------------------------------------------------------


class Bidder(ContractNetParticipant):
    def __init__(self, price: float | None, delay: float = 0.0, fail: bool = False) -> None:
        self.price = price
        self.delay = delay
        self.fail = fail
        self.performed: list[AnyType] = []

    async def bid(self, task: AnyType, initiator: str) -> AnyType:
        await self.sleep(self.delay)
        return self.price

    async def perform(self, task: AnyType, proposal: AnyType) -> AnyType:
        await self.sleep(1)
        if self.fail:
            raise RuntimeError("truck broke down")
        return f"{task} delivered for {proposal}"


class Initiator(BDIAgent):
    def __init__(self, out: list[AnyType], bidders: list[str], k: int = 1) -> None:
        self.out = out
        self.bidders = bidders
        self.k = k
        self.add(Goal("buy"))

    @plan(gain, Goal("buy"))
    async def buy(self, src: str) -> None:
        def cheapest(bids: list[Bid]) -> list[Bid]:
            return sorted(bids, key=lambda b: b.proposal)[: self.k]

        self.out.append(
            await contract_net(
                self, self.bidders, "crate", deadline=5, choose=cheapest, result_timeout=10
            )
        )
        self.out.append(self.clock.now())


async def test_contract_net_with_refusals_late_and_silent(
    vc: triomas.Container, recorder: TraceRecorder
) -> None:
    out: list[AnyType] = []
    await vc.spawn(Bidder, 30.0, name="a")
    await vc.spawn(Bidder, 20.0, name="b")
    await vc.spawn(Bidder, None, name="c")  # refuses
    await vc.spawn(Bidder, 10.0, 5.5, name="late")  # after the deadline
    await vc.spawn(Bidder, 25.0, name="d")
    await vc.spawn(Initiator, out, ["a", "b", "c", "late", "d", "ghost"], name="i")
    await vc.run_until_idle()
    result, finished_at = out
    assert [b.participant for b in result.bids] == ["a", "b", "d"]
    assert result.refused == {"c": "no bid"}
    assert result.accepted == [Bid("b", 20.0)]
    assert result.results == {"b": "crate delivered for 20.0"}
    assert result.silent == ["late", "ghost"]
    assert result.late == ["late"]  # late, but before the net ended
    assert finished_at == 6.0
    rejected = [r for r in recorder.records if r.agent == "late" and r.event == "rejected"]
    assert rejected
    assert "'late'" in rejected[0].payload


async def test_contract_net_reports_failures_and_ends_early(vc: triomas.Container) -> None:
    out: list[AnyType] = []
    await vc.spawn(Bidder, 1.0, fail=True, name="a")
    await vc.spawn(Bidder, 2.0, name="b")
    await vc.spawn(Initiator, out, ["a", "b"], 2, name="i")
    await vc.run_until_idle()
    result, finished_at = out
    assert result.failed == {"a": "RuntimeError('truck broke down')"}
    assert result.results == {"b": "crate delivered for 2.0"}
    assert finished_at == 1.0  # everyone answered at once: no wait for the deadline


async def test_contract_net_messages_carry_the_fipa_fields(vc: triomas.Container) -> None:
    seen: list[triomas.Envelope] = []

    class Spy(Bidder):
        async def bid(self, task: AnyType, initiator: str) -> AnyType:
            return 5.0

    class Tap(triomas.Agent):
        def setup(self) -> None:
            self.subscribe(sender="i")

        @triomas.on(object)
        def saw(self, msg: AnyType, env: triomas.Envelope) -> None:
            seen.append(env)

    await vc.spawn(Tap)
    await vc.spawn(Spy, None, name="a")
    await vc.spawn(Initiator, [], ["a"], name="i")
    await vc.run_until_idle()
    cfp, accept = seen[0], seen[1]
    assert (cfp.performative, cfp.protocol, cfp.reply_by) == ("cfp", "fipa-contract-net", 5.0)
    assert accept.performative == "accept-proposal"
    assert accept.conversation_id == cfp.conversation_id
    assert accept.in_reply_to == "a/" + str(cfp.conversation_id)


# ---- real time and two containers ----------------------------------------------------------


class Knows(BDIAgent):
    def __init__(self) -> None:
        self.add(Belief("value", 42))

    @plan(gain, Goal("double", Any))
    def double(self, src: str, n: int) -> int:
        return 2 * n

    @plan(gain, Belief("from", Any))
    def answer(self, src: str, who: str) -> None:
        self.send(src, Tell(Belief("hello", who)))  # src is an address if remote


class Asks(BDIAgent):
    def __init__(self, to: str, out: list[AnyType], done: trio.Event) -> None:
        self.to = to
        self.out = out
        self.done = done
        self.add(Goal("go"))

    @plan(gain, Goal("go"))
    async def go(self, src: str) -> None:
        self.out.append(await self.ask_one(self.to, Belief("value", Any)))
        self.out.append(await self.ask_all(self.to, Belief("value", Any)))
        self.out.append(await self.request(self.to, Goal("double", 21)))
        self.send(self.to, Tell(Belief("from", self.name)))
        self.out.append(await self.ask_one(self.to, Belief("nope")))
        if not self.has(Belief("hello", Any)):
            await self.wait(Event(gain, Belief("hello", Any)), timeout=5)
        hello = self.get(Belief("hello", Any))
        self.out.append(None if hello is None else hello.args)
        self.done.set()


@pytest.mark.parametrize("remote", [False, True], ids=["one container", "two containers"])
async def test_speech_acts_in_real_time_and_across_containers(remote: bool) -> None:

    out: list[AnyType] = []
    done = trio.Event()
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://127.0.0.1:0") as a,
            triomas.open_container("tcp://127.0.0.1:0") as b,
        ):
            await a.spawn(Knows, name="R")
            home = b if remote else a
            await home.spawn(Asks, f"{a.address}/R", out, done, name="S")
            await done.wait()
            source = f"{a.address}/R" if remote else "R"
    assert out == [
        Belief("value", 42, source=source),
        [Belief("value", 42, source=source)],
        42,
        False,
        ("S",),
    ]


# ---- helpers -------------------------------------------------------------------------------


def _connect(env: str) -> AnyType:
    from triomas.bdi._admin import ConnectTo

    return ConnectTo((), (env,))


def _achieve(goal: Goal) -> AnyType:
    from triomas.bdi import Achieve

    return Achieve(goal)


class Stubborn(BDIAgent):
    """Pursues a goal forever until told to drop it, then asks a herald in the
    other container to broadcast, and ends the test when the news arrives."""

    def __init__(self, herald: str, done: trio.Event) -> None:
        self.herald = herald
        self.done = done
        self.add(Goal("forever"), Goal("watch"))

    @plan(gain, Goal("forever"))
    async def forever(self, src: str) -> None:
        await self.wait(timeout=3600)

    @plan(gain, Goal("watch"))
    async def watch(self, src: str) -> None:
        from triomas.bdi import Achieve, Event, Trigger

        await self.wait(Event(Trigger.DROPPED, Goal("forever")))
        self.send(self.herald, Achieve(Goal("announce", "check")))

    @plan(gain, Belief("news", Any))
    def news(self, src: str, what: str) -> None:
        if what == "check" and not self.has(Goal("forever")):
            self.done.set()


class Counting(Driver):
    def __init__(self, log: list[AnyType], seen: trio.Event) -> None:
        super().__init__(log)
        self.seen = seen

    @plan(gain, Belief("spot", Any, Any))
    def saw(self, src: str, n: int, state: str) -> None:
        super().saw(src, n, state)
        if n == 2:
            self.seen.set()


async def test_live_drop_and_a_world_across_containers() -> None:
    from triomas.bdi import Unachieve

    seen, done = trio.Event(), trio.Event()
    log: list[AnyType] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://127.0.0.1:0") as a,
            triomas.open_container("tcp://127.0.0.1:0") as b,
        ):
            await a.spawn(Lot, name="lot")
            await a.spawn(Listener, [], name="herald")
            driver = await b.spawn(Counting, log, seen, name="d")
            stubborn = await b.spawn(Stubborn, f"{a.address}/herald", done, name="s")
            admin = Admin(b)
            admin.connect([driver], f"{a.address}/lot")
            admin.connect([stubborn], Channel("Parking"))
            await seen.wait()
            b.send(stubborn, Unachieve(Goal("forever")))
            await done.wait()
            lot = f"{a.address}/lot"  # a source in another container is an address
    assert log == [("d", "+spot", 1, "free", lot), ("d", "+spot", 2, "free", lot)]

"""The simulated network: seeded latency and loss between local containers, in virtual time."""

from __future__ import annotations

import pytest

import triomas
from triomas import Agent, AgentRef, DeadLetter, DeadLetterReason, Envelope, SimNetwork, message, on
from triomas.testing import TraceRecorder


@message(tag="sim.Hop")
class Hop:
    n: int


@message(tag="sim.Tick")
class Tick:
    n: int


class Echo(Agent):
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, int]] = []

    @on(Hop)
    def hop(self, msg: Hop) -> int:
        self.arrivals.append((self.clock.now(), msg.n))
        return msg.n

    @on(Tick)
    def tick(self, msg: Tick, env: Envelope) -> None:
        self.arrivals.append((self.clock.now(), msg.n))


class Asker(Agent):
    def __init__(self, to: AgentRef, n: int, log: list[str]) -> None:
        self.to = to
        self.n = n
        self.log = log

    async def setup(self) -> None:
        for i in range(self.n):
            start = self.clock.now()
            try:
                await self.ask(self.to, Hop(i), timeout=1)
                self.log.append(f"{i} ok after {self.clock.now() - start:.4f}")
            except triomas.AskTimeout:
                self.log.append(f"{i} timed out at {self.clock.now():.4f}")
        self.stop()


async def _run(seed: int, loss: float) -> tuple[list[str], list[str], SimNetwork]:
    net = SimNetwork(latency=(0.01, 0.05), loss=loss, seed=seed)
    log: list[str] = []
    recorder = TraceRecorder()
    clock = triomas.VirtualClock()
    async with (
        triomas.open_container("local://a", network=net, trace=recorder, clock=clock) as a,
        triomas.open_container("local://b", network=net, trace=recorder, clock=clock) as b,
    ):
        echo = await b.spawn(Echo)
        await a.spawn(Asker, echo, 30, log)
        await a.run_until_idle()
    return log, str(recorder).splitlines(), net


async def test_latency_stays_in_its_range_and_the_run_replays_exactly() -> None:
    runs = [await _run(seed=5, loss=0.0) for _ in range(3)]
    log, trace, net = runs[0]
    assert all(run[:2] == (log, trace) for run in runs)
    rounds = [float(line.split()[-1]) for line in log]
    assert all(0.02 <= r <= 0.1 for r in rounds)  # there and back
    assert len(set(rounds)) > 10  # drawn, not fixed
    assert (net.delivered, net.lost) == (60, 0)
    other, _, _ = await _run(seed=6, loss=0.0)
    assert other != log


async def test_lost_messages_are_dead_letters_and_asks_time_out() -> None:
    log, _, net = await _run(seed=3, loss=0.3)
    timeouts = [line for line in log if "timed out" in line]
    assert timeouts
    assert len(timeouts) == net.lost  # each lost request or reply costs its ask a timeout


async def test_fifo_per_pair_despite_random_latency() -> None:
    net = SimNetwork(latency=(0.0, 1.0), seed=1)
    clock = triomas.VirtualClock()
    async with (
        triomas.open_container("local://a", network=net, clock=clock) as a,
        triomas.open_container("local://b", network=net, clock=clock) as b,
    ):
        echo = await b.spawn(Echo)
        for i in range(50):
            a.send(echo, Tick(i))
        await a.run_until_idle()
        arrivals = b.agent(echo, Echo).arrivals
        assert [n for _, n in arrivals] == list(range(50))
        assert [t for t, _ in arrivals] == sorted(t for t, _ in arrivals)
        assert arrivals[-1][0] <= 1.0


async def test_a_lost_tell_is_reported_with_its_reason() -> None:
    net = SimNetwork(loss=0.999999, seed=1)
    letters: list[DeadLetter] = []
    clock = triomas.VirtualClock()
    async with (
        triomas.open_container("local://a", network=net, clock=clock) as a,
        triomas.open_container("local://b", network=net, clock=clock) as b,
    ):
        a.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
        echo = await b.spawn(Echo)
        a.send(echo, Tick(1))
        await a.run_until_idle()
    assert [(d.reason, d.message) for d in letters] == [(DeadLetterReason.LOST, Tick(1))]


class Listener(Agent):
    def __init__(self, got: list[str]) -> None:
        self.got = got

    async def setup(self) -> None:
        self.subscribe(topic=Tick)

    @on(Tick)
    def tick(self, msg: Tick) -> None:
        self.got.append(f"{self.container.address}@{self.clock.now():g}")


async def test_publish_and_leaving_the_network() -> None:
    net = SimNetwork(latency=0.5)
    got: list[str] = []
    letters: list[DeadLetter] = []
    clock = triomas.VirtualClock()
    async with triomas.open_container("local://a", network=net, clock=clock) as a:
        a.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
        async with triomas.open_container("local://b", network=net, clock=clock) as b:
            await b.start(Listener, got)
            await a.start(Listener, got)
            a.publish(Tick(1))
            await a.run_until_idle()
            assert got == ["local://a@0", "local://b@0.5"]
            echo = await b.spawn(Echo)
        a.send(echo, Tick(2))  # b has left
        await a.run_until_idle()
    assert [d.reason for d in letters] == [DeadLetterReason.UNREACHABLE]


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [({"latency": (2.0, 1.0)}, "latency"), ({"loss": 1.0}, "loss"), ({"latency": -1.0}, "latency")],
)
def test_bad_parameters(kwargs: dict[str, float], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        SimNetwork(**kwargs)  # type: ignore[arg-type]


async def test_only_local_containers_join() -> None:
    with pytest.raises(ValueError, match="only local://"):
        async with triomas.open_container("memory://x", network=SimNetwork()):
            pass

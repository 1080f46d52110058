"""Properties that must hold for any input: FIFO per pair, timer order, determinism."""

from __future__ import annotations

import math

import trio
from hypothesis import given, settings
from hypothesis import strategies as st

import triomas
import triomas.testing
from triomas import Agent, AgentRef, Envelope, message, on
from triomas._time.timers import TimerQueue


@message(tag="prop.Seq")
class Seq:
    origin: str
    n: int


class Sink(Agent):
    def __init__(self, got: list[tuple[str, int]]) -> None:
        self.got = got

    @on(Seq)
    async def seq(self, msg: Seq) -> None:
        if msg.n % 3 == 0:
            await self.sleep(0.5)  # hold the agent now and then
        self.got.append((msg.origin, msg.n))


class Source(Agent):
    def __init__(self, sink: AgentRef, plan: list[float]) -> None:
        self.sink = sink
        self.plan = plan

    async def setup(self) -> None:
        for n, pause in enumerate(self.plan):
            if pause:
                await self.sleep(pause)
            self.send(self.sink, Seq(self.name, n))


@settings(max_examples=40, deadline=None)
@given(
    plans=st.lists(
        st.lists(st.sampled_from([0.0, 0.0, 0.25, 1.0]), min_size=1, max_size=15),
        min_size=1,
        max_size=4,
    ),
    live=st.booleans(),
)
def test_fifo_per_sender_receiver_pair(plans: list[list[float]], live: bool) -> None:
    got: list[tuple[str, int]] = []

    async def main() -> None:
        clock = triomas.RealClock() if live else triomas.VirtualClock()
        async with triomas.open_container(clock=clock) as c:
            sink = await c.spawn(Sink, got)
            for plan in plans:
                await c.spawn(Source, sink, plan)
            await c.run_until_idle()

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert len(got) == sum(len(plan) for plan in plans)
    for origin in {origin for origin, _ in got}:
        numbers = [n for o, n in got if o == origin]
        assert numbers == sorted(numbers)


@given(st.lists(st.tuples(st.floats(0, 100), st.booleans()), max_size=60))
def test_timers_fire_in_time_then_insertion_order(entries: list[tuple[float, bool]]) -> None:
    queue = TimerQueue()
    fired: list[int] = []
    handles = [
        queue.push(when, lambda i=i: fired.append(i), True) for i, (when, _) in enumerate(entries)
    ]
    for handle, (_, cancel) in zip(handles, entries, strict=True):
        if cancel:
            handle.cancel()
    while (when := queue.next_when()) is not None:
        for handle in queue.pop_due(when):
            queue.fire(handle)
    expected = sorted(
        (i for i, (_, cancel) in enumerate(entries) if not cancel),
        key=lambda i: (entries[i][0], i),
    )
    assert fired == expected
    assert queue.blocking == 0


def test_timer_at_nan_is_refused() -> None:
    queue = TimerQueue()
    try:
        queue.push(math.nan, lambda: None, True)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("NaN accepted")


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32), n=st.integers(2, 6))
def test_virtual_runs_repeat_exactly(seed: int, n: int) -> None:
    def once() -> str:
        recorder = triomas.testing.TraceRecorder()

        async def main() -> None:
            async with triomas.open_container("local://p", trace=recorder) as c:
                sink = await c.spawn(Sink, [])
                for _ in range(n):
                    plan = [c.agent(sink).random.choice([0.0, 0.25]) for _ in range(5)]
                    await c.spawn(Source, sink, plan)
                await c.run_until_idle()

        triomas.run(main, clock=triomas.VirtualClock(), seed=seed)
        return str(recorder)

    assert once() == once()


class Envelopes(Agent):
    def __init__(self, got: list[Envelope]) -> None:
        self.got = got

    def update(self) -> None:
        while self.messages:
            env = self.receive()
            self.got.append(env)
            if env.body.n < 0:
                raise RuntimeError("bad update")


async def test_sync_update_crash_and_pause_in_virtual_time(vc: triomas.Container) -> None:
    got: list[Envelope] = []
    stopped: list[object] = []
    vc.on_event(stopped.append)
    ref = await vc.spawn(Envelopes, got, restart="temporary")
    await vc.run_until_idle()
    vc.pause()
    vc.send(ref, Seq("x", 1))
    await vc.clock.sleep(1)
    assert got == []  # paused: the step parks the agent
    vc.send(ref, Seq("x", -1))
    await vc.run_until_idle()  # resumes
    assert [env.body.n for env in got] == [1, -1]
    assert vc.lookup(ref.name) is None
    assert any(isinstance(e, triomas.AgentStopped) for e in stopped)


def test_cancelled_timers_do_not_pile_up() -> None:
    queue = TimerQueue()
    keep = queue.push(1.0, lambda: None, True)
    for i in range(5000):
        queue.push(100.0 + i, lambda: None, False).cancel()
    queue.push(2.0, lambda: None, False)
    assert len(queue) < 2600  # compacted once more than half was dead
    assert queue.next_when() == 1.0
    assert queue.pop_due(1.5) == [keep]

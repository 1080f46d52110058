"""Scenario S1: a MASlite-style batch scheduler with a priority inbox, in rounds."""

from __future__ import annotations

import pytest

import triomas
from triomas import Agent, Envelope, message, on
from triomas.testing import TraceRecorder


@message
class Job:
    id: int


@message
class Ack:
    ids: tuple[int, ...]


class A(Agent):
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log
        self.acked: tuple[int, ...] = ()

    def update(self) -> None:
        self.log.append(("A", self.container.round))
        while self.messages:
            env = self.receive()
            if isinstance(env.body, Ack):
                self.acked = env.body.ids
        if self.container.round == 1:
            self.send("P", Job(1), topic="normal")
            self.send("P", Job(2), topic="urgent")
            self.send("P", Job(3), topic="normal")


class P(Agent):
    def __init__(self, log: list[tuple[str, int]]) -> None:
        self.log = log
        self.handled: list[int] = []

    def update(self) -> None:
        self.log.append(("P", self.container.round))
        batch: list[Envelope] = []
        while self.messages:
            env = self.receive()
            batch.append(env)
        if not batch:
            return
        batch.sort(key=lambda env: env.topic != "urgent")
        self.handled.extend(env.body.id for env in batch)
        sender = batch[0].sender
        assert sender is not None
        self.send(sender, Ack(tuple(self.handled)))


async def run_s1(
    recorder: TraceRecorder,
) -> tuple[list[tuple[str, int]], list[int], triomas.RunReport]:
    log: list[tuple[str, int]] = []
    async with triomas.open_container(clock=triomas.VirtualClock(), seed=3, trace=recorder) as c:
        a = await c.spawn(A, log, name="A")
        p = await c.spawn(P, log, name="P")
        report = await c.run_until_idle()
        handled = c.agent(p, P).handled
        assert c.agent(a, A).acked == (2, 1, 3)
        with pytest.raises(TypeError, match="not a P"):
            c.agent(a, P)
    return log, handled, report


async def test_priority_inbox_rounds() -> None:
    recorder = TraceRecorder()
    log, handled, report = await run_s1(recorder)
    assert handled == [2, 1, 3]
    assert report.rounds == 3
    assert report.reason == "idle"
    assert report.time == 0.0
    assert [name for name, _ in log] == ["A", "P", "P", "A"]
    assert log == [("A", 1), ("P", 1), ("P", 2), ("A", 3)]


async def test_two_runs_give_identical_traces() -> None:
    traces = []
    for _ in range(3):
        recorder = TraceRecorder()
        await run_s1(recorder)
        traces.append(str(recorder))
    assert traces[0] == traces[1] == traces[2]
    assert "update" in traces[0]


class Bouncer(Agent):
    def __init__(self, hops: list[int], peer: triomas.AgentRef | None = None) -> None:
        self.hops = hops
        self.peer = peer

    def setup(self) -> None:
        if self.peer is not None:
            self.send(self.peer, Job(0))

    @on(Job)
    def bounce(self, job: Job, env: Envelope) -> None:
        if job.id < 1000:
            assert env.sender is not None
            self.send(env.sender, Job(job.id + 1))
        else:
            self.hops.append(job.id)


async def test_bounce_one_hop_per_round(vc: triomas.Container) -> None:
    hops: list[int] = []
    a = await vc.spawn(Bouncer, hops)
    await vc.spawn(Bouncer, hops, a)
    report = await vc.run_until_idle()
    assert hops == [1000]
    # round 1 runs both setups (the second sends Job(0)); then one hop per round
    assert report.rounds == 1002

"""Virtual time is deterministic: same seed and inputs, byte-identical trace."""

from __future__ import annotations

import triomas
from triomas import Agent, AgentRef, Envelope, message, on
from triomas.testing import TraceRecorder


@message
class Token:
    hops: int
    value: int


class Node(Agent):
    def __init__(self, ring: list[AgentRef]) -> None:
        self.ring = ring

    async def setup(self) -> None:
        self.set_alarm(Token(0, 0), after=self.random.uniform(0, 5))

    @on(Token)
    async def token(self, msg: Token, env: Envelope) -> None:
        if msg.hops >= 20:
            return
        await self.sleep(self.random.random())
        peer = self.ring[self.random.randrange(len(self.ring))]
        if self.random.random() < 0.3:
            reply = await self.ask(peer, Token(99, msg.value))
            assert reply is None
        self.send(peer, Token(msg.hops + 1, msg.value + self.random.randrange(100)))


async def simulate(seed: int) -> str:
    recorder = TraceRecorder()
    ring: list[AgentRef] = []
    async with triomas.open_container(
        "local://sim", clock=triomas.VirtualClock(), seed=seed, trace=recorder
    ) as c:
        for _ in range(10):
            ring.append(await c.spawn(Node, ring, restart="temporary"))
        await c.run_until_idle()
    return str(recorder)


async def test_same_seed_three_runs_identical() -> None:
    traces = [await simulate(7) for _ in range(3)]
    assert traces[0] == traces[1] == traces[2]
    assert traces[0].count("\trecv\t") > 100


async def test_other_seed_differs_only_through_the_agents_randomness() -> None:
    assert await simulate(7) != await simulate(8)


def test_the_same_program_under_triomas_run() -> None:
    def once() -> str:
        recorder = TraceRecorder()

        async def main() -> None:
            ring: list[AgentRef] = []
            async with triomas.open_container(trace=recorder) as c:
                for _ in range(5):
                    ring.append(await c.spawn(Node, ring, restart="temporary"))
                await c.run_until_idle()

        triomas.run(main, clock=triomas.VirtualClock(), seed="abc")
        return str(recorder)

    assert once() == once()


async def test_agent_random_is_seeded_from_seed_and_name(vc: triomas.Container) -> None:
    a = await vc.spawn(Node, [], name="a")
    b = await vc.spawn(Node, [], name="b")
    first = vc.agent(a).random.random()
    assert first != vc.agent(b).random.random()
    async with triomas.open_container(clock=triomas.VirtualClock(), seed=1) as other:
        again = await other.spawn(Node, [], name="a")
        assert other.agent(again).random.random() == first

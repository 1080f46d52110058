"""ask: replies, exact virtual timeouts, crashes and unknown callees fail at once."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triomas
from triomas import Agent, AskTimeout, CalleeDown, Failure, NoHandler, NoProc, message, on


@message
class Ping:
    n: int


@message
class Boom:
    text: str


@message
class Silent:
    pass


@message
class Unhandled:
    pass


class Server(Agent):
    @on(Ping)
    async def ping(self, msg: Ping) -> int:
        return msg.n + 1

    @on(Boom)
    def boom(self, msg: Boom) -> None:
        raise ValueError(msg.text)

    @on(Silent)
    async def silent(self, msg: Silent) -> None:
        await self.sleep(100)


class Client(Agent):
    def __init__(self, server: triomas.AgentRef, outcome: list[object]) -> None:
        self.server = server
        self.outcome = outcome

    async def setup(self) -> None:
        for msg, timeout in ((Ping(1), 5.0), (Boom("bad"), 5.0), (Ping(5), 5.0), (Silent(), 2.0)):
            started = self.clock.now()
            try:
                result: object = await self.ask(self.server, msg, timeout=timeout)
            except Exception as exc:
                result = exc
            self.outcome.append((self.clock.now() - started, result))


async def test_ask_reply_and_crash_from_inside_an_agent(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    outcome: list[object] = []
    server = await both.spawn(Server)
    await both.spawn(Client, server, outcome)
    await both.run_until_idle()
    assert outcome[0] == (0.0, 2)
    elapsed, error = outcome[1]  # type: ignore[misc]
    assert elapsed == 0.0
    assert isinstance(error, CalleeDown)
    assert isinstance(error.reason, Failure)
    assert isinstance(error.__cause__, ValueError)
    assert "ValueError: bad" in str(error)
    # the server was restarted at the same address: the next incarnation answers
    assert outcome[2] == (0.0, 6)
    elapsed, error = outcome[3]  # type: ignore[misc]
    assert elapsed == 2.0
    assert isinstance(error, triomas.AskTimeout)


async def test_an_ask_to_a_crashed_temporary_agent_finds_nobody(vc: triomas.Container) -> None:
    server = await vc.spawn(Server, restart="temporary")
    with pytest.raises(CalleeDown):
        await vc.ask(server, Boom("bad"))
    with pytest.raises(CalleeDown) as caught:
        await vc.ask(server, Ping(1))
    assert caught.value.reason == NoProc()


async def test_ask_times_out_at_exactly_the_virtual_deadline(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    server = await both.spawn(Server)
    with pytest.raises(AskTimeout):
        await both.ask(server, Silent(), timeout=2.5)
    assert both.clock.now() == 2.5
    assert isinstance(AskTimeout("x"), trio.TooSlowError)


async def test_late_reply_is_dropped(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    server = await both.spawn(Server)

    class Slow(Agent):
        @on(Ping)
        async def ping(self, msg: Ping) -> int:
            await self.sleep(6)
            return 0

    slow = await both.spawn(Slow)
    with pytest.raises(AskTimeout):
        await both.ask(slow, Ping(0), timeout=5)
    await both.run_until_idle()  # the handler answers at 6 into a closed slot: dropped
    assert both.clock.now() == 6.0
    assert both.dead_letter_counts.total() == 0
    assert await both.ask(server, Ping(41)) == 42


async def test_ask_unknown_and_unhandled(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    server = await both.spawn(Server)
    with pytest.raises(CalleeDown) as down:
        await both.ask("nobody", Ping(1))
    assert down.value.reason == NoProc()
    with pytest.raises(NoHandler):
        await both.ask(server, Unhandled())
    assert both.clock.now() == 0.0
    assert await both.ask(server, Ping(1)) == 2  # the server carried on


async def test_ask_without_timeout_and_bad_timeout(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    server = await both.spawn(Server)
    assert await both.ask(server, Ping(2), timeout=None) == 3
    with pytest.raises(ValueError, match="timeout"):
        await both.ask(server, Ping(2), timeout=-1)


async def test_ask_a_group_needs_one_member(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    await both.spawn(Server)
    await both.spawn(Server)
    with pytest.raises(ValueError, match="exactly one"):
        await both.ask("Server", Ping(1))


async def test_ask_in_real_time(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        server = await c.spawn(Server)
        assert await c.ask(server, Ping(1)) == 2
        with pytest.raises(CalleeDown):
            await c.ask(server, Boom("x"))
        assert await c.ask(server, Ping(2)) == 3  # restarted
        busy = await c.spawn(Server)
        start = trio.current_time()
        with pytest.raises(AskTimeout):
            await c.ask(busy, Silent(), timeout=3)
        assert trio.current_time() - start == pytest.approx(3.0)
        # one message at a time: the server still sleeps in Silent, so Ping waits
        with pytest.raises(AskTimeout):
            await c.ask(busy, Ping(1), timeout=3)


async def test_reply_by_hand_from_a_custom_update(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    class Manual(Agent):
        def update(self) -> None:
            while self.messages:
                env = self.receive()
                self.reply(env, env.body.n * 10)
                self.reply(env, -1)  # a second reply is dropped

    manual = await both.spawn(Manual)
    assert await both.ask(manual, Ping(4)) == 40


async def test_ask_a_group_name_in_an_address(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    server = await both.spawn(Server, name="srv")
    assert await both.ask(server.address, Ping(1)) == 2
    assert server.address == f"{both.address}/srv"
    with pytest.raises(CalleeDown):
        await both.ask("local://elsewhere/srv", Ping(1))


@pytest.mark.parametrize("clock", [triomas.VirtualClock, triomas.RealClock])
async def test_asks_across_containers_in_one_process(
    clock: type[triomas.Clock], autojump_clock: trio.testing.MockClock
) -> None:
    class Slow(Agent):
        @on(Ping)
        async def ping(self, msg: Ping) -> str:
            await self.sleep(0.2)
            return "slow answer"

    shared = clock()
    async with (
        triomas.open_container("local://one", clock=shared) as one,
        triomas.open_container("local://two", clock=shared) as two,
    ):
        slow = await two.spawn(Slow)
        server = await two.spawn(Server)
        answers: dict[str, object] = {}

        async def ask_slow() -> None:
            answers["slow"] = await two.ask(slow, Ping(0))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask_slow)
            await trio.testing.wait_all_tasks_blocked()
            answers["server"] = await one.ask(server, Ping(5))
        assert answers == {"slow": "slow answer", "server": 6}
        # by address, from an agent of the other container
        assert await one.ask(server.address, Ping(1)) == 2
        with pytest.raises(ValueError, match="already open"):
            async with triomas.open_container("local://one", clock=shared):
                pass

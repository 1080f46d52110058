"""RPC in aiomas' style: scenario S8, and what every call can meet."""

from __future__ import annotations

import re

import pytest
import trio

import triomas
from triomas import (
    Agent,
    AskTimeout,
    CalleeDown,
    NotExposed,
    Proxy,
    RemoteError,
    expose,
    message,
    on,
)


@message(tag="rpc.Hello")
class Hello:
    pass


class Callee(Agent):
    def __init__(self) -> None:
        self.calls = 0

    @expose
    def spam(self, times: int) -> str:
        self.calls += 1
        return "spam" * times

    @expose
    async def slow(self, seconds: float) -> str:
        await self.sleep(seconds)
        return "done"

    @expose
    def fail(self) -> None:
        raise KeyError("no such key")

    @expose
    def count(self) -> int:
        return self.calls

    def not_exposed(self) -> None:
        raise AssertionError("never called")


class Caller(Agent):
    def __init__(self, callee: str, results: list[str]) -> None:
        self.callee = callee
        self.results = results

    async def setup(self) -> None:
        callee = await self.connect(self.callee)
        self.results.append(f"{self.ref.address} got {await callee.spam(3)}")
        self.stop()


async def test_s8_caller_and_callee_in_two_containers() -> None:
    results: list[str] = []
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://127.0.0.1:0") as callee_home,
            triomas.open_container("tcp://127.0.0.1:0") as caller_home,
        ):
            callee = await callee_home.spawn(Callee)
            assert re.fullmatch(r"tcp://127\.0\.0\.1:\d+/Callee-1", callee.address)
            caller = await caller_home.spawn(Caller, callee.address, results)
            await caller_home.join()
            assert results == [f"{caller.address} got spamspamspam"]


async def test_s8_in_one_container_too() -> None:
    results: list[str] = []
    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        callee = await c.spawn(Callee)
        await c.spawn(Caller, callee.address, results)
        await c.run_until_idle()
        assert results == [f"{c.address}/Caller-1 got spamspamspam"]


async def test_what_a_proxy_call_can_meet() -> None:
    with trio.fail_after(10):
        async with (
            triomas.open_container("tcp://127.0.0.1:0") as a,
            triomas.open_container("tcp://127.0.0.1:0") as b,
        ):
            callee = await b.spawn(Callee, name="callee")
            proxy = await a.connect(callee.address, timeout=1)
            assert isinstance(proxy, Proxy)
            assert dir(proxy) == ["count", "fail", "slow", "spam"]
            assert await proxy.spam(times=2) == "spamspam"
            with pytest.raises(RemoteError) as raised:
                await proxy.fail()
            error = raised.value
            assert (error.type_name, error.origin) == ("KeyError", callee.address)
            assert "raise KeyError" in error.traceback
            assert await proxy.count() == 1  # the callee carried on: no restart, state kept
            with pytest.raises(NotExposed, match="does not expose 'not_exposed'"):
                proxy.not_exposed  # noqa: B018
            with pytest.raises(RemoteError, match="TypeError"):
                await proxy.spam(1, 2, 3)
            impatient = await a.connect(callee.address, timeout=0.05)
            with pytest.raises(AskTimeout):
                await impatient.slow(60)
            await b.remove(callee, timeout=0)
            with pytest.raises(CalleeDown):
                await proxy.spam(1)  # at once, not after the timeout


async def test_connect_fails_at_once_for_nobody_and_for_agents_without_rpc() -> None:
    class Plain(Agent):
        @on(Hello)
        def hello(self, msg: Hello) -> str:
            return "hi"

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        plain = await c.spawn(Plain)
        with pytest.raises(NotExposed, match="exposes no methods"):
            await c.connect(plain)
        with pytest.raises(CalleeDown):
            await c.connect("nobody")


async def test_calls_queue_like_messages_one_at_a_time() -> None:
    class Counter(Agent):
        def __init__(self) -> None:
            self.active = 0
            self.most = 0

        @expose
        async def work(self) -> int:
            self.active += 1
            self.most = max(self.most, self.active)
            await self.sleep(1)
            self.active -= 1
            return self.most

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        counter = await c.spawn(Counter)
        proxy = await c.connect(counter)
        results: list[int] = []

        async def call() -> None:
            results.append(await proxy.work())

        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(call)
        assert results == [1, 1, 1]
        assert c.clock.now() == 3


async def test_raw_call_messages_for_unexposed_methods_are_refused() -> None:
    from triomas._agent.rpc import Call, CallRefused

    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        callee = await c.spawn(Callee)
        refused = await c.ask(callee, Call("not_exposed", [], {}))
        assert isinstance(refused, CallRefused)
        assert "does not expose 'not_exposed'" in refused.reason
        assert isinstance(await c.ask(callee, Call("spam", "bad", {})), CallRefused)


def test_overriding_without_expose_withdraws_a_method() -> None:
    from triomas._agent.rpc import exposed_methods

    class Quieter(Callee):
        def fail(self) -> None:
            return None

    assert sorted(exposed_methods(Quieter)) == ["count", "slow", "spam"]

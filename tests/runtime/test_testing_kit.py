"""triomas.testing: the probe, run(until=), simulated partitions, the trace writers, and
the pytest plugin as a user's project sees it (with and without pytest-trio)."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from hypothesis import given

import triomas
from triomas import Agent, Envelope, TraceRecord, message, on
from triomas.testing import (
    TraceRecorder,
    assert_deterministic,
    assert_no_dead_letters,
    assert_trace,
    crash_on,
    mermaid,
    read_trace,
    strategies,
    trace_json_lines,
)

pytest_plugins = ["pytester"]


@message(tag="kit.Ping")
class Ping:
    n: int


class Echo(Agent):
    """Answers each Ping with the next number, after ``delay`` clock seconds."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    @on(Ping)
    async def ping(self, msg: Ping, env: Envelope) -> int | None:
        if self.delay:
            await self.sleep(self.delay)
        if env.reply_with is not None:
            return msg.n + 1
        assert env.sender is not None
        self.send(env.sender, Ping(msg.n + 1))
        return None


# ---- the probe, in both clocks -----------------------------------------------------------


async def test_expect_takes_what_comes_and_fails_saying_what_did(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")
    echo = await both.spawn(Echo, 2.0, name="echo")
    probe.send(echo, Ping(1))
    env = await probe.expect(Ping, within=5)
    assert env.body == Ping(2)
    assert env.sender == echo
    assert both.clock.now() == pytest.approx(2.0)
    probe.send(echo, Ping(10))
    with pytest.raises(AssertionError, match=r"expected Ping\(n=99\), got Ping\(n=11\)"):
        await probe.expect(Ping(99), within=5)
    # a mismatch leaves the message unread; a predicate takes it
    assert (await probe.expect(lambda body: body.n > 10)).body == Ping(11)
    with pytest.raises(AssertionError, match="got nothing"):
        await probe.expect(Ping, within=1)
    assert [e.body for e in probe.received] == [Ping(2), Ping(11)]


async def test_expect_no_message_is_exact_in_clock_time(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")
    echo = await both.spawn(Echo, 30.0, name="echo")
    probe.send(echo, Ping(1))
    start = both.clock.now()
    await probe.expect_no_message(within=29)
    assert both.clock.now() - start == pytest.approx(29)
    with pytest.raises(AssertionError, match=r"expected no message within 5 s, got Ping\(n=2\)"):
        await probe.expect_no_message(within=5)


async def test_an_hour_of_silence_costs_nothing_in_virtual_time() -> None:
    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        probe = await c.spawn_probe()
        await probe.expect_no_message(within=3600)
        assert c.clock.now() == 3600


async def test_expect_all_ordered_and_not_and_one_budget_for_several(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")
    fast = await both.spawn(Echo, 1.0, name="fast")
    slow = await both.spawn(Echo, 3.0, name="slow")
    probe.send(slow, Ping(10))
    probe.send(fast, Ping(20))
    got = await probe.expect_all([Ping(11), Ping(21)], within=5)
    assert [e.body for e in got] == [Ping(21), Ping(11)]  # in order of arrival
    probe.send(slow, Ping(30))
    probe.send(fast, Ping(40))
    with pytest.raises(AssertionError, match=r"got Ping\(n=41\).*which is not Ping\(n=31\)"):
        await probe.expect_all([Ping(31), Ping(41)], within=5, ordered=True)
    await probe.expect_all([Ping(31), Ping(41)], within=5)
    probe.send(slow, Ping(50))
    probe.send(slow, Ping(60))
    async with probe.within(4):  # 3 s for the first; the second would need 6
        await probe.expect(Ping(51))
        with pytest.raises(AssertionError, match="got nothing"):
            await probe.expect(Ping(61))


async def test_the_probe_answers_asks_and_watches_agents(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")

    class Asker(Agent):
        async def setup(self) -> None:
            self.answer = await self.ask("p", Ping(1), timeout=10)
            self.stop()

    asker = await both.spawn(Asker, name="asker")
    probe.watch(asker)
    request = await probe.expect(Ping(1), within=1)
    probe.reply(request, "pong")
    down = await probe.expect_down(asker, within=1)
    assert down.ref.name == "asker"
    assert str(down.reason) == "normal"


async def test_run_until_a_predicate_holds(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")
    echo = await both.spawn(Echo, 1.0, name="echo")
    for n in range(5):
        probe.send(echo, Ping(n))

    def three() -> bool:
        probe.update()
        return len(probe.received) >= 3

    report = await both.run(until=three, seconds=100)
    assert report.reason == "until"
    assert len(probe.received) == 3
    assert report.time == pytest.approx(3.0)
    report = await both.run(until=lambda: False, seconds=10)
    assert report.reason == "seconds"


# ---- simulated partitions ----------------------------------------------------------------


async def test_a_simulated_network_cuts_heals_and_delays() -> None:
    net = triomas.SimNetwork(latency=0.5)
    async with (
        triomas.open_container("local://a", clock=triomas.VirtualClock(), network=net) as a,
        triomas.open_container("local://b", clock=a.clock, network=net) as b,
    ):
        probe = await b.spawn_probe("p")
        echo = await a.spawn(Echo, name="echo")
        probe.send(echo, Ping(1))
        await probe.expect(Ping(2), within=2)
        assert a.clock.now() == 1.0  # there and back
        net.cut(a, b)
        probe.send(echo, Ping(3))
        await probe.expect_no_message(within=10)
        net.heal(a.address, b.address)
        net.delay(a, b, 2.0)
        probe.send(echo, Ping(5))
        start = a.clock.now()
        await probe.expect(Ping(6), within=10)
        assert a.clock.now() - start == pytest.approx(5.0)  # 2 x (0.5 + 2)
        with pytest.raises(ValueError, match="non-negative"):
            net.delay(a, b, -1)


# ---- trace writers -------------------------------------------------------------------------


def test_trace_as_json_lines_and_mermaid() -> None:
    records = [
        TraceRecord(0.0, "echo", "setup", ""),
        TraceRecord(1.5, "echo", "recv", "probe -> Ping(n=1)"),
        TraceRecord(2.0, "probe", "recv", "- -> Note(text='a;b#c')"),
        TraceRecord(3.0, "echo", "stop", "normal"),
    ]
    lines = [json.loads(line) for line in trace_json_lines(records).splitlines()]
    assert lines[1] == {
        "time": 1.5,
        "agent": "echo",
        "event": "recv",
        "payload": "probe -> Ping(n=1)",
        "kind": "tell",
        "sender": None,
        "receiver": None,
        "message_type": None,
        "message_id": None,
        "in_reply_to": None,
        "sent_at": None,
    }
    assert read_trace(trace_json_lines(records)) == records  # it reads back
    with pytest.raises(ValueError, match="line 2 is not a trace record"):
        read_trace('{"time": 0, "agent": "a", "event": "e", "payload": ""}\n{"time": 1}\n')
    assert mermaid(records).splitlines() == [
        "sequenceDiagram",
        "    participant a0_echo as echo",
        "    participant a1_probe as probe",
        "    participant a2_outside as outside",
        "    Note over a0_echo: t=0 setup",
        "    a1_probe->>a0_echo: t=1.5 Ping(n=1)",
        "    a2_outside->>a1_probe: t=2 Note(text='a,bNo.c')",
        "    Note over a0_echo: t=3 stop normal",
    ]
    assert "2 more records left out" in mermaid(records, limit=2)


# ---- the pytest plugin, as a user's project sees it ---------------------------------------

USER_TESTS = """
import trio
import triomas
from triomas import Agent, message, on


@message(tag="user.Ping")
class Ping:
    n: int


class Echo(Agent):
    @on(Ping)
    def ping(self, msg, env):
        self.send(env.sender, Ping(msg.n + 1))


async def test_probe_and_container(triomas_container, triomas_probe, triomas_seed):
    assert triomas_seed == SEED
    assert isinstance(triomas_container.clock, triomas.VirtualClock)
    echo = await triomas_container.spawn(Echo, name="echo")
    triomas_probe.send(echo, Ping(1))
    await triomas_probe.expect(Ping(2), within=1)
    await triomas_probe.expect_no_message(within=3600)
    assert triomas_container.clock.now() == 3600


async def test_network(triomas_network):
    a, b = await triomas_network(2, latency=0.25)
    probe = await b.spawn_probe("p")
    probe.send(await a.spawn(Echo, name="echo"), Ping(1))
    await probe.expect(Ping(2), within=1)
    assert a.clock.now() == 0.5
    triomas_network.cut(a, b)
    probe.send("local://net1/echo", Ping(3))
    await probe.expect_no_message(within=5)


async def test_tcp_pair(triomas_tcp_pair):
    a, b = triomas_tcp_pair
    echo = await a.spawn(Echo, name="echo")
    probe = await b.spawn_probe("p")
    probe.send(echo, Ping(1))
    await probe.expect(Ping(2), within=5)


async def test_node_is_reaped_even_when_the_test_fails(triomas_node):
    import pathlib
    assert [ref.name for ref in await triomas_node.agents()] == ["node"]
    pathlib.Path("node.pid").write_text(str(triomas_node.process.pid))
    raise RuntimeError("the test fails while the node runs")


def test_no_zombie_is_left():
    import os, pathlib
    pid = int(pathlib.Path("node.pid").read_text())
    try:
        os.kill(pid, 0)  # a zombie would still be there
    except ProcessLookupError:
        return
    raise AssertionError(f"the node's process {pid} is still there")


async def test_fails_and_leaves_its_trace(triomas_container, triomas_probe):
    echo = await triomas_container.spawn(Echo, name="echo")
    triomas_probe.send(echo, Ping(1))
    await triomas_probe.expect(Ping(3), within=1)
"""


@pytest.mark.parametrize("trio_plugin", [True, False], ids=["with pytest-trio", "without"])
def test_the_plugin_in_a_user_project(pytester: pytest.Pytester, trio_plugin: bool) -> None:
    pytester.makepyfile(test_user=USER_TESTS.replace("SEED", "7"))
    args = ["-p", "no:cacheprovider", "--triomas-seed", "7", "--triomas-trace-dir", "traces"]
    if not trio_plugin:
        args += ["-p", "no:trio"]
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=4, failed=2)
    result.stdout.fnmatch_lines(["*seed 7: replay with --triomas-seed 7*"])
    written = sorted(p.name for p in (pytester.path / "traces").iterdir())
    assert written == [
        "test_user_py_test_fails_and_leaves_its_trace.jsonl",
        "test_user_py_test_fails_and_leaves_its_trace.mmd",
    ]  # the node test has no trace fixture: nothing written for it
    diagram = (pytester.path / "traces" / written[1]).read_text()
    assert "a0_echo->>a1_probe: t=0 Ping(n=2)" in diagram


def test_the_plugin_is_registered_by_the_package_entry_point() -> None:
    from importlib.metadata import entry_points

    (plugin,) = [e for e in entry_points(group="pytest11") if e.name == "triomas"]
    assert plugin.value == "triomas.testing._plugin"


# ---- structured records and trace assertions -----------------------------------------------


class Relay(Agent):
    """Asks the echo, tells the answer to the probe, and publishes it."""

    async def setup(self) -> None:
        answer = await self.ask("echo", Ping(1), timeout=5)
        self.send("p", Ping(answer))
        self.publish(Ping(answer), topic="news")
        self.send("nobody", Ping(0))
        self.send("p", Ping(7), in_reply_to="q1")


async def test_trace_records_say_kind_sender_receiver_type_and_ids(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    trace = both.trace
    assert isinstance(trace, TraceRecorder)
    await both.spawn_probe("p")
    listener = await both.spawn_probe("listener")
    listener.subscribe(topic="news")
    await both.spawn(Echo, name="echo")
    await both.spawn(Relay, name="relay")
    await both.run(until_idle=True)
    ask, tell = trace.messages(receiver="echo")[0], trace.messages(receiver="p")[0]
    assert (ask.kind, ask.sender, ask.message_type) == ("ask", "relay", "Ping")
    assert ask.message_id is not None
    assert (tell.kind, tell.sender, tell.in_reply_to) == ("tell", "relay", None)
    assert trace.messages(kind="publish")[0].receiver == "listener"
    assert str(tell) == f"{tell.time!r}\tp\trecv\trelay -> Ping(n=2)"  # the text is as before
    assert [r.kind for r in trace.records if r.agent == "relay"][:2] == ["spawn", "start"]
    assert_trace(trace, [("relay", "echo", Ping), ("relay", "p", "Ping")])
    assert_trace(trace, [("relay", "p", Ping), ("relay", "echo", Ping)], ordered=False)
    with pytest.raises(AssertionError, match="no message"):
        assert_trace(trace, [("relay", "p", Ping), ("relay", "echo", Ping)])
    with pytest.raises(AssertionError, match="1 dead letters"):
        assert_no_dead_letters(trace)
    (dead,) = trace.dead_letters()
    answer, reply = trace.messages(kind="reply")
    assert (answer.sender, answer.receiver, answer.message_type) == ("echo", "relay", "int")
    assert answer.in_reply_to == ask.message_id
    assert (reply.receiver, reply.in_reply_to) == ("p", "q1")
    assert TraceRecord(0.0, "a", "stop", "failure(ValueError())").kind == "crash"
    assert TraceRecord(0.0, "a", "stop", "normal").kind == "stop"
    assert (dead.sender, dead.receiver, dead.message_type) == ("relay", "nobody", "Ping")


def test_assert_deterministic_compares_runs_byte_for_byte() -> None:
    async def main() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Echo, 1.0, name="echo")
            await c.spawn(Relay, name="relay")
            await c.run(until_idle=True)

    text = assert_deterministic(main, seed=3)
    assert "relay -> Ping(n=1)" in text
    calls = iter(range(10))

    async def drifting() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Echo, float(next(calls)), name="echo")
            await c.spawn(Relay, name="relay")
            await c.run(until_idle=True)

    with pytest.raises(AssertionError, match="run 2 differs from run 1"):
        assert_deterministic(drifting)


async def test_crash_on_makes_an_agent_fail_on_cue(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    @message(tag="kit.Poison")
    class Poison:
        pass

    probe = await both.spawn_probe("p")
    worker = await both.spawn(crash_on(Poison)(Echo), name="worker", restart="temporary")
    probe.watch(worker)
    probe.send(worker, Ping(1))
    await probe.expect(Ping(2))
    probe.send(worker, Poison())
    down = await probe.expect_down(worker)
    assert "InjectedCrash" in str(down.reason)


async def test_real_time_budgets_follow_the_time_factor(
    autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triomas._runtime import probe as probe_module

    monkeypatch.setattr(probe_module, "TIME_FACTOR", 3.0)
    async with triomas.open_container() as c:  # real time, on the autojump clock
        probe = await c.spawn_probe()
        start = trio.current_time()
        await probe.expect_no_message(within=1)
        assert trio.current_time() - start == pytest.approx(3.0, abs=0.1)
    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        probe = await c.spawn_probe()
        await probe.expect_no_message(within=1)
        assert c.clock.now() == 1  # virtual budgets are exact


@given(strategies.messages(Ping))
def test_strategies_draw_message_instances(msg: Ping) -> None:
    assert isinstance(msg, Ping)
    assert isinstance(msg.n, int)
    codec = triomas.Codec()
    assert codec.loads(codec.dumps(msg)) == msg


async def test_a_run_until_predicate_that_raises_raises_in_the_run(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    probe = await both.spawn_probe("p")
    echo = await both.spawn(Echo, 1.0, name="echo")
    calls: list[int] = []

    def broken() -> bool:
        calls.append(1)
        if len(calls) > 1:
            raise ZeroDivisionError("the predicate is broken")
        return False

    probe.send(echo, Ping(1))
    with pytest.raises(ZeroDivisionError):
        await both.run(until=broken, seconds=10)
    probe.send(echo, Ping(2))
    await probe.expect(Ping, within=5)  # the container carries on

"""Real-time specifics: parked tasks, hand-offs, quiescence, fairness, cancellation."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import triomas
from triomas import Agent, AgentStopped, CalleeDown, Envelope, Failure, message, on
from triomas._runtime.cell import RunState
from triomas._runtime.live import WARM_POOL


@message(tag="live.Ping")
class Ping:
    n: int


@message(tag="live.Note")
class Note:
    text: str


class Echo(Agent):
    def __init__(self) -> None:
        self.seen: list[int] = []

    @on(Ping)
    def ping(self, msg: Ping) -> int:
        self.seen.append(msg.n)
        if msg.n < 0:
            raise ValueError("negative")
        if msg.n == 7:
            self.send(self.ref, Note("to myself"))
        return msg.n * 2

    @on(Note)
    def note(self, msg: Note) -> None:
        self.seen.append(-1)


async def test_handoff_answers_in_the_callers_task(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        ref = await c.spawn(Echo)
        c.send(ref, Note("wake up"))
        await c.run_until_idle()
        cell = c._registry.cells[ref.name]
        assert cell.run_state is RunState.PARKED
        assert await c.ask(ref, Ping(3)) == 6
        assert cell.run_state is RunState.PARKED  # no task switch was needed
        assert await c.ask(ref, Ping(7)) == 14  # the self-send wakes the agent
        await c.run_until_idle()
        assert c.agent(ref).seen == [-1, 3, 7, -1]  # type: ignore[attr-defined]


async def test_handoff_crash_fails_the_caller_and_restarts_the_agent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[object] = []
    async with triomas.open_container() as c:
        c.on_event(events.append)
        ref = await c.spawn(Echo)
        await c.run_until_idle()
        with pytest.raises(CalleeDown) as down:
            await c.ask(ref, Ping(-1))
        assert isinstance(down.value.__cause__, ValueError)
        assert await c.ask(ref, Ping(3)) == 6  # the next incarnation, same address
        await c.run_until_idle()
    exits = [e for e in events if isinstance(e, triomas.ChildExited)]
    assert isinstance(exits[0].reason, Failure)
    assert exits[0].will_restart
    assert exits[0].incarnation == 1
    assert exits[1].incarnation == 2
    stopped = [e for e in events if isinstance(e, AgentStopped)]
    assert stopped[0].reason == triomas.Shutdown("container stopped")


async def test_a_busy_callee_gets_the_message_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class Slow(Agent):
        def __init__(self) -> None:
            self.order: list[str] = []

        @on(Note)
        async def note(self, msg: Note) -> None:
            await self.sleep(1)
            self.order.append(msg.text)

        @on(Ping)
        def ping(self, msg: Ping) -> int:
            self.order.append(f"ping {msg.n}")
            return msg.n

    async with triomas.open_container() as c:
        ref = await c.spawn(Slow)
        c.send(ref, Note("first"))
        assert await c.ask(ref, Ping(1)) == 1
        assert c.agent(ref).order == ["first", "ping 1"]  # type: ignore[attr-defined]


async def test_a_loop_of_handoffs_does_not_starve_other_tasks() -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.lowlevel.checkpoint()

    async with triomas.open_container() as c, trio.open_nursery() as nursery:
        ref = await c.spawn(Echo)
        nursery.start_soon(ticker)
        for n in range(1000):
            await c.ask(ref, Ping(n))
        nursery.cancel_scope.cancel()
    assert ticks >= 1000 // 16 - 1


async def test_an_asking_loop_is_cancellable() -> None:
    asks = 0
    async with triomas.open_container() as c, trio.open_nursery() as nursery:
        ref = await c.spawn(Echo)
        with trio.CancelScope() as scope:

            async def cancel_soon() -> None:
                for _ in range(10):
                    await trio.lowlevel.checkpoint()
                scope.cancel()

            nursery.start_soon(cancel_soon)
            while True:
                await c.ask(ref, Ping(1))
                asks += 1
        assert scope.cancelled_caught
        assert asks > 10


async def test_many_agents_park_at_most_the_warm_pool(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container() as c:
        refs = [await c.spawn(Echo) for _ in range(WARM_POOL * 3)]
        for ref in refs:
            c.send(ref, Note("x"))
        await c.run_until_idle()
        states = [c._registry.cells[ref.name].run_state for ref in refs]
        assert states.count(RunState.PARKED) == WARM_POOL
        assert states.count(RunState.IDLE) == WARM_POOL * 2
        for ref in refs:
            c.send(ref, Note("again"))
        await c.run_until_idle()
        assert all(c.agent(ref).seen == [-1, -1] for ref in refs)  # type: ignore[attr-defined]


async def test_outer_cancellation_still_runs_teardown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    torn: list[str] = []

    class Worker(Agent):
        async def setup(self) -> None:
            await self.sleep(100)

        def teardown(self) -> None:
            torn.append(self.name)

    with trio.move_on_after(1):
        async with triomas.open_container() as c:
            await c.spawn(Worker)
            await c.spawn(Worker)
            await trio.sleep_forever()
    assert torn == ["Worker-2", "Worker-1"]


async def test_body_exception_passes_through_unwrapped(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def body() -> None:
        async with triomas.open_container() as c:
            await c.spawn(Echo)
            raise KeyError("mine")

    with pytest.raises(KeyError):
        await body()


async def test_pause_holds_live_agents(autojump_clock: trio.testing.MockClock) -> None:
    async with triomas.open_container() as c:
        ref = await c.spawn(Echo)
        await c.run_until_idle()
        c.pause()
        c.send(ref, Note("held"))
        await trio.sleep(1)  # real-time: none; the autojump MockClock skips it
        assert c.agent(ref).seen == []  # type: ignore[attr-defined]
        report = await c.run(until_idle=True)  # run resumes a paused container
        assert report.reason == "idle"
        assert c.agent(ref).seen == [-1]  # type: ignore[attr-defined]


async def test_envelope_fields(autojump_clock: trio.testing.MockClock) -> None:
    got: list[Envelope] = []

    class Keeper(Agent):
        @on(Note)
        def note(self, msg: Note, env: Envelope) -> None:
            got.append(env)

    class Sender(Agent):
        def __init__(self, to: triomas.AgentRef) -> None:
            self.to = to

        async def setup(self) -> None:
            await self.sleep(2)
            self.send(self.to, Note("hi"), performative="inform", conversation_id="c-1")

    async with triomas.open_container() as c:
        keeper = await c.spawn(Keeper)
        sender = await c.spawn(Sender, keeper)
        await c.run_until_idle()
    (env,) = got
    assert (env.sender, env.receiver, env.topic) == (sender, keeper, "Note")
    assert (env.performative, env.conversation_id) == ("inform", "c-1")
    assert env.sent_at == pytest.approx(2.0, abs=0.01)


async def test_cancelling_a_waiting_ask_closes_its_slot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    requests: list[Envelope] = []

    class Slow(Agent):
        @on(Ping)
        async def ping(self, msg: Ping, env: Envelope) -> int:
            requests.append(env)
            await self.sleep(5)
            return msg.n

    async with triomas.open_container() as c:
        ref = await c.spawn(Slow)
        with trio.move_on_after(1):
            await c.ask(ref, Ping(1), timeout=None)
        [request] = requests
        slot = request._reply_to
        assert slot is not None
        assert slot.done  # closed when the asker stopped waiting
        await c.run_until_idle()  # the late reply goes into the closed slot: dropped
        assert request._reply_to is None
        assert await c.ask(ref, Ping(2)) == 2


async def test_keep_awake_in_real_time_yields_between_updates(
    autojump_clock: trio.testing.MockClock,
) -> None:
    others = 0

    class Spinner(Agent):
        keep_awake = True
        updates = 0

        def update(self) -> None:
            self.updates += 1
            if self.updates == 50:
                self.stop()

    async def other() -> None:
        nonlocal others
        for _ in range(20):
            others += 1
            await trio.lowlevel.checkpoint()

    async with triomas.open_container() as c, trio.open_nursery() as nursery:
        nursery.start_soon(other)
        ref = await c.spawn(Spinner)
        await c.join()
    assert others == 20
    assert ref.name == "Spinner-1"


async def test_agent_code_cannot_wait_for_the_whole_container(
    autojump_clock: trio.testing.MockClock,
) -> None:
    errors: list[str] = []

    class Impatient(Agent):
        @on(Note)
        async def note(self, msg: Note) -> None:
            for wait in (self.container.join, self.container.run_until_idle):
                try:
                    await wait()
                except triomas.AgentStateError as exc:
                    errors.append(str(exc))

    async with triomas.open_container() as c:
        ref = await c.spawn(Impatient)
        c.send(ref, Note("x"))
        await c.run_until_idle()
    assert len(errors) == 2
    assert all("wait for the agent itself" in e for e in errors)


def test_async_handlers_without_await_points_are_classified_as_plain() -> None:
    from triomas._agent.handlers import can_suspend

    async def plain(x: int) -> int:
        return x + 1

    async def awaits(x: int) -> int:
        await trio.lowlevel.checkpoint()
        return x

    async def loops(x: trio.MemoryReceiveChannel[int]) -> None:
        async for _ in x:
            pass

    async def withs(x: trio.Lock) -> None:
        async with x:
            pass

    async def defines_only(x: int) -> object:
        async def inner() -> None:
            await trio.lowlevel.checkpoint()

        return inner

    def sync(x: int) -> int:
        return x

    assert [can_suspend(f) for f in (plain, awaits, loops, withs, defines_only, sync)] == [
        False,
        True,
        True,
        True,
        False,
        False,
    ]


class AsyncEcho(Agent):
    @on(Ping)
    async def ping(self, msg: Ping) -> int:  # async, but no await point
        if msg.n < 0:
            raise ValueError("negative")
        return msg.n + 1


async def test_an_async_handler_without_await_takes_the_fast_paths(
    autojump_clock: trio.testing.MockClock,
) -> None:
    assert AsyncEcho._triomas_info.sync_ok
    async with triomas.open_container() as c:
        ref = await c.spawn(AsyncEcho)
        c.send(ref, Note("wake"))  # no handler: a dead letter, but it parks the agent
        await c.run_until_idle()
        cell = c._registry.cells[ref.name]
        assert cell.run_state is RunState.PARKED
        assert await c.ask(ref, Ping(1)) == 2
        assert cell.run_state is RunState.PARKED  # answered by hand-off
        with pytest.raises(CalleeDown) as down:
            await c.ask(ref, Ping(-1))
        assert isinstance(down.value.__cause__, ValueError)
    async with triomas.open_container(clock=triomas.VirtualClock()) as v:
        ref = await v.spawn(AsyncEcho)
        assert await v.ask(ref, Ping(41)) == 42


# ---- plain tells waiting as three entries --------------------------------------------


@message(tag="live.Unknown")
class Unknown:
    n: int


class Recorder(Agent):
    """Records what it handles, with the envelope's fields."""

    def __init__(self, log: list[tuple[object, ...]]) -> None:
        self.log = log

    @on(Note)
    def note(self, msg: Note, env: Envelope) -> None:
        assert env.sender is not None
        assert isinstance(env.receiver, triomas.AgentRef)
        self.log.append((msg.text, env.sender.name, env.receiver.name, env.topic, env.performative))
        if msg.text == "stop":
            self.stop()

    @on(triomas.Down)
    def down(self, msg: triomas.Down) -> None:
        self.log.append(("down", msg.ref.name))


class Teller(Agent):
    """On a Ping, tells ``to`` a mix of plain tells and speech acts in one go."""

    def __init__(self, to: triomas.AgentRef, texts: list[str]) -> None:
        self.to = to
        self.texts = texts
        self.waiting: list[int] = []

    @on(Ping)
    def go(self, msg: Ping) -> None:
        for text in self.texts:
            if text.startswith("inform:"):
                self.send(self.to, Note(text), performative="inform")
            elif text == "unknown":
                self.send(self.to, Unknown(1))
            else:
                self.send(self.to, Note(text))
        self.waiting.append(len(self.to._cell.mailbox))  # type: ignore[union-attr]


async def test_plain_tells_wait_compactly_and_arrive_as_envelopes_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[object, ...]] = []
    async with triomas.open_container() as c:
        rec = await c.spawn(Recorder, log, name="rec")
        teller = await c.spawn(Teller, rec, ["a", "inform:b", "c"], name="teller")
        c.send(teller, Ping(0))
        await c.run_until_idle()
        # two tells of three entries each and one envelope waited at once
        assert c.agent(teller).waiting == [7]  # type: ignore[attr-defined]
    assert log == [
        ("a", "teller", "rec", "Note", None),
        ("inform:b", "teller", "rec", "Note", "inform"),
        ("c", "teller", "rec", "Note", None),
    ]


class Reader(Agent):
    """A MASlite-style update that reads its mailbox by hand."""

    def __init__(self, seen: list[tuple[str, str]]) -> None:
        self.seen = seen

    def update(self) -> None:
        while self.messages:
            env = self.receive()
            assert isinstance(env, Envelope)
            assert env.sender is not None
            self.seen.append((env.body.text, env.sender.name))


async def test_code_that_reads_the_mailbox_by_hand_sees_only_envelopes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[tuple[str, str]] = []
    async with triomas.open_container() as c:
        teller = c.agent(await c.spawn(Echo, name="teller"))
        c.pause()
        reader = await c.spawn(Reader, seen, name="reader")
        teller.send(reader, Note("a"))  # before the reader's first update
        teller.send(reader, Note("b"))
        assert c._registry.cells["reader"].compact
        c.resume()
        await c.run_until_idle()
        assert not c._registry.cells["reader"].compact
        teller.send(reader, Note("c"))
        await c.run_until_idle()
    assert seen == [("a", "teller"), ("b", "teller"), ("c", "teller")]


async def test_leftover_and_unhandled_tells_become_dead_letters_with_their_sender(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[object, ...]] = []
    letters: list[triomas.DeadLetter] = []
    async with triomas.open_container() as c:
        c.on_event(lambda e: letters.append(e) if isinstance(e, triomas.DeadLetter) else None)
        rec = await c.spawn(Recorder, log, name="rec")
        teller = await c.spawn(Teller, rec, ["unknown", "stop", "x", "y"], name="teller")
        c.send(teller, Ping(0))
        await c.run_until_idle()
    assert log == [("stop", "teller", "rec", "Note", None)]
    assert [(type(d.message).__name__, d.sender, d.recipient, d.reason) for d in letters] == [
        ("Unknown", teller, rec, triomas.DeadLetterReason.NO_HANDLER),
        ("Note", teller, rec, triomas.DeadLetterReason.RECIPIENT_STOPPED),
        ("Note", teller, rec, triomas.DeadLetterReason.RECIPIENT_STOPPED),
    ]
    assert [d.message.text for d in letters[1:]] == ["x", "y"]


async def test_a_system_message_goes_ahead_of_waiting_tells(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[tuple[object, ...]] = []
    async with triomas.open_container() as c:
        rec = await c.spawn(Recorder, log, name="rec")
        teller = await c.spawn(Teller, rec, [], name="teller")
        mref = c.agent(rec).monitor(teller)
        c.pause()
        c.agent(teller).send(rec, Note("a"))
        c.agent(teller).send(rec, Note("b"))
        down = triomas.Down(mref, teller, triomas.Normal())
        c._registry.cells["rec"].accept_system(Envelope(down, None, rec, "Down"))
        c.resume()
        await c.run_until_idle()
        assert log == [
            ("down", "teller"),
            ("a", "teller", "rec", "Note", None),
            ("b", "teller", "rec", "Note", None),
        ]


class SelfKick(Agent):
    """Tells itself a Note while it is being made; reads its mailbox by hand or not."""

    def __init__(self, log: list[object], by_hand: bool) -> None:
        self.log = log
        self.by_hand = by_hand
        self.send(self.ref, Note("kick"))

    def update(self) -> None:
        if not self.by_hand:
            return super().update()  # type: ignore[no-any-return]
        while self.messages:
            self.log.append(self.receive())
        return None

    @on(Note)
    def note(self, msg: Note) -> None:
        self.log.append(msg.text)


async def test_a_bounded_agent_never_holds_compact_tells(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[object] = []
    letters: list[triomas.DeadLetter] = []
    async with triomas.open_container() as c:
        c.on_event(lambda e: letters.append(e) if isinstance(e, triomas.DeadLetter) else None)
        await c.spawn(SelfKick, seen, True, capacity=10)
        await c.run_until_idle()
        c.pause()
        ref = await c.spawn(SelfKick, [], False, capacity=2, overflow="fail")
        assert c._registry.cells[ref.name].bound.queued() == 1  # type: ignore[union-attr]
        c.send(ref, Note("room for one more"))
        await c.remove(ref)
    assert len(seen) == 1
    assert isinstance(seen[0], Envelope)
    assert seen[0].body == Note("kick")
    assert [d.message for d in letters] == [Note("kick"), Note("room for one more")]


class Flusher(Agent):
    """Monitors an agent that is gone (its Down waits at once) and flushes that Down."""

    def __init__(self, log: list[object]) -> None:
        self.log = log

    @on(Note)
    def note(self, msg: Note) -> None:
        self.log.append(msg.text)
        if msg.text == "flush":
            mref = self.monitor("nobody")
            self.demonitor(mref, flush=True)

    @on(triomas.Down)
    def down(self, msg: triomas.Down) -> None:
        self.log.append("down")


async def test_a_flush_in_a_batch_drops_the_down_and_handles_each_tell_once(
    autojump_clock: trio.testing.MockClock,
) -> None:
    log: list[object] = []
    async with triomas.open_container() as c:
        flusher = await c.spawn(Flusher, log)
        teller = c.agent(await c.spawn(Echo))
        c.pause()  # the tells wait together: one batch drains them
        for text in ("flush", "a1", "a2"):
            teller.send(flusher, Note(text))
        c.resume()
        await c.run_until_idle()
    assert log == ["flush", "a1", "a2"]


async def test_an_ask_answered_by_hand_off_keeps_tells_compact(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with triomas.open_container() as c:
        echo = await c.spawn(Echo)
        assert await c.ask(echo, Ping(1)) == 2
        assert c._registry.cells[echo.name].compact

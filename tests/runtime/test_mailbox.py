"""Bounded mailboxes, the system lane and dead letters (supervision spec rows 26 to 28)."""

from __future__ import annotations

import logging

import pytest
import trio.testing

import triomas
from triomas import (
    Agent,
    CalleeDown,
    ChildSpecError,
    DeadLetter,
    DeadLetterReason,
    Down,
    MailboxFull,
    Shutdown,
    message,
    on,
)


@message(tag="box.Job")
class Job:
    n: int


@message(tag="box.Nap")
class Nap:
    seconds: float


class Busy(Agent):
    """Naps on Nap; records the Jobs it handles, with the clock time."""

    def __init__(self, seen: list[tuple[float, object]]) -> None:
        self.seen = seen

    @on(Nap)
    async def nap(self, msg: Nap) -> None:
        await self.sleep(msg.seconds)

    @on(Job)
    def job(self, msg: Job) -> int:
        self.seen.append((self.clock.now(), msg.n))
        return msg.n

    @on(Down)
    def down(self, msg: Down) -> None:
        self.seen.append((self.clock.now(), "down"))


def dead_letters(c: triomas.Container) -> list[DeadLetter]:
    letters: list[DeadLetter] = []
    c.on_event(lambda e: letters.append(e) if isinstance(e, DeadLetter) else None)
    return letters


async def busy_with_two_waiting(
    c: triomas.Container, overflow: triomas.Overflow, nap: float = 5.0
) -> tuple[triomas.AgentRef, list[tuple[float, object]]]:
    seen: list[tuple[float, object]] = []
    ref = await c.spawn(Busy, seen, capacity=2, overflow=overflow)
    c.send(ref, Nap(nap))
    await c.run(iterations=1)  # the nap has begun: the mailbox is empty again
    c.send(ref, Job(1))
    c.send(ref, Job(2))
    return ref, seen


async def test_block_makes_send_wait_until_there_is_room(vc: triomas.Container) -> None:
    ref, seen = await busy_with_two_waiting(vc, "block")
    with pytest.raises(MailboxFull):
        vc.send(ref, Job(3))  # a plain send never waits
    await vc.send_wait(ref, Job(3))
    assert vc.clock.now() == 5.0  # when the nap ended and the waiting jobs were taken
    await vc.run_until_idle()
    assert seen == [(5.0, 1), (5.0, 2), (5.0, 3)]


async def test_block_with_a_timeout_fails_at_the_timeout(vc: triomas.Container) -> None:
    ref, _ = await busy_with_two_waiting(vc, "block", nap=10)
    with pytest.raises(MailboxFull):
        await vc.send_wait(ref, Job(3), timeout=5)
    assert vc.clock.now() == 5.0


async def test_an_ask_waits_for_room_within_its_timeout(vc: triomas.Container) -> None:
    ref, _ = await busy_with_two_waiting(vc, "block", nap=3)
    assert await vc.ask(ref, Job(3), timeout=5) == 3
    assert vc.clock.now() == 3.0


async def test_fail_raises_at_once(vc: triomas.Container) -> None:
    ref, seen = await busy_with_two_waiting(vc, "fail")
    with pytest.raises(MailboxFull):
        vc.send(ref, Job(3))
    await vc.run_until_idle()
    assert [n for _, n in seen] == [1, 2]


@pytest.mark.parametrize(
    ("overflow", "handled", "dropped"), [("drop_oldest", [2, 3], 1), ("drop_new", [1, 2], 3)]
)
async def test_drop_policies_make_a_dead_letter(
    vc: triomas.Container,
    overflow: triomas.Overflow,
    handled: list[int],
    dropped: int,
) -> None:
    letters = dead_letters(vc)
    ref, seen = await busy_with_two_waiting(vc, overflow)
    vc.send(ref, Job(3))
    await vc.run_until_idle()
    assert [n for _, n in seen] == handled
    (letter,) = letters
    assert letter.message == Job(dropped)
    assert letter.reason is DeadLetterReason.MAILBOX_FULL


async def test_a_bounded_mailbox_in_real_time(autojump_clock: object) -> None:
    async with triomas.open_container() as c:
        seen: list[tuple[float, object]] = []
        ref = await c.spawn(Busy, seen, capacity=1)
        c.send(ref, Nap(2))
        await c.send_wait(ref, Job(1))  # room once the nap is taken
        await c.send_wait(ref, Job(2))  # room once the nap is over
        await c.run_until_idle()
    assert [n for _, n in seen] == [1, 2]


async def test_stop_is_not_held_up_by_a_full_mailbox_and_the_waiting_senders_fail(
    vc: triomas.Container,
) -> None:
    letters = dead_letters(vc)
    outcome: list[object] = []

    class Sender(Agent):
        def __init__(self, target: triomas.AgentRef, n: int) -> None:
            self.target = target
            self.n = n

        async def setup(self) -> None:
            try:
                await self.send_wait(self.target, Job(self.n))
                outcome.append("sent")
            except CalleeDown as exc:
                outcome.append((self.clock.now(), type(exc).__name__))

    ref, _ = await busy_with_two_waiting(vc, "block", nap=100)
    for n in range(10):
        await vc.spawn(Sender, ref, 10 + n)
    await vc.run(seconds=1)
    await vc.remove(ref, timeout=2)
    assert vc.clock.now() == 3.0  # within its shutdown time, not after the nap
    await vc.run_until_idle()
    assert outcome == [(3.0, "CalleeDown")] * 10
    assert sorted(letter.message.n for letter in letters) == [1, 2]


async def test_system_messages_go_before_waiting_user_messages(vc: triomas.Container) -> None:
    seen: list[tuple[float, object]] = []

    class Watcher(Busy):
        def __init__(self, seen: list[tuple[float, object]], target: triomas.AgentRef) -> None:
            super().__init__(seen)
            self.target = target

        def setup(self) -> None:
            self.monitor(self.target)

    target = await vc.spawn(Busy, [], name="target")
    watcher = await vc.spawn(Watcher, seen, target, capacity=3)
    vc.send(watcher, Nap(1))
    await vc.run(iterations=2)
    for n in range(3):
        vc.send(watcher, Job(n))
    await vc.remove(target)  # its Down passes the waiting jobs, and the full mailbox
    await vc.run_until_idle()
    assert seen == [(1.0, "down"), (1.0, 0), (1.0, 1), (1.0, 2)]


async def test_a_stop_turns_queued_messages_into_dead_letters_and_fails_calls(
    vc: triomas.Container,
) -> None:
    letters = dead_letters(vc)
    failed: list[tuple[float, object]] = []

    class Caller(Agent):
        def __init__(self, target: triomas.AgentRef) -> None:
            self.target = target

        async def setup(self) -> None:
            try:
                await self.ask(self.target, Job(99), timeout=50)
            except CalleeDown as exc:
                failed.append((self.clock.now(), exc.reason))

    seen: list[tuple[float, object]] = []
    ref = await vc.spawn(Busy, seen)
    vc.send(ref, Nap(10))
    await vc.run(iterations=1)
    for n in range(3):
        vc.send(ref, Job(n))
    await vc.spawn(Caller, ref)
    await vc.run(seconds=2)
    await vc.remove(ref, timeout=1)
    await vc.run_until_idle()  # the caller learns in the next round, at the same time
    assert failed == [(3.0, Shutdown("removed"))]
    assert sorted(letter.message.n for letter in letters) == [0, 1, 2, 99]
    assert seen == []


async def test_twenty_drops_log_ten_lines_then_quiet(
    vc: triomas.Container,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="triomas.deadletters")
    ref, _ = await busy_with_two_waiting(vc, "drop_new")
    for n in range(20):
        vc.send(ref, Job(100 + n))
    lines = [r.getMessage() for r in caplog.records if r.name == "triomas.deadletters"]
    assert len([line for line in lines if "dead letter Job" in line]) == 10
    assert "more are not logged for 300 s" in lines[-1]
    assert vc.dead_letter_counts[DeadLetterReason.MAILBOX_FULL] == 20


async def test_mailbox_options_are_checked(
    both: triomas.Container, autojump_clock: trio.testing.MockClock
) -> None:
    with pytest.raises(ChildSpecError, match="capacity"):
        await both.spawn(Busy, [], capacity=0)
    with pytest.raises(ChildSpecError, match="overflow"):
        await both.spawn(Busy, [], capacity=1, overflow="spill")  # type: ignore[arg-type]

"""The tell fast path builds its envelope inline (for speed): it must match the one
place that knows the envelope's field order, ``tell_envelope``."""

from __future__ import annotations

import triomas
from triomas import Agent, Envelope, message, on
from triomas._messages.envelope import tell_envelope


@message(tag="tests.runtime.EnvelopeOrderNote")
class Note:
    n: int


class Keeper(Agent):
    def __init__(self) -> None:
        self.got: list[Envelope] = []

    @on(Note)
    def note(self, msg: Note, env: Envelope) -> None:
        self.got.append(env)


class Sender(Agent):
    def __init__(self, to: triomas.AgentRef) -> None:
        self.to = to

    def setup(self) -> None:
        self.send(self.to, Note(1))  # by reference, no option: the fast path


async def test_a_fast_tell_carries_the_envelope_tell_envelope_builds() -> None:
    async with triomas.open_container(clock=triomas.VirtualClock()) as c:
        keeper = await c.spawn(Keeper, name="keeper")
        sender = await c.spawn(Sender, keeper, name="sender")
        await c.run_until_idle()
        [env] = c.agent(keeper, Keeper).got
        assert env == tell_envelope(Note(1), sender, keeper, env.sent_at)
        assert env.topic == "Note"
        assert env.reply_with is None


class ByName(Agent):
    def __init__(self, to: str) -> None:
        self.to = to

    def setup(self) -> None:
        self.send(self.to, Note(2))  # by name, no option: the same fast path


async def test_a_fast_tell_by_name_or_from_outside_carries_the_same_envelope(
    both: triomas.Container, autojump_clock: object
) -> None:
    keeper = await both.spawn(Keeper, name="keeper")
    sender = await both.spawn(ByName, "keeper", name="sender")
    await both.run_until_idle()
    both.send("keeper", Note(3))  # from outside, by name
    both.send(keeper, Note(4))  # from outside, by reference
    await both.run_until_idle()
    got = both.agent(keeper, Keeper).got
    assert got == [
        tell_envelope(Note(2), sender, keeper, got[0].sent_at),
        tell_envelope(Note(3), None, keeper, got[1].sent_at),
        tell_envelope(Note(4), None, keeper, got[2].sent_at),
    ]
    assert all(env.receiver == keeper for env in got)  # a name arrives as the reference


async def test_a_name_that_is_no_live_agent_takes_the_general_path(
    both: triomas.Container, autojump_clock: object
) -> None:
    keeper = await both.spawn(Keeper, name="keeper")
    group_member = await both.spawn(Keeper, name="member")
    both.agent(group_member, Keeper).subscribe(receiver="readers")
    both.send("readers", Note(5))  # a receiver group: not an agent's name
    both.send("nobody", Note(6))  # a dead letter, as before
    await both.run_until_idle()
    assert [env.body for env in both.agent(group_member, Keeper).got] == [Note(5)]
    assert both.agent(keeper, Keeper).got == []
    assert both.dead_letter_counts[triomas.DeadLetterReason.UNKNOWN_RECIPIENT] == 1

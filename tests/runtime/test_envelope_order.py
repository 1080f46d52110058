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

"""Bounded mailboxes: admission at send time, overflow policies, senders that wait.

Only agents spawned with a ``capacity`` have a :class:`Bound`; it takes the place of
the engine's delivery function for that agent, so unbounded agents pay nothing.
System messages (``Down``, ``Exit``) and the agent's own alarms bypass it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._messages.errors import CalleeDown, MailboxFull
from .._messages.events import DeadLetterReason, ExitReason
from .._supervision.spec import Overflow
from .._time.future import Future
from .cell import Life

if TYPE_CHECKING:
    from .._messages.envelope import Envelope
    from .cell import Cell


class Bound:
    """The capacity of one agent's user mailbox and what happens when it is full.

    Counted are the waiting messages plus, in virtual time, those sent this round
    and not yet delivered.
    """

    __slots__ = ("capacity", "cell", "in_flight", "policy", "waiters")

    def __init__(self, cell: Cell, capacity: int, policy: Overflow) -> None:
        self.cell = cell
        self.capacity = capacity
        self.policy = policy
        self.in_flight = 0
        self.waiters: list[Future] = []

    def queued(self) -> int:
        """Messages that hold a place in the mailbox."""
        return len(self.cell.mailbox) + self.in_flight

    def full(self) -> bool:
        """Whether one more message would go over the capacity."""
        return self.queued() >= self.capacity and self.cell.life is not Life.STOPPED

    def deliver(self, cell: Cell, env: Envelope) -> None:
        """Admit ``env`` by the policy, then deliver it as the engine does.

        ``block`` and ``fail`` raise :exc:`MailboxFull` here, in the sender, when
        the mailbox is full (``send_wait`` waits for room instead); ``drop_new`` and
        ``drop_oldest`` turn a message into a dead letter.
        """
        if self.full():
            policy = self.policy
            if policy == "drop_new":
                cell.container._dead(env, DeadLetterReason.MAILBOX_FULL, None)
                return
            if policy == "drop_oldest":
                self._drop_oldest()
            else:
                raise MailboxFull(
                    f"the mailbox of {cell.name} is full ({self.capacity} messages)"
                    + ("; send_wait() waits for room" if policy == "block" else "")
                )
        engine = cell.engine
        if engine.virtual:
            self.in_flight += 1
            engine.sim.deliver(self, env)  # type: ignore[attr-defined]
        else:
            cell.accept(env)

    def accept(self, env: Envelope) -> None:
        """The end of a virtual round hands over a message admitted during it."""
        self.in_flight -= 1
        self.cell.accept(env)

    def _drop_oldest(self) -> None:
        cell = self.cell
        mailbox = cell.mailbox
        for index, waiting in enumerate(mailbox):
            if not cell.is_system(waiting):
                del mailbox[index]
                cell.container._dead(waiting, DeadLetterReason.MAILBOX_FULL, None)
                return
        first = [True]

        def oldest(env: Envelope) -> bool:
            if first[0] and not cell.is_system(env):
                first[0] = False
                return True
            return False

        for waiting in cell.engine.in_flight(cell, oldest):  # sent this round, in order
            self.in_flight -= 1
            cell.container._dead(waiting, DeadLetterReason.MAILBOX_FULL, None)

    async def wait_room(self, deadline: float) -> bool:
        """Wait until the mailbox has room (or clock time ``deadline``); True if it has."""
        engine = self.cell.engine
        while self.full():
            fut = Future()
            self.waiters.append(fut)
            try:
                if not await engine.wait(fut, deadline):
                    return False
            finally:
                if fut in self.waiters:
                    self.waiters.remove(fut)
            fut.result()  # raises CalleeDown if the agent stopped for good
        return True

    def freed(self) -> None:
        """Messages were taken out: wake as many waiting senders as there is room."""
        room = self.capacity - self.queued()
        while room > 0 and self.waiters:
            self.waiters.pop(0).set_result(None)
            room -= 1

    def close(self, reason: ExitReason) -> None:
        """The agent stopped for good: its waiting senders fail."""
        waiters, self.waiters = self.waiters, []
        for fut in waiters:
            fut.set_error(CalleeDown(self.cell.ref.address, reason))

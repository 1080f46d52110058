"""The mailbox: how messages wait for their agent, and bounded mailboxes.

The functions here are the mailbox half of a cell (methods of ``Cell``, assigned in its
class body; ``self`` is the cell): arrival, the system lane, plain tells kept compact,
and reading by hand. :class:`Bound` is the
capacity of a bounded mailbox: admission at send time, overflow policies, senders that
wait. Only agents spawned with a ``capacity`` have one; it takes the place of the
engine's delivery function for that agent, so unbounded agents pay nothing. System
messages (``Down``, ``Exit``) and the agent's own alarms bypass it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any

from .._agent.options import Overflow
from .._messages.envelope import Envelope, tell_envelope
from .._messages.errors import CalleeDown, MailboxFull
from .._messages.events import DeadLetterReason, Down, Exit, ExitReason
from .._messages.ref import AgentRef
from .._time.future import Future
from . import dispatch
from .engine import RunState
from .lifecycle import Life

if TYPE_CHECKING:
    from .cell import Cell

# PERF: module constants; a global lookup is cheaper than an enum attribute (hot path).
_ACTIVE = RunState.ACTIVE
_STOPPED = Life.STOPPED
_RUNNING = Life.RUNNING


class _NoMail(deque[Envelope]):
    """The mailbox of every cell that has never had mail. PERF: a deque costs 760 bytes
    (spawn_100k in benchmarks/run.py)."""

    def _refuse(self, *args: object) -> None:
        raise AssertionError("the shared empty mailbox must be replaced, not filled")

    append = appendleft = extend = extendleft = insert = _refuse


NO_MAIL = _NoMail()


def is_system(env: Envelope) -> bool:
    """Whether ``env`` carries a system message (``Down``, ``Exit``)."""
    return isinstance(env.body, (Down, Exit))


def own_mailbox(self: Cell) -> deque[Envelope]:
    """The mailbox, as envelopes only from now on: for code that reads it by hand."""
    if self.compact:
        self.expand()
        self.compact = False
    return self.real_mailbox()


def real_mailbox(self: Cell) -> deque[Any]:
    """The mailbox, made real if it was the shared empty one."""
    if self.mailbox is NO_MAIL:
        self.mailbox = deque()
    return self.mailbox


def expand(self: Cell) -> deque[Envelope]:
    """The mailbox, with every plain tell waiting as three entries made an envelope."""
    mailbox = self.mailbox
    if self.compact and any(type(item) is not Envelope for item in mailbox):
        items = iter(list(mailbox))
        mailbox.clear()
        for item in items:
            if type(item) is Envelope:
                mailbox.append(item)
            else:
                mailbox.append(tell_envelope(item, next(items), self.ref, next(items)))
    return mailbox


def take(self: Cell) -> Envelope:
    """Take the oldest waiting message; :exc:`IndexError` if none is waiting."""
    mailbox = self.own_mailbox()
    if not mailbox:
        raise IndexError(f"no message is waiting for {self.ref.name}")
    env = mailbox.popleft()
    self.handled += 1  # an update() of its own handles what it takes
    if self.bound is not None:
        self.bound.freed()
    return env


def drop_waiting(self: Cell, match: Callable[[Envelope], bool]) -> int:
    """Remove the waiting (and in-flight) messages that ``match``; how many."""
    mailbox = self.expand()
    kept = [env for env in mailbox if not match(env)]
    dropped = len(mailbox) - len(kept)
    if dropped:  # in place: a batch being drained holds this deque
        mailbox.clear()
        mailbox.extend(kept)
    return dropped + len(self.engine.in_flight(self, match))


def accept(self: Cell, env: Envelope) -> None:
    """Put ``env`` in the mailbox and make sure an activation will see it."""
    if self.exit_reason is not None:
        if self.life is _STOPPED:
            self.router.dead(env, DeadLetterReason.RECIPIENT_STOPPED, self.exit_reason)
        else:  # ending: kept for a next incarnation, or a dead letter if none comes
            self.received += 1
            self.real_mailbox().append(env)
        return
    self.received += 1
    mailbox = self.mailbox
    if mailbox is NO_MAIL:
        mailbox = self.mailbox = deque()
    mailbox.append(env)
    if self.run_state is not _ACTIVE:
        self.engine.activate(self)


def accept_tell(self: Cell, body: Any, sender: AgentRef | None, sent_at: float) -> None:
    """:meth:`accept` for a plain tell to a live cell with ``compact`` set.

    PERF: the tell waits as three entries, body, sender and time, and becomes an
    envelope only if something needs one: allocating an object per message
    costs a burst of tells about a third of its time, mostly in the collector
    (``benchmarks/run.py``, live fan-out). A body is never an :class:`Envelope`,
    which tells the two kinds apart. In virtual time the tell arrives from the round's
    outbox, where the cell may have stopped, or started to read its mailbox by hand,
    since it was sent: then it becomes an envelope after all.
    """
    if not self.compact or self.exit_reason is not None:
        self.accept(tell_envelope(body, sender, self.ref, sent_at))
        return
    self.received += 1
    mailbox = self.mailbox
    if mailbox is NO_MAIL:
        mailbox = self.mailbox = deque()
    mailbox.append(body)
    mailbox.append(sender)
    mailbox.append(sent_at)
    if self.run_state is not _ACTIVE:
        self.engine.activate(self)


def accept_system(self: Cell, env: Envelope) -> None:
    """Put a system message ahead of every user message, behind earlier system ones."""
    if self.life is _STOPPED:
        self.router.dead(env, DeadLetterReason.RECIPIENT_STOPPED, self.exit_reason)
        return
    self.received += 1
    mailbox = self.real_mailbox()
    place = 0
    for waiting in mailbox:
        if type(waiting) is not Envelope or not is_system(waiting):
            break
        place += 1
    mailbox.insert(place, env)
    if self.exit_reason is None and self.run_state is not _ACTIVE:
        self.engine.activate(self)


def handoff(cell: Cell, env: Envelope) -> bool:
    """Handle ``env`` right here, in the caller's task, if nothing can tell the difference.

    That is the case when the agent is idle with an empty mailbox and the handler is
    plain (sync): it is marked busy meanwhile, so one message at a time still holds.
    PERF: a live ask then needs no task switch (live ask in benchmarks/run.py, about
    2x). False: deliver as usual.
    """
    info = cell.info
    if (
        cell.run_state is _ACTIVE
        or cell.mailbox
        or cell.exit_reason is not None
        or cell.life is not _RUNNING
        or info.custom_update
        or cell.router.registry.paused
    ):
        return False
    kind = type(env.body)
    handler = info.handlers.get(kind) or info.lookup(kind)
    if handler is None or handler.suspends or handler.concurrent:
        return False
    state = cell.run_state
    cell.run_state = _ACTIVE
    cell.received += 1
    start = _clock()
    dispatch.handle_one(cell, handler, env)
    cell.busy += _clock() - start
    if cell.passivation is not None:
        cell.passivation.touch()
    cell.run_state = state
    if cell.exit_reason is not None or cell.mailbox:
        cell.engine.activate(cell)
    return True


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
        return self.queued() >= self.capacity and self.cell.life is not _STOPPED

    def deliver(self, cell: Cell, env: Envelope) -> None:
        """Admit ``env`` by the policy, then deliver it as the engine does.

        ``block`` and ``fail`` raise :exc:`MailboxFull` here, in the sender, when
        the mailbox is full (``send_wait`` waits for room instead); ``drop_new`` and
        ``drop_oldest`` turn a message into a dead letter.
        """
        if self.full():
            policy = self.policy
            if policy == "drop_new":
                cell.router.dead(env, DeadLetterReason.MAILBOX_FULL, None)
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
            engine.scheduler.deliver(self, env)  # type: ignore[attr-defined]
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
            if not is_system(waiting):
                del mailbox[index]
                cell.router.dead(waiting, DeadLetterReason.MAILBOX_FULL, None)
                return
        first = [True]

        def oldest(env: Envelope) -> bool:
            if first[0] and not is_system(env):
                first[0] = False
                return True
            return False

        for waiting in cell.engine.in_flight(cell, oldest):  # sent this round, in order
            self.in_flight -= 1
            cell.router.dead(waiting, DeadLetterReason.MAILBOX_FULL, None)

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

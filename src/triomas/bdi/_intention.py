"""An intention: one task running a plan for an event, with its stack of goals."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

from .._agent.context import Future
from ._terms import Belief, Event, Goal, Trigger, matches

if TYPE_CHECKING:
    from .._agent.context import Cancellable
    from .._messages.envelope import Envelope


@final
class Intention:
    """A plan being run for the event ``trigger`` of ``content``, with its stack of goals.

    ``stack`` holds the goal (or belief) that started it, then the subgoals it
    awaits with ``achieve``, innermost last. ``request`` is the ``Achieve`` to
    answer when the goal ends, if its sender asked for an answer. ``handle`` cancels
    its task (None for a plan run to its end at once).
    """

    __slots__ = ("_event", "cancelled", "content", "handle", "request", "stack", "trigger")

    def __init__(
        self,
        trigger: Trigger,
        content: Belief | Goal,
        request: Envelope | None,
        event: Event | None = None,
    ) -> None:
        self.trigger = trigger
        self.content = content
        self._event = event
        self.stack: list[Belief | Goal] = [content]
        self.handle: Cancellable | None = None
        self.cancelled = False
        self.request = request

    @property
    def event(self) -> Event:
        """The event this intention was started for (made on first use: an event
        selected as it happened, with nothing to see it, was never made)."""
        event = self._event
        if event is None:
            event = self._event = Event(self.trigger, self.content)
        return event

    def holds(self, pattern: Belief | Goal) -> bool:
        """Whether a goal on this intention's stack matches ``pattern``."""
        return any(matches(pattern, item) for item in self.stack)

    def cancel(self) -> None:
        """Cancel the task: the plan is dropped at its current await."""
        self.cancelled = True
        if self.handle is not None:
            self.handle.cancel()

    def __repr__(self) -> str:
        return f"<intention for {self.event!r}>"


@final
class Gate:
    """Holds other intentions back while an exclusive plan runs."""

    __slots__ = ("owner", "waiting")

    def __init__(self) -> None:
        self.owner: Intention | None = None
        self.waiting: list[Future] = []

    def closed_to(self, intention: Intention | None) -> bool:
        """Whether ``intention`` must wait before going on."""
        return self.owner is not None and self.owner is not intention

    def open(self) -> None:
        """Let everyone waiting go on."""
        self.owner = None
        waiting, self.waiting = self.waiting, []
        for fut in waiting:
            fut.set_result(None)

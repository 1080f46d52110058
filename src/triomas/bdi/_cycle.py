"""The reasoning cycle of a BDI agent: events, plan selection, intentions, the gate.

:class:`ReasoningCycle` holds a BDI agent's mental state and turns each event into an
intention; :class:`~triomas.bdi.BDIAgent` adds the user's API (beliefs, goals, speech
acts, environments) on top. Everything here uses the agent's own API.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any, ClassVar, Self

from .._agent.agent import Agent
from .._agent.context import Future
from .._agent.handlers import complete
from ._acts import FipaFailure, InformDone, InformResult
from ._base import Base
from ._errors import NoApplicablePlan, PlanFailure
from ._intention import Gate, Intention
from ._match import Matcher
from ._plans import Plan, PlanLibrary, finish
from ._terms import Belief, Event, Goal, Trigger, event_matches

if TYPE_CHECKING:
    from .._messages.envelope import Envelope

log = logging.getLogger("triomas.bdi")

_GAIN, _LOSE, _TEST = Trigger.GAIN, Trigger.LOSE, Trigger.TEST
_SUCCESS, _FAILURE, _DROPPED = Trigger.SUCCESS, Trigger.FAILURE, Trigger.DROPPED


class ReasoningCycle(Agent):
    """A BDI agent's mental state and the cycle that turns events into intentions."""

    show_exec: bool = False
    """Log every step of the reasoning cycle (MASPY's ``show_exec``) on the
    ``triomas.bdi`` logger, at INFO level."""

    _declared: ClassVar[list[Plan]] = []
    _beliefs: Base[Belief]
    _goals: Base[Goal]
    _library: PlanLibrary
    _events: deque[Event]
    _deliberating: bool
    _running: dict[object, Intention]
    _waiters: list[tuple[Event, Future]]
    _gate: Gate
    _asks: dict[str, Future]
    _late: dict[str, None]
    _serial: int
    _requests: dict[Goal, Envelope]
    _conversations: dict[str, Any]
    _closed_conversations: dict[str, None]
    _may_run: bool
    _inline: Belief | None
    _inline_trigger: Trigger
    _inline_made: Intention | None
    _home: str | None

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        self._beliefs = Base()
        self._goals = Base()
        self._library = PlanLibrary(cls._declared)
        self._events = deque()
        self._deliberating = False
        self._running = {}
        self._waiters = []
        self._gate = Gate()
        self._asks = {}
        self._late = {}
        self._serial = 0
        self._requests = {}
        self._conversations = {}
        self._closed_conversations = {}
        self._may_run = False
        self._inline = None  # the belief whose plan _react runs now
        self._inline_trigger = _GAIN
        self._inline_made = None
        self._home = None  # the address of the agent's container, once a tell needs it
        return self

    def _system_started(self) -> bool:
        """Whether this agent may run plans (its container's Admin, if any, started)."""
        return True

    def _holding(self, pattern: Belief | Goal) -> Any:
        if isinstance(pattern, Goal):
            return self._goals.first(pattern)
        return self._beliefs.first(pattern)

    def _finding(
        self, pattern: Belief | Goal, match: Matcher
    ) -> tuple[Any, tuple[Any, ...]] | None:
        """The oldest belief or goal ``pattern`` (compiled: ``match``) finds, with the
        values it binds; for a plan's context."""
        if isinstance(pattern, Goal):
            return self._goals.find(pattern, match)
        return self._beliefs.find(pattern, match)

    # ---- the cycle -----------------------------------------------------------------------

    def _post(self, event: Event, *, select: bool = True) -> None:
        if self.show_exec or self._tracing:
            self._note(event.trigger.value, repr(event.content))
        if self._waiters:
            for waiter in [w for w in self._waiters if event_matches(w[0], event)]:
                self._waiters.remove(waiter)
                waiter[1].set_result(event)
        if not select:
            return
        self._events.append(event)
        if not self._deliberating:
            self._deliberate()

    def _raise(self, trigger: Trigger, content: Belief | Goal) -> None:
        """Post the event ``trigger`` of ``content``, as :meth:`_post` does.

        PERF: when no event waits before it and nothing would see it (no waiter, no
        trace), its plan is selected at once and no :class:`Event` is made: a told
        belief costs one event less (bdi_tell_* in benchmarks/run.py). The context is
        asked directly, not through the agent's properties: a frame less for each.
        """
        ctx = self._ctx
        if self._events or self._deliberating or self._waiters or self.show_exec or ctx.tracing:
            self._post(Event(trigger, content))
            return
        if (
            self._gate.owner is not None
            or not (self._may_run or self._system_started())
            or not ctx.running
        ):
            self._events.append(Event(trigger, content))  # as _deliberate leaves it
            return
        self._deliberating = True
        try:
            if type(content) is Belief:
                self._react(trigger, content)
            else:
                self._intend(trigger, content, None)
            events = self._events
            while events and self._gate.owner is None:
                self._select(events.popleft())
        finally:
            self._deliberating = False

    def _react(self, trigger: Trigger, belief: Belief) -> None:
        """:meth:`_intend` for a belief's event selected as it happened (see
        :meth:`_raise`): a plan that cannot wait runs here with no :class:`Intention`
        made, unless something asks for it (:meth:`_inline_now`).

        PERF: the told belief's plan in bdi_tell_* (benchmarks/run.py), one call.
        """
        library = self._library
        plans = (
            library.gain_beliefs.get(belief.name, ())
            if trigger is _GAIN
            else library.candidates(trigger, belief)
        )
        for chosen in plans:
            values = chosen.match(belief)
            if values is not None and chosen.context:
                values = chosen.holds(self, values)
            if values is not None:
                break
        else:
            return  # a belief event with no applicable plan is ignored
        if chosen.suspends:
            self._start(Intention(trigger, belief, None), chosen, values)
            return
        self._inline = belief
        self._inline_trigger = trigger
        try:
            result = chosen.body(self, belief.source, *values)
            if chosen.is_async:
                complete(result)
        except Exception as exc:
            intention = self._inline_now()
            self._end_inline()
            assert intention is not None
            self._failed(intention, chosen, exc)
            return
        if self._inline_made is None:
            self._inline = None  # _end_inline(), with a call less in the common case
        else:
            self._end_inline()

    def _inline_now(self) -> Intention | None:
        """The intention of the belief's plan :meth:`_react` runs now, if any: made on
        first ask, and held in ``_running`` as every intention running is."""
        belief = self._inline
        if belief is None:
            return None
        intention = self._inline_made
        if intention is None:
            intention = self._inline_made = Intention(self._inline_trigger, belief, None)
            self._running[intention] = intention
        return intention

    def _end_inline(self) -> None:
        self._inline = None
        made = self._inline_made
        if made is not None:
            self._inline_made = None
            del self._running[made]

    def _deliberate(self) -> None:
        if not (self._may_run or self._system_started()) or not self._ctx.running:
            # __init__, a stop, or a system not started yet: update() picks the events up
            return
        self._deliberating = True
        try:
            events = self._events
            while events and self._gate.owner is None:
                self._select(events.popleft())
        finally:
            self._deliberating = False

    def _select(self, event: Event) -> None:
        content = event.content
        trigger = event.trigger
        if type(content) is Goal and trigger is _GAIN and content not in self._goals:
            return  # dropped while its event waited
        self._intend(trigger, content, event)

    def _intend(self, trigger: Trigger, content: Belief | Goal, event: Event | None) -> None:
        """Start an intention for the event ``trigger`` of ``content`` with the first
        applicable plan. ``event`` is None when :meth:`_raise` made none (then nothing
        traces)."""
        selected = self._applicable(trigger, content)
        if selected is None:
            if type(content) is Goal and trigger is _GAIN:
                error = NoApplicablePlan(f"no applicable plan for {content!r}")
                self._note("no plan", repr(content))
                self._end_goal(content, Event(_FAILURE, content, error))
                self._post(Event(_LOSE, content, error))
            return
        chosen, values = selected
        request = (
            self._requests.pop(content, None) if type(content) is Goal and self._requests else None
        )
        intention = Intention(trigger, content, request, event)
        if event is not None and (self.show_exec or self._tracing):
            self._note("intend", f"{event!r} with {chosen.label}")
        if not chosen.suspends:
            self._run_now(intention, chosen, values)
            return
        self._start(intention, chosen, values)

    def _start(self, intention: Intention, chosen: Plan, values: tuple[Any, ...]) -> None:
        """Run a plan that can wait as a task of its own."""
        if chosen.exclusive:
            self._gate.owner = intention
        intention.handle = self._start_task(self._run, intention, chosen, values)

    def _applicable(
        self, trigger: Trigger, content: Belief | Goal
    ) -> tuple[Plan, tuple[Any, ...]] | None:
        for candidate in self._library.candidates(trigger, content):
            values = candidate.match(content)
            if values is not None:
                if candidate.context:
                    values = candidate.holds(self, values)
                    if values is None:
                        continue
                return candidate, values
        return None

    async def _run(self, intention: Intention, chosen: Plan, values: tuple[Any, ...]) -> None:
        key = self._current_task()
        self._running[key] = intention
        content = intention.content
        ended = False
        try:
            await self._pass_gate(intention)
            result = await finish(chosen.call(self, content.source, values))
            ended = True
        except Exception as exc:
            ended = True
            self._failed(intention, chosen, exc)
            return
        finally:
            del self._running[key]
            if not ended:
                self._finish(intention, Event(_DROPPED, content), None)
            if self._gate.owner is intention:
                self._open_gate()
        self._finish(intention, Event(_SUCCESS, content), result)

    def _run_now(self, intention: Intention, chosen: Plan, values: tuple[Any, ...]) -> None:
        # A plan that cannot wait runs to its end here: no task, and it is atomic anyway.
        content = intention.content
        running = self._running
        running[intention] = intention
        try:
            result = chosen.body(self, content.source, *values)
            if chosen.is_async:
                result = complete(result)
        except Exception as exc:
            del running[intention]
            self._failed(intention, chosen, exc)
            return
        del running[intention]
        if type(content) is Goal:  # a belief's plan that succeeded posts nothing
            self._finish(intention, Event(_SUCCESS, content), result)

    def _failed(self, intention: Intention, chosen: Plan, exc: Exception) -> None:
        event = intention.event
        content = event.content
        handled = intention.request is not None or (
            isinstance(content, Goal)
            and intention.trigger is _GAIN
            and self._applicable(_LOSE, content) is not None
        )
        log.log(
            logging.DEBUG if handled else logging.WARNING,
            "agent %s: plan %s for %r failed: %r",
            self.name,
            chosen.label,
            event,
            exc,
        )
        self._finish(intention, Event(_FAILURE, content, exc), exc)

    def _finish(self, intention: Intention, outcome: Event, result: Any) -> None:
        content = outcome.content
        trigger = outcome.trigger
        if isinstance(content, Goal) and intention.trigger is _GAIN:
            self._end_goal(content, outcome)
            if intention.request is not None:
                self._answer_request(intention.request, outcome, result)
            if trigger is _FAILURE and self.exit_reason is None:
                self._post(Event(_LOSE, content, outcome.error))
        elif trigger is not _SUCCESS:
            self._post(outcome, select=False)

    def _end_goal(self, goal: Goal, outcome: Event) -> None:
        self._goals.discard(goal)
        request = self._requests.pop(goal, None)
        if request is not None:
            self._answer_request(request, outcome, None)
        self._post(outcome, select=False)

    def _answer_request(self, request: Envelope, outcome: Event, result: Any) -> None:
        if request.sender is None or self.exit_reason is not None:
            return
        body: Any
        if outcome.trigger is _SUCCESS:
            body = InformDone() if result is None else InformResult(result)
        else:
            reason = outcome.error if outcome.error is not None else outcome.trigger.value
            body = FipaFailure(repr(reason) if isinstance(reason, BaseException) else reason)
        self.send(
            request.sender,
            body,
            in_reply_to=request.reply_with,
            conversation_id=request.conversation_id,
        )

    async def _handle_failure(self, goal: Goal, error: Exception) -> Any:
        handler = self._applicable(_LOSE, goal)
        if handler is None:
            if isinstance(error, PlanFailure):
                raise error
            raise PlanFailure(f"the plan for {goal!r} failed: {error!r}") from error
        chosen, values = handler
        self._note("recover", f"{goal!r} with {chosen.label}")
        return await finish(chosen.call(self, goal.source, values))

    def _current(self) -> Intention | None:
        return self._running.get(self._current_task())

    async def _pass_gate(self, intention: Intention | None = None) -> None:
        gate = self._gate
        if gate.owner is None:
            return
        if intention is None:
            intention = self._current()
        while gate.closed_to(intention):
            fut = Future()
            gate.waiting.append(fut)
            await self._wait(fut, math.inf)

    def _open_gate(self) -> None:
        self._gate.open()
        if self._events and not self._deliberating:
            self._deliberate()

    def _note(self, kind: str, what: str) -> None:
        self._trace(kind, what)
        if self.show_exec:
            log.info("%s @ %.6g: %s %s", self.name, self.clock.now(), kind, what)

"""``BDIAgent``: beliefs, goals, plans and intentions on a triomas agent."""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .._agent.context import Future, Recipient
from .._agent.handlers import on
from .._messages.errors import AskTimeout
from .._messages.message import MESSAGE_CLASSES, check_send
from .._messages.ref import AgentRef
from . import _speech
from ._acts import (
    PERFORMATIVES,
    Achieve,
    AskAll,
    AskHow,
    AskOne,
    FipaFailure,
    InformDone,
    InformResult,
    Tell,
    TellHow,
)
from ._admin import Admin, ConnectTo, may_run, started
from ._cycle import ReasoningCycle
from ._environment import (
    ActionFailed,
    Channel,
    EnvAction,
    Environment,
    JoinEnvironment,
    LeaveEnvironment,
    Percept,
    PerceptUpdate,
)
from ._errors import ActionError, NoApplicablePlan, RequestFailed
from ._plans import PlanSpec, declared_plans, finish, plan_from_spec
from ._terms import Belief, Event, Goal, Trigger, matches, normalize

if TYPE_CHECKING:
    from .._messages.envelope import Envelope

log = logging.getLogger("triomas.bdi")

_GAIN, _LOSE, _TEST = Trigger.GAIN, Trigger.LOSE, Trigger.TEST
_SUCCESS, _FAILURE, _DROPPED = Trigger.SUCCESS, Trigger.FAILURE, Trigger.DROPPED
_LATE_KEPT = 1024


class BDIAgent(ReasoningCycle):
    """An agent with beliefs, goals and plans (AgentSpeak, as in Jason and MASPY).

    Declare plans with :func:`plan`. Each event (a belief gained or lost, a goal
    adopted) is handled in arrival order: the first plan, in declaration order,
    whose trigger matches and whose context holds starts an *intention*, a task
    of its own, so a plan that waits holds up nothing else. Mail is read as by
    any agent, one message at a time; speech acts (``Tell``, ``Achieve``, ...)
    are understood out of the box, and other messages go to ``@on`` handlers.

    Beliefs and goals may be added in ``__init__``; their plans start once the
    agent runs. Everything here uses the agent's clock, so BDI agents run the
    same in real and in virtual time.
    """

    maspy_compat: bool = False
    """MASPY's conventions: answers to ``ask_one`` and ``ask_all`` are added to the
    belief base, and ``ask_one`` gives None (not False) when nothing matched."""

    accept_plans: bool = True
    """Whether ``TellHow`` may teach this agent plans (registered ones only)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._declared = declared_plans(cls)

    def __init__(
        self,
        name: str | None = None,
        beliefs: Belief | Iterable[Belief] | None = None,
        goals: Goal | Iterable[Goal] | None = None,
        *,
        show_exec: bool | None = None,
    ) -> None:
        """MASPY's constructor, so that ``super().__init__(name, beliefs, goals)`` in a
        subclass works: the beliefs are added and the goals adopted.

        The name is spawn's, not the constructor's (``spawn(Driver, name="D1")``, or
        :meth:`Admin.agents`); a ``name`` given here must be the one the agent was
        spawned under, else :exc:`ValueError` says what to write.
        """
        if name is not None and name != self.name:
            raise ValueError(
                f"{type(self).__qualname__} was spawned as {self.name!r}, but its __init__ "
                f"passes the name {name!r} to BDIAgent.__init__: an agent's name is given "
                f"to spawn. Write spawn({type(self).__qualname__}, ..., name={name!r}), or "
                f"leave the name out of super().__init__()"
            )
        self.add(() if beliefs is None else beliefs, () if goals is None else goals)
        if show_exec is not None:
            self.show_exec = show_exec

    async def update(self) -> None:
        """Start the intentions of events raised before the agent ran, then read mail."""
        if not self._may_run:
            fut = started(self)
            if fut is not None:
                await self._wait(fut, math.inf)  # until the Admin starts the system
            self._may_run = True
        if self._events:
            self._deliberate()
        await self._dispatch_waiting()

    def _system_started(self) -> bool:
        if not self._may_run:
            self._may_run = may_run(self)
        return self._may_run

    def _wire(self, channels: Iterable[str], environments: Iterable[str], admin: Admin) -> None:
        """Join ``channels`` and connect to ``environments`` now, for :meth:`Admin.connect`:
        an environment of the same container hands over its percepts at once."""
        for name in channels:
            self.subscribe(topic=Channel(name).topic)
        for target in environments:
            here = admin.local(target)
            if isinstance(here, Environment):
                source = _speech.source_of(self, here.ref)
                for percept in here._admit(self.ref):  # noqa: SLF001 - the BDI layer's own
                    self._perceive(percept, source)
            else:
                self.send(target, JoinEnvironment())

    # ---- beliefs and goals ---------------------------------------------------------------

    def add(self, *items: Belief | Goal | Iterable[Belief | Goal]) -> None:
        """Add beliefs (each new one raises ``gain``) and adopt goals (each starts
        an intention, as :meth:`post`). Items without a source get ``"self"``."""
        for item in _flatten(items):
            if isinstance(item, Goal):
                self.post(item)
            else:
                self._believe(item if item.source is not None else item.with_source("self"))

    def rm(self, *patterns: Belief | Goal) -> int:
        """Remove the beliefs matching each pattern (each raises ``lose``), and drop
        the goals matching goal patterns (as :meth:`drop_desire`); how many went."""
        gone = 0
        for pattern in patterns:
            if isinstance(pattern, Goal):
                gone += self.drop_desire(pattern)
            else:
                gone += self._disbelieve(pattern)
        return gone

    def has(self, pattern: Belief | Goal) -> bool:
        """Whether a belief or goal matches ``pattern``."""
        return self._holding(pattern) is not None

    def get(self, pattern: Belief | Goal) -> Any:
        """The oldest belief or goal matching ``pattern``, or None."""
        return self._holding(pattern)

    def get_all(self, pattern: Belief | Goal) -> list[Any]:
        """Every belief or goal matching ``pattern``, oldest first."""
        if isinstance(pattern, Goal):
            return self._goals.all(pattern)
        return self._beliefs.all(pattern)

    @property
    def beliefs(self) -> list[Belief]:
        """Every belief held, by name, oldest first."""
        return list(self._beliefs)

    @property
    def goals(self) -> list[Goal]:
        """Every goal adopted and not yet achieved, failed or dropped."""
        return list(self._goals)

    @property
    def intentions(self) -> list[Event]:
        """The events whose plans are running now, oldest first."""
        self._inline_now()  # a plan running at once is one of them
        return [i.event for i in self._running.values()]

    def _believe(self, belief: Belief) -> bool:
        if not self._beliefs.add(belief):
            return False
        if belief.adds_event:
            self._raise(_GAIN, belief)
        return True

    def _disbelieve(self, pattern: Belief) -> int:
        gone = self._beliefs.all(pattern)
        for belief in gone:
            self._beliefs.discard(belief)
            if belief.adds_event:
                self._raise(_LOSE, belief)
        return len(gone)

    # ---- goals and intentions ------------------------------------------------------------

    def post(self, goal: Goal, *, request: Envelope | None = None) -> None:
        """Adopt ``goal`` as a new intention of its own (AgentSpeak's ``!!g``).

        ``request`` is the ``Achieve`` to answer with ``InformDone`` or ``FipaFailure``.
        """
        if goal.source is None:
            goal = goal.with_source("self")
        self._goals.add(goal)
        if request is not None:
            self._requests[goal] = request
        self._raise(_GAIN, goal)

    async def achieve(self, goal: Goal) -> Any:
        """Achieve ``goal`` as a subgoal of the calling plan (AgentSpeak's ``!g``).

        The first applicable plan runs in the caller's task and its result is
        returned. If it fails, a ``lose`` plan for the goal (``-!g``) handles the
        failure and its result is returned; with none, :exc:`PlanFailure` is
        raised (:exc:`NoApplicablePlan` if no plan applied).
        """
        result = await self._achieve(goal.with_source("self") if goal.source is None else goal)
        await self._pass_gate()
        return result

    async def _achieve(self, goal: Goal) -> Any:
        intention = self._current()
        selected = self._applicable(_GAIN, goal)
        self._goals.add(goal)
        self._post(Event(_GAIN, goal), select=False)
        if intention is not None:
            intention.stack.append(goal)
        took_gate = False
        ended = False
        try:
            if selected is None:
                ended = True
                error: Exception = NoApplicablePlan(f"no applicable plan for {goal!r}")
                self._end_goal(goal, Event(_FAILURE, goal, error))
                return await self._handle_failure(goal, error)
            chosen, values = selected
            if chosen.exclusive and self._gate.owner is None and intention is not None:
                self._gate.owner = intention
                took_gate = True
            self._note("subgoal", f"{goal!r} with {chosen.label}")
            try:
                result = await finish(chosen.call(self, goal.source, values))
            except Exception as exc:
                ended = True
                self._end_goal(goal, Event(_FAILURE, goal, exc))
                return await self._handle_failure(goal, exc)
            ended = True
            self._end_goal(goal, Event(_SUCCESS, goal))
            return result
        finally:
            if not ended:
                self._end_goal(goal, Event(_DROPPED, goal))
            if intention is not None and intention.stack and intention.stack[-1] is goal:
                intention.stack.pop()
            if took_gate:
                self._open_gate()

    async def test(self, pattern: Belief) -> Belief | None:
        """A test goal (``?b``): the oldest matching belief, or, if none, what a
        ``test`` plan for it finds (its result, or the belief it added)."""
        found = self._beliefs.first(pattern)
        if found is not None:
            return found
        selected = self._applicable(_TEST, pattern)
        if selected is None:
            return None
        chosen, values = selected
        result = await finish(chosen.call(self, "self", values))
        await self._pass_gate()
        if isinstance(result, Belief) and matches(pattern, result):
            return result
        return self._beliefs.first(pattern)

    def drop_desire(self, pattern: Goal) -> int:
        """Give up the goals matching ``pattern``: forget them, drop their pending
        events and cancel the intentions pursuing them; how many goals went."""
        self.drop_event(pattern)
        dropped = self.drop_intention(pattern)
        goals = self._goals.all(pattern)
        for goal in goals:
            self._end_goal(goal, Event(_DROPPED, goal))
        return len(goals) + dropped

    def drop_intention(self, pattern: Goal) -> int:
        """Cancel the intentions with a goal matching ``pattern`` on their stack;
        each ends with a ``dropped`` event; how many."""
        self._inline_now()
        doomed = [i for i in self._running.values() if i.holds(pattern) and not i.cancelled]
        for intention in doomed:
            self._note("drop", repr(intention.event))
            intention.cancel()
        return len(doomed)

    def drop_event(self, pattern: Belief | Goal) -> int:
        """Remove the pending events about ``pattern``; how many."""
        kept = [e for e in self._events if not matches(pattern, e.content)]
        gone = len(self._events) - len(kept)
        self._events = deque(kept)
        return gone

    async def wait(self, event: Event | None = None, *, timeout: float | None = None) -> Any:
        """Suspend the calling intention until an event matching ``event`` happens
        (the event is returned) or ``timeout`` clock seconds pass (None is returned).

        Without ``event`` it only sleeps. Other intentions and the mail go on.
        """
        if event is None and timeout is None:
            raise ValueError("wait() needs an event to wait for, a timeout, or both")
        fut = Future()
        waiter = None
        if event is not None:
            waiter = (event, fut)
            self._waiters.append(waiter)
        try:
            deadline = math.inf if timeout is None else self.clock.now() + timeout
            done = await self._wait(fut, deadline)
        finally:
            if waiter is not None and waiter in self._waiters:
                self._waiters.remove(waiter)
        await self._pass_gate()
        return fut.result() if done else None

    async def sleep(self, seconds: float) -> None:
        """Sleep in clock time; only the calling intention waits."""
        await super().sleep(seconds)
        await self._pass_gate()

    # ---- speech acts ---------------------------------------------------------------------

    def send(
        self,
        to: Recipient,
        msg: Any,
        *,
        performative: str | None = None,
        **fields: Any,
    ) -> None:
        """As :meth:`Agent.send`; a speech act also sets the envelope's performative."""
        if performative is None:
            performative = PERFORMATIVES.get(type(msg))
            if performative is None:  # not an act: any agent's send (with no option, a tell)
                super().send(to, msg, **fields)
                return
        if fields:
            super().send(to, msg, performative=performative, **fields)
            return
        # PERF: an act with no other option takes the tell's fast path, its performative
        # in the envelope (bdi_tell_* in benchmarks/run.py). The same check as
        # Agent.send's, inline; its function says why on failure.
        if type(msg) not in MESSAGE_CLASSES or (
            type(to) is not AgentRef
            and (not isinstance(to, (str, type)) or (type(to) is str and "/" in to))
        ):
            check_send(to, msg, "send")
        self._ctx.tell(to, msg, performative)

    async def ask_one(
        self, to: Recipient, pattern: Belief, *, timeout: float = 2.0, add: bool | None = None
    ) -> Belief | bool | None:
        """Ask ``to`` for one belief matching ``pattern`` (KQML ``askOne``).

        Returns the belief with ``to``'s name as its source, or False if ``to``
        has none (``None`` with :attr:`maspy_compat`). Only the calling intention
        waits; after ``timeout`` clock seconds with no answer (a silent or unknown
        agent) it raises :exc:`AskTimeout`, and a late answer is ignored. With
        ``add`` (default: :attr:`maspy_compat`) the answer is also believed.
        """
        env = await self._ask_act(to, AskOne(pattern), timeout)
        if isinstance(env.body, Tell) and isinstance(env.body.content, Belief):
            belief = normalize(env.body.content, _speech.source_of(self, env.sender))
            if self.maspy_compat if add is None else add:
                self._believe(belief)
            return belief
        return None if self.maspy_compat else False

    async def ask_all(
        self, to: Recipient, pattern: Belief, *, timeout: float = 2.0, add: bool | None = None
    ) -> list[Belief]:
        """Ask ``to`` for every belief matching ``pattern`` (KQML ``askAll``); the
        list may be empty. Waiting and ``add`` as in :meth:`ask_one`."""
        env = await self._ask_act(to, AskAll(pattern), timeout)
        content = env.body.content if isinstance(env.body, Tell) else ()
        source = _speech.source_of(self, env.sender)
        found = [normalize(b, source) for b in _speech.contents(content) if isinstance(b, Belief)]
        if self.maspy_compat if add is None else add:
            for belief in found:
                self._believe(belief)
        return found

    async def ask_how(
        self,
        to: Recipient,
        trigger: Trigger,
        pattern: Belief | Goal,
        *,
        timeout: float = 2.0,
        learn: bool = False,
    ) -> list[PlanSpec]:
        """Ask ``to`` for its teachable plans relevant to ``trigger`` of ``pattern``
        (KQML ``askHow``). With ``learn``, plans registered here are learnt too."""
        env = await self._ask_act(to, AskHow(trigger.value, pattern), timeout)
        specs = [
            s
            for s in _speech.contents(env.body.content if isinstance(env.body, TellHow) else ())
            if isinstance(s, PlanSpec)
        ]
        if learn:
            for spec in specs:
                self._library.learn(plan_from_spec(spec, _speech.source_of(self, env.sender)))
        return specs

    async def request(self, to: Recipient, goal: Goal, *, timeout: float = 5.0) -> Any:
        """Ask ``to`` to achieve ``goal`` and wait for the outcome: the result of its
        plan (``InformResult``; None for ``InformDone``).

        Raises :exc:`RequestFailed` if ``to`` reports failure (``FipaFailure``) or did
        not understand, :exc:`AskTimeout` after ``timeout`` clock seconds with no
        outcome, and at once :exc:`CalleeDown` or :exc:`NoHandler` if the request
        cannot reach an agent that handles it.
        """
        env = await self._ask_act(to, Achieve(goal), timeout)
        body = env.body
        if isinstance(body, InformResult):
            return body.result
        if isinstance(body, InformDone):
            return None
        reason = body.reason if isinstance(body, FipaFailure) else getattr(body, "what", body)
        raise RequestFailed(f"{to} failed to achieve {goal!r}: {reason}", reason)

    def broadcast(self, act: Any, channel: Channel | str) -> None:
        """Send ``act`` to every agent connected to ``channel`` (this one too, if it is)."""
        topic = channel.topic if isinstance(channel, Channel) else Channel(channel).topic
        self.publish(act, topic=topic)

    def on_unhandled_act(self, env: Envelope) -> None:
        """Called with a FIPA act that belongs to no conversation and answers no ask.

        The default logs it; a late ``Propose`` of a finished Contract Net is
        rejected as late by the initiator's helper before it gets here.
        """
        log.info("agent %s: no conversation for %r from %s", self.name, env.body, env.sender)
        self._note("unhandled", repr(env.body))

    _on_tell = _speech.on_tell
    _on_untell = _speech.on_untell
    _on_achieve = _speech.on_achieve
    _on_unachieve = _speech.on_unachieve
    _on_ask_one = _speech.on_ask_one
    _on_ask_all = _speech.on_ask_all
    _on_tell_how = _speech.on_tell_how
    _on_untell_how = _speech.on_untell_how
    _on_ask_how = _speech.on_ask_how
    _on_signal = _speech.on_signal
    _on_fipa = _speech.on_fipa

    # ---- environments and channels -------------------------------------------------------

    def connect_to(self, *targets: Channel | AgentRef | str) -> None:
        """Join channels, and connect to environments (by reference, name or
        address): their percepts become beliefs, and follow every change."""
        for target in targets:
            if isinstance(target, Channel):
                self.subscribe(topic=target.topic)
            else:
                self.send(target, JoinEnvironment())

    def disconnect_from(self, *targets: Channel | AgentRef | str) -> None:
        """Leave channels, and disconnect from environments (their percepts are
        then retracted)."""
        for target in targets:
            if isinstance(target, Channel):
                self.unsubscribe(topic=target.topic)
            else:
                self.send(target, LeaveEnvironment())

    async def env_action(
        self, env: AgentRef | str, name: str, *args: Any, timeout: float = 5.0
    ) -> Any:
        """Call action ``name`` of environment ``env`` with ``args``; its result.

        Raises :exc:`ActionError` if the action raised or does not exist. Only
        the calling intention waits.
        """
        result = await self.ask(env, EnvAction(name, args), timeout=timeout)
        await self._pass_gate()
        if isinstance(result, ActionFailed):
            raise ActionError(f"{result.error_type}: {result.message}")
        return result

    @on(ConnectTo)
    def _on_connect_to(self, order: ConnectTo) -> None:
        self.connect_to(*(Channel(name) for name in order.channels), *order.environments)

    @on(PerceptUpdate)
    def _on_percepts(self, update: PerceptUpdate, env: Envelope) -> None:
        source = _speech.source_of(self, env.sender)
        for percept in update.removed:
            self._disbelieve(Belief(percept.name, *percept.args, source=source))
        for percept in update.added:
            self._perceive(percept, source)

    def _perceive(self, percept: Percept, source: str) -> None:
        self._believe(
            Belief(percept.name, *percept.args, source=source, adds_event=percept.adds_event)
        )

    # ---- asking --------------------------------------------------------------------------

    async def _ask_act(self, to: Recipient, act: Any, timeout: float) -> Any:
        """Send ``act`` with a fresh ``reply_with`` and wait for the act answering it."""
        self._serial += 1
        rid = f"{self.name}#{self._serial}"
        fut = Future()
        self._asks[rid] = fut
        try:
            self.send(to, act, reply_with=rid)
            answered = await self._wait(fut, self.clock.now() + timeout)
        finally:
            del self._asks[rid]
        if not answered:
            self._late[rid] = None
            if len(self._late) > _LATE_KEPT:
                del self._late[next(iter(self._late))]
            raise AskTimeout(f"no answer from {to} within {timeout} s to {act!r}")
        await self._pass_gate()
        return fut.result()

    def undelivered(self, env: Envelope, error: BaseException) -> None:
        """An ask of this agent's (``ask_one``, ``request``, ...) could not be delivered:
        the intention waiting for its answer raises ``error`` now, not at its timeout."""
        fut = self._asks.get(env.reply_with) if env.reply_with is not None else None
        if fut is not None:
            fut.set_error(error)

    def _answered(self, env: Envelope) -> bool:
        """Whether ``env`` answers one of this agent's asks (then it is consumed)."""
        rid = env.in_reply_to
        if rid is None:
            return False
        fut = self._asks.get(rid)
        if fut is not None:
            fut.set_result(env)
            return True
        if rid in self._late:
            del self._late[rid]
            self._note("late", repr(env.body))
            return True
        return False


def _flatten(items: Iterable[Any]) -> Iterable[Belief | Goal]:
    for item in items:
        if isinstance(item, (Belief, Goal)):
            yield item
        elif isinstance(item, Iterable) and not isinstance(item, (str, bytes)):
            yield from _flatten(item)
        else:
            raise TypeError(f"expected a Belief or a Goal, not {item!r}")

"""What a ``BDIAgent`` does with each speech act it receives (the receiver's side).

The handlers follow Jason's semantics, with the source of every belief, goal and
plan set to the sender's name. Answers go back as acts whose ``in_reply_to`` is
the ask's ``reply_with``; an act answering one of the agent's own asks resumes
the intention waiting for it instead.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .._agent.handlers import on
from ._acts import (
    AcceptProposal,
    Achieve,
    AskAll,
    AskHow,
    AskOne,
    Cancel,
    Cfp,
    FipaFailure,
    InformDone,
    InformResult,
    NotUnderstood,
    Propose,
    Refuse,
    RejectProposal,
    Signal,
    Tell,
    TellHow,
    Unachieve,
    Untell,
    UntellHow,
)
from ._plans import PlanSpec, plan_from_spec, specs_of
from ._terms import Belief, Event, Goal, Trigger, normalize

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .._messages.envelope import Envelope
    from .._messages.ref import AgentRef
    from ._agent import BDIAgent

log = logging.getLogger("triomas.bdi")

_GAIN = Trigger.GAIN


def source_of(agent: Agent, sender: AgentRef | None) -> str:
    """``sender`` as the source of what it told ``agent``: its name if it lives in
    ``agent``'s container, else its address, so that a plan can always answer its
    source with ``send``."""
    if sender is None:
        return "unknown"
    if sender.container == agent.ref.container:  # the agent's own container's address
        return sender.name
    return sender.address


def contents(content: Any) -> list[Any]:
    return list(content) if isinstance(content, (list, tuple)) else [content]


def _reply(self: BDIAgent, env: Envelope, act: Any) -> None:
    if env.sender is not None:
        self.send(env.sender, act, in_reply_to=env.reply_with, conversation_id=env.conversation_id)


def _refuse(self: BDIAgent, env: Envelope, why: str) -> None:
    log.warning("self %s cannot use %r from %s: %s", self.name, env.body, env.sender, why)
    self._note("not understood", f"{env.body!r}: {why}")
    _reply(self, env, NotUnderstood(why))


@on(Tell)
def on_tell(self: BDIAgent, act: Tell, env: Envelope) -> None:
    """Add the told beliefs with the sender as source; ``gain`` for each new one."""
    if env.in_reply_to is not None and self._answered(env):
        return
    content = act.content
    sender = env.sender
    if type(content) is Belief and sender is not None:
        # PERF: the common tell, one belief (bdi_tell_* in benchmarks/run.py): its source
        # as source_of() finds it, with the agent's container address kept, no call
        home = self._home
        if home is None:
            home = self._home = self.ref.container
        belief = normalize(content, sender.name if sender.container == home else sender.address)
        if self._beliefs.add(belief) and belief.adds_event:  # _believe(), with a call less
            self._raise(_GAIN, belief)
        return
    source = source_of(self, sender)
    items = contents(content)
    if not all(isinstance(item, Belief) for item in items):
        _refuse(self, env, "tell carries beliefs")
        return
    for item in items:
        self._believe(normalize(item, source))


@on(Untell)
def on_untell(self: BDIAgent, act: Untell, env: Envelope) -> None:
    """Remove the matching beliefs that came from the sender; ``lose`` for each."""
    if self._answered(env):
        return
    for item in contents(act.content):
        if not isinstance(item, Belief):
            _refuse(self, env, "untell carries belief patterns")
            return
        self._disbelieve(normalize(item, source_of(self, env.sender)))


@on(Achieve)
def on_achieve(self: BDIAgent, act: Achieve, env: Envelope) -> None:
    """Adopt the goal, from the sender, as a new intention; answer when it ends if
    the sender gave a ``reply_with``."""
    if not isinstance(act.content, Goal):
        _refuse(self, env, "achieve carries a goal")
        return
    goal = normalize(act.content, source_of(self, env.sender))
    self.post(goal, request=env if env.reply_with is not None else None)


@on(Unachieve)
def on_unachieve(self: BDIAgent, act: Unachieve, env: Envelope) -> None:
    """Drop the matching goals, their pending events and their intentions."""
    if not isinstance(act.content, Goal):
        _refuse(self, env, "unachieve carries a goal pattern")
        return
    self.drop_desire(normalize(act.content))


@on(AskOne)
def on_ask_one(self: BDIAgent, act: AskOne, env: Envelope) -> None:
    """Answer with the oldest matching belief (``Tell``), or, if none, with what a
    ``test`` plan finds, or else with ``Untell`` of the pattern."""
    if not isinstance(act.content, Belief):
        _refuse(self, env, "askOne carries a belief pattern")
        return
    pattern = normalize(act.content)
    found = self._beliefs.first(pattern)
    if found is not None:
        _reply(self, env, Tell(found.with_source(None)))
    elif self._applicable(Trigger.TEST, pattern) is not None:
        self._start_task(_answer_by_test, self, pattern, env)
    else:
        _reply(self, env, Untell(pattern))


async def _answer_by_test(self: BDIAgent, pattern: Belief, env: Envelope) -> None:
    try:
        found = await self.test(pattern)
    except Exception as exc:
        log.warning("self %s: the test plan for %r failed: %r", self.name, pattern, exc)
        found = None
    _reply(self, env, Untell(pattern) if found is None else Tell(found.with_source(None)))


@on(AskAll)
def on_ask_all(self: BDIAgent, act: AskAll, env: Envelope) -> None:
    """Answer with a ``Tell`` of every matching belief (maybe none), oldest first."""
    if not isinstance(act.content, Belief):
        _refuse(self, env, "askAll carries a belief pattern")
        return
    found = self._beliefs.all(normalize(act.content))
    _reply(self, env, Tell(list(dict.fromkeys(b.with_source(None) for b in found))))


@on(TellHow)
def on_tell_how(self: BDIAgent, act: TellHow, env: Envelope) -> None:
    """Learn the described plans, if registered here, with the sender as source."""
    if self._answered(env):
        return
    if not self.accept_plans:
        _refuse(self, env, "this self does not accept plans")
        return
    for spec in contents(act.content):
        if not isinstance(spec, PlanSpec):
            _refuse(self, env, "tellHow carries plan descriptions")
            return
        try:
            learnt = plan_from_spec(spec, source_of(self, env.sender))
        except (LookupError, ValueError) as exc:
            _refuse(self, env, str(exc))
            continue
        if self._library.learn(learnt):
            self._note("learn", f"{spec.name} from {learnt.source}")


@on(UntellHow)
def on_untell_how(self: BDIAgent, act: UntellHow, env: Envelope) -> None:
    """Forget the plans with that name that the sender taught."""
    if self._library.forget(str(act.content), source_of(self, env.sender)):
        self._note("unlearn", f"{act.content} from {source_of(self, env.sender)}")


@on(AskHow)
def on_ask_how(self: BDIAgent, act: AskHow, env: Envelope) -> None:
    """Answer with a ``TellHow`` of the teachable plans relevant to the trigger."""
    try:
        trigger = Trigger(act.trigger)
    except ValueError:
        _refuse(self, env, f"unknown trigger {act.trigger!r}")
        return
    if not isinstance(act.content, (Belief, Goal)):
        _refuse(self, env, "askHow carries a belief or goal pattern")
        return
    relevant = self._library.relevant(trigger, normalize(act.content))
    _reply(self, env, TellHow(specs_of(relevant)))


@on(Signal)
def on_signal(self: BDIAgent, act: Signal, env: Envelope) -> None:
    """Raise ``gain`` of the content, from the sender, without believing it."""
    if not isinstance(act.content, (Belief, Goal)):
        _refuse(self, env, "signal carries a belief or a goal")
        return
    self._post(Event(Trigger.GAIN, normalize(act.content, source_of(self, env.sender))))


_FIPA = (
    Cfp,
    Propose,
    Refuse,
    AcceptProposal,
    RejectProposal,
    InformDone,
    InformResult,
    FipaFailure,
    Cancel,
    NotUnderstood,
)


def on_fipa(self: BDIAgent, act: Any, env: Envelope) -> None:
    """Route a FIPA act to its conversation, or to the ask it answers; else log it."""
    conversation = (
        None if env.conversation_id is None else self._conversations.get(env.conversation_id)
    )
    if conversation is not None:
        conversation(env)
    elif not self._answered(env):
        self.on_unhandled_act(env)


on_fipa = on(Cfp)(on_fipa)
for _act in _FIPA[1:]:
    on_fipa = on(_act)(on_fipa)

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
    Failure,
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


def source_of(agent: Agent, sender: AgentRef | None) -> str:
    """``sender`` as the source of what it told ``agent``: its name if it lives in
    ``agent``'s container, else its address, so that a plan can always answer its
    source with ``send``."""
    if sender is None:
        return "unknown"
    if sender.container == agent.container.address:
        return sender.name
    return sender.address


def _contents(content: Any) -> list[Any]:
    return list(content) if isinstance(content, (list, tuple)) else [content]


def _reply(agent: BDIAgent, env: Envelope, act: Any) -> None:
    if env.sender is not None:
        agent.send(env.sender, act, in_reply_to=env.reply_with, conversation_id=env.conversation_id)


def _refuse(agent: BDIAgent, env: Envelope, why: str) -> None:
    log.warning("agent %s cannot use %r from %s: %s", agent.name, env.body, env.sender, why)
    agent._note("not understood", f"{env.body!r}: {why}")
    _reply(agent, env, NotUnderstood(why))


@on(Tell)
def on_tell(agent: BDIAgent, act: Tell, env: Envelope) -> None:
    """Add the told beliefs with the sender as source; ``gain`` for each new one."""
    if agent._answered(env):
        return
    source = source_of(agent, env.sender)
    items = _contents(act.content)
    if not all(isinstance(item, Belief) for item in items):
        _refuse(agent, env, "tell carries beliefs")
        return
    for item in items:
        agent._believe(normalize(item, source))


@on(Untell)
def on_untell(agent: BDIAgent, act: Untell, env: Envelope) -> None:
    """Remove the matching beliefs that came from the sender; ``lose`` for each."""
    if agent._answered(env):
        return
    for item in _contents(act.content):
        if not isinstance(item, Belief):
            _refuse(agent, env, "untell carries belief patterns")
            return
        agent._disbelieve(normalize(item, source_of(agent, env.sender)))


@on(Achieve)
def on_achieve(agent: BDIAgent, act: Achieve, env: Envelope) -> None:
    """Adopt the goal, from the sender, as a new intention; answer when it ends if
    the sender gave a ``reply_with``."""
    if not isinstance(act.content, Goal):
        _refuse(agent, env, "achieve carries a goal")
        return
    goal = normalize(act.content, source_of(agent, env.sender))
    agent.post(goal, request=env if env.reply_with is not None else None)


@on(Unachieve)
def on_unachieve(agent: BDIAgent, act: Unachieve, env: Envelope) -> None:
    """Drop the matching goals, their pending events and their intentions."""
    if not isinstance(act.content, Goal):
        _refuse(agent, env, "unachieve carries a goal pattern")
        return
    agent.drop_desire(normalize(act.content))


@on(AskOne)
def on_ask_one(agent: BDIAgent, act: AskOne, env: Envelope) -> None:
    """Answer with the oldest matching belief (``Tell``), or, if none, with what a
    ``test`` plan finds, or else with ``Untell`` of the pattern."""
    if not isinstance(act.content, Belief):
        _refuse(agent, env, "askOne carries a belief pattern")
        return
    pattern = normalize(act.content)
    found = agent._beliefs.first(pattern)
    if found is not None:
        _reply(agent, env, Tell(found.with_source(None)))
    elif agent._applicable(Trigger.TEST, pattern) is not None:
        agent._start_task(_answer_by_test, agent, pattern, env)
    else:
        _reply(agent, env, Untell(pattern))


async def _answer_by_test(agent: BDIAgent, pattern: Belief, env: Envelope) -> None:
    try:
        found = await agent.test(pattern)
    except Exception as exc:
        log.warning("agent %s: the test plan for %r failed: %r", agent.name, pattern, exc)
        found = None
    _reply(agent, env, Untell(pattern) if found is None else Tell(found.with_source(None)))


@on(AskAll)
def on_ask_all(agent: BDIAgent, act: AskAll, env: Envelope) -> None:
    """Answer with a ``Tell`` of every matching belief (maybe none), oldest first."""
    if not isinstance(act.content, Belief):
        _refuse(agent, env, "askAll carries a belief pattern")
        return
    found = agent._beliefs.all(normalize(act.content))
    _reply(agent, env, Tell(list(dict.fromkeys(b.with_source(None) for b in found))))


@on(TellHow)
def on_tell_how(agent: BDIAgent, act: TellHow, env: Envelope) -> None:
    """Learn the described plans, if registered here, with the sender as source."""
    if agent._answered(env):
        return
    if not agent.accept_plans:
        _refuse(agent, env, "this agent does not accept plans")
        return
    for spec in _contents(act.content):
        if not isinstance(spec, PlanSpec):
            _refuse(agent, env, "tellHow carries plan descriptions")
            return
        try:
            learnt = plan_from_spec(spec, source_of(agent, env.sender))
        except (LookupError, ValueError) as exc:
            _refuse(agent, env, str(exc))
            continue
        if agent._library.learn(learnt):
            agent._note("learn", f"{spec.name} from {learnt.source}")


@on(UntellHow)
def on_untell_how(agent: BDIAgent, act: UntellHow, env: Envelope) -> None:
    """Forget the plans with that name that the sender taught."""
    if agent._library.forget(str(act.content), source_of(agent, env.sender)):
        agent._note("unlearn", f"{act.content} from {source_of(agent, env.sender)}")


@on(AskHow)
def on_ask_how(agent: BDIAgent, act: AskHow, env: Envelope) -> None:
    """Answer with a ``TellHow`` of the teachable plans relevant to the trigger."""
    try:
        trigger = Trigger(act.trigger)
    except ValueError:
        _refuse(agent, env, f"unknown trigger {act.trigger!r}")
        return
    if not isinstance(act.content, (Belief, Goal)):
        _refuse(agent, env, "askHow carries a belief or goal pattern")
        return
    relevant = agent._library.relevant(trigger, normalize(act.content))
    _reply(agent, env, TellHow(specs_of(relevant)))


@on(Signal)
def on_signal(agent: BDIAgent, act: Signal, env: Envelope) -> None:
    """Raise ``gain`` of the content, from the sender, without believing it."""
    if not isinstance(act.content, (Belief, Goal)):
        _refuse(agent, env, "signal carries a belief or a goal")
        return
    agent._post(Event(Trigger.GAIN, normalize(act.content, source_of(agent, env.sender))))


_FIPA = (
    Cfp,
    Propose,
    Refuse,
    AcceptProposal,
    RejectProposal,
    InformDone,
    InformResult,
    Failure,
    Cancel,
    NotUnderstood,
)


def on_fipa(agent: BDIAgent, act: Any, env: Envelope) -> None:
    """Route a FIPA act to its conversation, or to the ask it answers; else log it."""
    conversation = (
        None if env.conversation_id is None else agent._conversations.get(env.conversation_id)
    )
    if conversation is not None:
        conversation(env)
    elif not agent._answered(env):
        agent.on_unhandled_act(env)


on_fipa = on(Cfp)(on_fipa)
for _act in _FIPA[1:]:
    on_fipa = on(_act)(on_fipa)

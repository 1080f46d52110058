"""Speech acts: KQML performatives and the FIPA-ACL acts of the Contract Net.

Each act is a ``@message`` with a ``kqml.`` or ``fipa.`` tag; a :class:`BDIAgent`
sets the envelope's ``performative`` from :data:`PERFORMATIVES` when it sends one.
Contents travel untyped, so beliefs, goals, lists of them and plain values all go.
"""

from __future__ import annotations

from typing import Any, final

from .._messages.message import message

# ---- KQML (Jason's semantics) ----------------------------------------------------------


@final
@message(tag="kqml.Tell")
class Tell:
    """Tell the receiver a belief (or a list of them): it adds them with the sender as
    source. Also the answer to ``AskOne`` and ``AskAll``."""

    content: Any


@final
@message(tag="kqml.Untell")
class Untell:
    """Retract: the receiver removes the beliefs matching ``content`` that came from
    the sender. Also ``AskOne``'s answer when nothing matched."""

    content: Any


@final
@message(tag="kqml.Achieve")
class Achieve:
    """Ask the receiver to adopt a goal: it starts a new intention for it."""

    content: Any


@final
@message(tag="kqml.Unachieve")
class Unachieve:
    """Ask the receiver to drop the goals matching ``content``, and their intentions."""

    content: Any


@final
@message(tag="kqml.AskOne")
class AskOne:
    """Ask for one belief matching ``content``: the answer is a ``Tell`` or an ``Untell``."""

    content: Any


@final
@message(tag="kqml.AskAll")
class AskAll:
    """Ask for every belief matching ``content``: the answer is a ``Tell`` of a list."""

    content: Any


@final
@message(tag="kqml.TellHow")
class TellHow:
    """Teach plans: ``content`` is a ``PlanSpec`` or a list of them (names, not code)."""

    content: Any


@final
@message(tag="kqml.UntellHow")
class UntellHow:
    """Unteach: the receiver forgets the plans named ``content`` that the sender taught."""

    content: str


@final
@message(tag="kqml.AskHow")
class AskHow:
    """Ask for the teachable plans relevant to ``trigger`` of ``content``; the answer
    is a ``TellHow`` of a list."""

    trigger: str
    content: Any


@final
@message(tag="kqml.Signal")
class Signal:
    """An event for the receiver, with no change to what it believes."""

    content: Any


# ---- FIPA-ACL: the acts of the Contract Net --------------------------------------------


@final
@message(tag="fipa.Cfp")
class Cfp:
    """A call for proposals on ``task``."""

    task: Any


@final
@message(tag="fipa.Propose")
class Propose:
    """A proposal in answer to a ``Cfp``."""

    proposal: Any


@final
@message(tag="fipa.Refuse")
class Refuse:
    """A refusal to propose, with a reason."""

    reason: Any = None


@final
@message(tag="fipa.AcceptProposal")
class AcceptProposal:
    """The initiator accepts a proposal: the participant performs the task."""

    proposal: Any


@final
@message(tag="fipa.RejectProposal")
class RejectProposal:
    """The initiator rejects a proposal (``reason`` is ``"late"`` for a late one)."""

    reason: Any = None


@final
@message(tag="fipa.InformDone")
class InformDone:
    """The task is done."""


@final
@message(tag="fipa.InformResult")
class InformResult:
    """The task is done, with a result."""

    result: Any


@final
@message(tag="fipa.Failure")
class FipaFailure:
    """The task (or an achieve) failed, with a reason (FIPA's ``failure``; not to be
    confused with :class:`triomas.Failure`, an agent's exit reason)."""

    reason: Any = None


@final
@message(tag="fipa.Cancel")
class Cancel:
    """The initiator cancels the conversation."""

    reason: Any = None


@final
@message(tag="fipa.NotUnderstood")
class NotUnderstood:
    """The receiver did not understand a message; ``what`` says which."""

    what: Any = None


PERFORMATIVES: dict[type, str] = {
    Tell: "tell",
    Untell: "untell",
    Achieve: "achieve",
    Unachieve: "unachieve",
    AskOne: "askOne",
    AskAll: "askAll",
    TellHow: "tellHow",
    UntellHow: "untellHow",
    AskHow: "askHow",
    Signal: "signal",
    Cfp: "cfp",
    Propose: "propose",
    Refuse: "refuse",
    AcceptProposal: "accept-proposal",
    RejectProposal: "reject-proposal",
    InformDone: "inform-done",
    InformResult: "inform-result",
    FipaFailure: "failure",
    Cancel: "cancel",
    NotUnderstood: "not-understood",
}
"""The performative each act class sets on its envelope."""

"""BDI agents and speech acts: beliefs, goals, plans, intentions, environments, channels.

``from triomas.bdi import BDIAgent, Belief, Goal, plan, Any, Environment, Percept, Channel``
"""

from .._messages.public import fixup_module_metadata
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
from ._admin import Admin
from ._agent import BDIAgent
from ._contract_net import PROTOCOL, Bid, ContractNetParticipant, ContractNetResult, contract_net
from ._environment import Channel, Environment, Percept, action
from ._errors import ActionError, NoApplicablePlan, PlanFailure, RequestFailed
from ._plans import PlanSpec, plan, plan_spec, teachable
from ._terms import Any, Belief, Event, Goal, Trigger, Wildcard, gain, lose, test

__all__ = [
    "PROTOCOL",
    "AcceptProposal",
    "Achieve",
    "ActionError",
    "Admin",
    "Any",
    "AskAll",
    "AskHow",
    "AskOne",
    "BDIAgent",
    "Belief",
    "Bid",
    "Cancel",
    "Cfp",
    "Channel",
    "ContractNetParticipant",
    "ContractNetResult",
    "Environment",
    "Event",
    "FipaFailure",
    "Goal",
    "InformDone",
    "InformResult",
    "NoApplicablePlan",
    "NotUnderstood",
    "Percept",
    "PlanFailure",
    "PlanSpec",
    "Propose",
    "Refuse",
    "RejectProposal",
    "RequestFailed",
    "Signal",
    "Tell",
    "TellHow",
    "Trigger",
    "Unachieve",
    "Untell",
    "UntellHow",
    "Wildcard",
    "action",
    "contract_net",
    "gain",
    "lose",
    "plan",
    "plan_spec",
    "teachable",
    "test",
]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata

"""The errors of the BDI layer."""

from __future__ import annotations

from .._messages.errors import TriomasError


class PlanFailure(TriomasError):
    """A subgoal failed and no ``lose`` plan handled the failure."""


class NoApplicablePlan(PlanFailure):
    """No plan was relevant to a goal with its context holding."""


class RequestFailed(PlanFailure):
    """The agent asked to achieve a goal (:meth:`BDIAgent.request`) reports that it
    failed; ``reason`` is what its ``FipaFailure`` (or ``NotUnderstood``) said."""

    def __init__(self, message: str, reason: object = None) -> None:
        super().__init__(message)
        self.reason = reason


class ActionError(TriomasError):
    """An environment action failed; the message names the environment's error."""

"""``crash_on``: make an agent under test fail on cue."""

from __future__ import annotations

from typing import Any, TypeVar

from .._agent.agent import Agent
from .._agent.handlers import on
from .._messages.errors import TriomasError

A = TypeVar("A", bound=Agent)


class InjectedCrash(TriomasError):
    """The failure :func:`crash_on` injects."""


def crash_on(msg_type: type, error: BaseException | None = None) -> Any:
    """A class decorator (or a function of an agent class): the same agent, failing with
    ``error`` (default :exc:`InjectedCrash`) whenever a message of ``msg_type`` arrives,
    instead of handling it. ``await c.spawn(crash_on(Poison)(Worker))`` tests how a
    supervisor and the agent's peers take its crash.
    """

    def decorate(cls: type[A]) -> type[A]:
        def crash(self: Agent, msg: Any) -> None:
            raise (
                error
                if error is not None
                else InjectedCrash(
                    f"{self.name} crashes on {msg!r}, as crash_on({msg_type.__qualname__}) asked"
                )
            )

        crashing = type(cls.__name__, (cls,), {"_crash_on": on(msg_type)(crash)})
        crashing.__qualname__ = cls.__qualname__
        crashing.__module__ = cls.__module__
        crashing.__doc__ = cls.__doc__
        return crashing

    return decorate

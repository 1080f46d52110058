"""Environments (percepts pushed to connected agents, actions agents call) and channels."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, Self, TypeVar, final

import attrs

from .._agent.agent import Agent
from .._agent.handlers import on
from .._messages.envelope import Envelope
from .._messages.message import message
from .._messages.ref import AgentRef
from ._speech import source_of
from ._terms import _check_args, _same

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("triomas.bdi")


@final
@message(tag="bdi.Percept")
class Percept:
    """A fact of an environment: ``Percept("spot", 3, "free")``.

    Connected agents believe it as ``Belief("spot", 3, "free", source=<env name>)``.
    In a pattern, :data:`Any` matches any one argument. With ``adds_event=False``
    (MASPY's), agents believe it without a ``gain`` event (nor ``lose`` when it goes).
    """

    name: str
    args: Any  # a tuple; typed Any so that its values travel as they are
    adds_event: bool = attrs.field(default=True, eq=False, repr=False)

    def __init__(self, name: str, *args: Any, adds_event: bool = True) -> None:
        self.__attrs_init__(name, _check_args(args), adds_event)  # type: ignore[attr-defined]

    def matches(self, other: Percept) -> bool:
        """Whether ``other`` matches this pattern."""
        return (
            self.name == other.name
            and len(self.args) == len(other.args)
            and all(_same(p, v) for p, v in zip(self.args, other.args, strict=True))
        )

    def __repr__(self) -> str:
        return f"Percept({', '.join(map(repr, (self.name, *self.args)))})"


@final
@message(tag="bdi.PerceptUpdate")
class PerceptUpdate:
    """What changed in an environment, pushed to each connected agent."""

    added: Any
    removed: Any


@final
@message(tag="bdi.JoinEnvironment")
class JoinEnvironment:
    """An agent connects: it gets every percept now, and each change after."""


@final
@message(tag="bdi.LeaveEnvironment")
class LeaveEnvironment:
    """An agent disconnects: its percepts of the environment are retracted."""


@final
@message(tag="bdi.EnvAction")
class EnvAction:
    """An agent calls action ``name`` of an environment with ``args``."""

    name: str
    args: Any = ()


@final
@message(tag="bdi.ActionFailed")
class ActionFailed:
    """An action raised: the caller gets :exc:`ActionError` with this description."""

    error_type: str
    message: str


def action(fn: F) -> F:
    """Make an environment method an action agents may call with ``env_action``.

    It is called as ``method(self, agent, *args)``, where ``agent`` is the caller's
    name (its address if it lives in another container); it may be plain or
    ``async``, and what it returns is the caller's result.
    """
    fn.__triomas_action__ = True  # type: ignore[attr-defined]
    return fn


class Environment(Agent):
    """A world agents perceive and act on; an agent itself, so it may live in any
    container and be reached by name or address.

    Keep its state as percepts with :meth:`create`, :meth:`get`, :meth:`change` and
    :meth:`delete`; every change is pushed to the connected agents at once, as
    beliefs whose source is the environment's name. Declare what agents may do
    with :func:`action`.
    """

    _actions: dict[str, Callable[..., Any]] = {}
    _percepts: dict[str, dict[Percept, None]]
    _observers: dict[str, AgentRef]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._actions = {
            name: value
            for klass in reversed(cls.__mro__)
            for name, value in vars(klass).items()
            if getattr(value, "__triomas_action__", False)
        }

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        self = super().__new__(cls)
        self._percepts = {}
        self._observers = {}
        return self

    # ---- percepts ------------------------------------------------------------------------

    def create(self, *percepts: Percept) -> None:
        """Add percepts (those already there are left as they are)."""
        added = []
        for percept in percepts:
            same = self._percepts.setdefault(percept.name, {})
            if percept not in same:
                same[percept] = None
                added.append(percept)
        self._push(added, [])

    def get(self, pattern: Percept) -> Percept | None:
        """The oldest percept matching ``pattern``, or None."""
        for percept in self._percepts.get(pattern.name, ()):
            if pattern.matches(percept):
                return percept
        return None

    def get_all(self, pattern: Percept) -> list[Percept]:
        """Every percept matching ``pattern``, oldest first."""
        return [p for p in self._percepts.get(pattern.name, ()) if pattern.matches(p)]

    def delete(self, pattern: Percept) -> int:
        """Remove every percept matching ``pattern``; how many."""
        gone = self.get_all(pattern)
        same = self._percepts.get(pattern.name, {})
        for percept in gone:
            del same[percept]
        self._push([], gone)
        return len(gone)

    def change(self, pattern: Percept, new: Percept) -> int:
        """Replace the percepts matching ``pattern`` by ``new``, in one push; how many
        were replaced. If none matched, nothing changes."""
        gone = self.get_all(pattern)
        if not gone:
            return 0
        same = self._percepts.get(pattern.name, {})
        for percept in gone:
            del same[percept]
        target = self._percepts.setdefault(new.name, {})
        added = [] if new in target else [new]
        target[new] = None
        self._push(added, gone)
        return len(gone)

    @property
    def percepts(self) -> list[Percept]:
        """Every percept, by name, oldest first."""
        return [p for same in self._percepts.values() for p in same]

    @property
    def connected(self) -> list[str]:
        """The connected agents (names in this container, else addresses), in the
        order they connected."""
        return [source_of(self, ref) for ref in self._observers.values()]

    def _push(self, added: list[Percept], removed: list[Percept]) -> None:
        if not (added or removed) or not self._observers:
            return
        update = PerceptUpdate(tuple(added), tuple(removed))
        for ref in self._observers.values():
            self.send(ref, update)

    # ---- agents --------------------------------------------------------------------------

    @on(JoinEnvironment)
    def _join(self, _: JoinEnvironment, env: Envelope) -> None:
        if env.sender is None:
            return
        self.send(env.sender, PerceptUpdate(self._admit(env.sender), ()))

    def _admit(self, agent: AgentRef) -> tuple[Percept, ...]:
        """Connect ``agent``: it gets each change from now on; the percepts now."""
        self._observers[agent.address] = agent
        return tuple(self.percepts)

    @on(LeaveEnvironment)
    def _leave(self, _: LeaveEnvironment, env: Envelope) -> None:
        if env.sender is not None and self._observers.pop(env.sender.address, None) is not None:
            self.send(env.sender, PerceptUpdate((), tuple(self.percepts)))

    @on(EnvAction)
    async def _act(self, call: EnvAction, env: Envelope) -> Any:
        fn = self._actions.get(call.name)
        if fn is None:
            return ActionFailed("LookupError", f"{self.name} has no action {call.name!r}")
        caller = source_of(self, env.sender)
        try:
            result = fn(self, caller, *call.args)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("environment %s: action %s raised %r", self.name, call.name, exc)
            return ActionFailed(type(exc).__name__, str(exc))
        return result


@final
@attrs.frozen(slots=True)
class Channel:
    """A named group of agents, for broadcasts: ``Channel("Parking")``.

    Agents join with ``connect_to(channel)``; ``broadcast(act, channel)`` reaches
    every member, in this container and in connected ones (it is a topic).
    """

    name: str

    @property
    def topic(self) -> str:
        """The topic the channel's broadcasts travel on."""
        return f"channel.{self.name}"

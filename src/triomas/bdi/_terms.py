"""Beliefs, goals, the ``Any`` wildcard, triggers and events, and how patterns match."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any as _Any
from typing import TypeVar, final

import attrs

from .._messages.message import message

T = TypeVar("T", "Belief", "Goal")
N = TypeVar("N", bound="Belief | Goal")


@final
@message(tag="bdi.Any")
class Wildcard:
    """The type of :data:`Any`: in a pattern it matches any one value."""

    def __repr__(self) -> str:
        return "Any"


Any = Wildcard()
"""The wildcard: ``Belief("price", Any)`` matches ``price`` with any one argument.

Every ``Wildcard`` instance is equal to it, so it survives the codec.
"""


@final
class FrozenDict(dict[_Any, _Any]):
    """A dict argument of a belief, goal or percept, frozen: it compares equal to the
    dict it was made from, hashes, and refuses changes. It travels as a dict."""

    __slots__ = ("_hash",)

    def __hash__(self) -> int:  # type: ignore[override]
        try:
            return self._hash
        except AttributeError:
            self._hash: int = hash(frozenset(self.items()))
            return self._hash

    def _refuse(self, *args: _Any, **kwargs: _Any) -> _Any:
        raise TypeError("the dict arguments of beliefs, goals and percepts cannot change")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _refuse
    __ior__ = _refuse

    def __repr__(self) -> str:
        return dict.__repr__(self)


def _freeze(value: _Any) -> _Any:
    if type(value) is list or type(value) is tuple:
        return tuple(_freeze(item) for item in value)
    if type(value) is dict:
        return FrozenDict({_freeze(k): _freeze(v) for k, v in value.items()})
    if type(value) is set:
        return frozenset(_freeze(item) for item in value)
    return value


def _check_args(args: tuple[_Any, ...]) -> tuple[_Any, ...]:
    args = _freeze(args)
    try:
        hash(args)
    except TypeError:
        raise TypeError(
            f"belief, goal and percept arguments must be hashable values (lists, dicts "
            f"and sets are frozen for you): {args!r}"
        ) from None
    return args


@final
@message(tag="bdi.Belief")
class Belief:
    """Something an agent believes: a name, argument values and where it came from.

    ``Belief("price", 10, source="seller")``. ``source`` is the name of the agent
    that told it, the environment that perceived it, or ``"self"``; in a pattern,
    ``None`` matches every source and :data:`Any` matches any one argument.
    Arguments must be hashable; lists become tuples, dicts a read-only dict.

    ``adds_event=False`` (MASPY's): adding the belief raises no ``gain`` event, and
    removing it no ``lose``; it is believed all the same. It is not part of equality.
    """

    name: str
    args: _Any  # a tuple; typed Any so that its values travel as they are
    source: str | None = None
    adds_event: bool = attrs.field(default=True, eq=False, repr=False)

    def __init__(
        self, name: str, *args: _Any, source: str | None = None, adds_event: bool = True
    ) -> None:
        self.__attrs_init__(name, _check_args(args), source, adds_event)  # type: ignore[attr-defined]

    def with_source(self, source: str | None) -> Belief:
        """The same belief from ``source``."""
        return _copy(self, source)

    def __repr__(self) -> str:
        return _show("Belief", self.name, self.args, self.source)


@final
@message(tag="bdi.Goal")
class Goal:
    """Something an agent wants to achieve: ``Goal("park", spot, source="manager")``.

    As with :class:`Belief`, ``source`` says who asked for it (``"self"`` for the
    agent's own goals) and a pattern may use :data:`Any` and ``source=None``.
    """

    name: str
    args: _Any  # a tuple; typed Any so that its values travel as they are
    source: str | None = None

    def __init__(self, name: str, *args: _Any, source: str | None = None) -> None:
        self.__attrs_init__(name, _check_args(args), source)  # type: ignore[attr-defined]

    def with_source(self, source: str | None) -> Goal:
        """The same goal from ``source``."""
        return _copy(self, source)

    def __repr__(self) -> str:
        return _show("Goal", self.name, self.args, self.source)


def _show(kind: str, name: str, args: tuple[_Any, ...], source: str | None) -> str:
    parts = [repr(name), *map(repr, args)]
    if source is not None:
        parts.append(f"source={source!r}")
    return f"{kind}({', '.join(parts)})"


def _copy(item: N, source: str | None) -> N:
    # Arguments already checked: only the source changes.
    if isinstance(item, Belief):
        return told(item, source)  # type: ignore[return-value]  # N is Belief here
    new = object.__new__(type(item))
    object.__setattr__(new, "name", item.name)
    object.__setattr__(new, "args", item.args)
    object.__setattr__(new, "source", source)
    return new


_new = object.__new__
# The slots' own setters (as the codec fills a decoded message): a frozen class's
# __setattr__ refuses, and object.__setattr__ finds the slot by name each time.
_set_name: Callable[[Belief, str], None] = Belief.__dict__["name"].__set__
_set_args: Callable[[Belief, _Any], None] = Belief.__dict__["args"].__set__
_set_source: Callable[[Belief, str | None], None] = Belief.__dict__["source"].__set__
_set_adds_event: Callable[[Belief, bool], None] = Belief.__dict__["adds_event"].__set__


def told(belief: Belief, source: str | None) -> Belief:
    """``belief`` from ``source``: a copy, its arguments not checked again.

    PERF: a told belief is copied once for its source (bdi_tell_* in benchmarks/run.py).
    """
    new: Belief = _new(Belief)
    _set_name(new, belief.name)
    _set_args(new, belief.args)
    _set_source(new, source)
    _set_adds_event(new, belief.adds_event)
    return new


def normalize(item: N, source: str | None = None) -> N:
    """``item`` with ``source`` (if given), its arguments frozen again if it came
    through the codec (which turns tuples into lists)."""
    if source is None:
        source = item.source
    args = item.args
    if type(args) is tuple:
        for arg in args:  # PERF: a loop, not any() over a generator
            if type(arg) is dict:
                break
        else:
            if source == item.source:
                return item
            if isinstance(item, Belief):
                return told(item, source)  # type: ignore[return-value]  # PERF: no cast() call
            return _copy(item, source)
    fresh = type(item)(item.name, *args, source=source)
    if isinstance(item, Belief) and not item.adds_event:
        object.__setattr__(fresh, "adds_event", False)
    return fresh


class Trigger(enum.Enum):
    """What happened to a belief or goal: the kind of an :class:`Event`.

    Plans are declared on ``gain``, ``lose`` and ``test``; ``success``, ``failure``
    and ``dropped`` report how a goal ended, for :meth:`BDIAgent.wait` and traces.
    """

    GAIN = "gain"
    LOSE = "lose"
    TEST = "test"
    SUCCESS = "success"
    FAILURE = "failure"
    DROPPED = "dropped"


gain = Trigger.GAIN
"""A belief was added (``+b``) or a goal adopted (``+!g``)."""
lose = Trigger.LOSE
"""A belief was removed (``-b``) or a goal failed (``-!g``: the failure handler)."""
test = Trigger.TEST
"""A test goal (``?b``): asked when a query finds no belief."""


@final
@attrs.frozen(slots=True)
class Event:
    """One event of the reasoning cycle: ``Event(gain, Belief("price", 10))``.

    As a pattern for :meth:`BDIAgent.wait`, ``content`` may use :data:`Any`.
    ``error`` is the exception behind a ``failure`` event.
    """

    trigger: Trigger
    content: Belief | Goal
    error: BaseException | None = attrs.field(default=None, eq=False)

    def __repr__(self) -> str:
        return f"{self.trigger.value} {self.content!r}"


def _same(pattern: _Any, value: _Any) -> bool:
    if pattern == value or type(pattern) is Wildcard:
        return True
    if type(pattern) is tuple and type(value) is tuple and len(pattern) == len(value):
        # PERF: a loop, not all() over a generator (matches is called per item)
        for p, v in zip(pattern, value):  # noqa: B905, SIM110 - same length, checked above
            if not _same(p, v):
                return False
        return True
    return False


def matches(pattern: Belief | Goal, item: Belief | Goal) -> bool:
    """Whether ``item`` matches ``pattern``: same kind, name and arity, each argument
    equal or a wildcard, and the same source unless the pattern's is None."""
    if type(pattern) is not type(item) or pattern.name != item.name:
        return False
    if pattern.source is not None and pattern.source != item.source:
        return False
    pargs, args = pattern.args, item.args
    if len(pargs) != len(args):
        return False
    if pargs == args:
        return True
    for p, v in zip(pargs, args):  # noqa: B905, SIM110 - same length; a loop is faster
        if not _same(p, v):
            return False
    return True


def bindings(pattern: Belief | Goal, item: Belief | Goal) -> tuple[_Any, ...]:
    """The values of ``item`` where ``pattern`` has wildcards, in order."""
    found: list[_Any] = []

    def collect(p: _Any, v: _Any) -> None:
        if type(p) is Wildcard:
            found.append(v)
        elif type(p) is tuple and type(v) is tuple:
            for pp, vv in zip(p, v, strict=True):
                collect(pp, vv)

    for p, v in zip(pattern.args, item.args, strict=True):
        collect(p, v)
    return tuple(found)


def event_matches(pattern: Event, event: Event) -> bool:
    """Whether ``event`` matches the event pattern ``pattern``."""
    return pattern.trigger is event.trigger and matches(pattern.content, event.content)

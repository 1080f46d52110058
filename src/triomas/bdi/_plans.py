"""Plans: the ``@plan`` decorator, the plan library's index, and teachable plans."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, final

import attrs

from .._agent.handlers import can_suspend
from .._messages.message import message
from ._match import Matcher, compile_pattern
from ._terms import Belief, Goal, Trigger, Wildcard, normalize

if TYPE_CHECKING:
    from ._cycle import ReasoningCycle

F = TypeVar("F", bound=Callable[..., Any])
Context = Belief | Goal | Callable[[Any], bool]
"""One condition of a plan's context: a pattern that must match a belief (or a
goal the agent holds), or a predicate called with the agent."""

_GAIN, _LOSE, _TEST = Trigger.GAIN, Trigger.LOSE, Trigger.TEST
_PLAN_TRIGGERS = (_GAIN, _LOSE, _TEST)


@final
@attrs.frozen(slots=True)
class Plan:
    """A plan as the library holds it: when it is relevant, when applicable, what runs.

    ``body(agent, source, *values)`` is called with the trigger's source and the
    values the wildcards of the trigger and of each context pattern matched.
    ``source`` is ``"self"`` for plans of the agent's own class and the teacher's
    name for plans learnt by ``TellHow``. With ``whole_context`` (MASPY's binding,
    under ``maspy_compat``), each context pattern with wildcards gives one value
    instead: the matched belief's argument, or the tuple of its arguments if it has
    several.
    """

    trigger: Trigger
    pattern: Belief | Goal
    context: tuple[Context, ...]
    body: Callable[..., Any]
    label: str
    exclusive: bool = False
    source: str = "self"
    whole_context: bool = False
    is_async: bool = attrs.field(init=False)
    suspends: bool = attrs.field(init=False)
    match: Matcher = attrs.field(init=False, eq=False, repr=False)
    """The trigger's pattern compiled: the values it binds in a relevant item, or None."""
    checks: tuple[tuple[Belief | Goal, Matcher] | Callable[[Any], bool], ...] = attrs.field(
        init=False, eq=False, repr=False
    )
    """The context: each pattern with its compiled matcher, each predicate as it is."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "is_async", inspect.iscoroutinefunction(self.body))
        object.__setattr__(self, "suspends", can_suspend(self.body))
        object.__setattr__(self, "match", compile_pattern(self.pattern))
        object.__setattr__(
            self,
            "checks",
            tuple(
                (c, compile_pattern(c)) if isinstance(c, (Belief, Goal)) else c
                for c in self.context
            ),
        )

    def holds(self, agent: ReasoningCycle, values: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """The plan's arguments if its context holds, else None: ``values`` (what
        :attr:`match` found in the trigger) and the context's."""
        for check in self.checks:
            if not isinstance(check, tuple):
                if not check(agent):
                    return None
                continue
            condition, match = check
            found = agent._finding(condition, match)  # noqa: SLF001 - its agent's beliefs
            if found is None:
                return None
            item, bound = found
            if not self.whole_context:
                values += bound
            elif bound:  # a pattern with wildcards gives one value, MASPY's
                values += (item.args[0] if len(item.args) == 1 else item.args,)
        return values

    def arity(self) -> int:
        """How many values the body is called with after the source."""
        context = (c for c in self.context if isinstance(c, (Belief, Goal)))
        if self.whole_context:
            return wildcards(self.pattern) + sum(1 for c in context if wildcards(c))
        return wildcards(self.pattern) + sum(wildcards(c) for c in context)

    def check(self, owner: str) -> None:
        """Raise :exc:`TypeError` now if the body cannot take the values it will be
        called with (rather than fail in a log line when the plan first runs)."""
        try:
            signature = inspect.signature(self.body)
        except (TypeError, ValueError):
            return  # a callable inspect cannot read: it is tried as is
        n = self.arity()
        try:
            signature.bind(*([None] * (n + 2)))
        except TypeError:
            names = ", ".join(["self", "src", *(f"v{i}" for i in range(1, n + 1))])
            raise TypeError(
                f"plan {owner}.{self.label} does not fit its trigger {self.pattern!r}"
                f"{_context_text(self.context)}: it is called with the source and {n} "
                f"value{'' if n == 1 else 's'} (one per wildcard"
                f"{', and one per context pattern with wildcards' if self.whole_context else ''}"
                f"), so declare it as def {self.label}({names}), not {self.label}{signature}"
            ) from None

    def call(self, agent: ReasoningCycle, source: str | None, values: tuple[Any, ...]) -> Any:
        """Start the body: its result, or an awaitable of it."""
        return self.body(agent, source, *values)


@final
@attrs.frozen(slots=True)
class _Declared:
    trigger: Trigger
    pattern: Belief | Goal
    context: tuple[Context, ...]
    exclusive: bool


def plan(
    trigger: Trigger,
    pattern: Belief | Goal,
    context: Context | Sequence[Context] = (),
    *,
    exclusive: bool = False,
) -> Callable[[F], F]:
    """Declare a method as a plan for ``trigger`` (``gain``, ``lose`` or ``test``)
    of a belief or goal matching ``pattern``.

    ``context`` is one condition or a sequence of them, all of which must hold
    when the event is selected. The method is called as
    ``method(self, source, *values)``: ``values`` are what the wildcards of the
    trigger matched, then those of each context pattern, in order. It may be
    plain or ``async``; what it returns is the result of the goal.

    An ``exclusive`` plan runs with no other intention of its agent interleaved
    (Jason's atomic plans). Plans are tried in declaration order, base classes
    first; the first applicable one runs.
    """
    if trigger not in _PLAN_TRIGGERS:
        raise ValueError(f"plans are declared on gain, lose or test, not {trigger.value}")
    if not isinstance(pattern, (Belief, Goal)):
        raise TypeError(f"a plan's trigger is a Belief or a Goal pattern, not {pattern!r}")
    conditions: tuple[Context, ...] = (
        (context,) if isinstance(context, (Belief, Goal)) or callable(context) else tuple(context)
    )
    for condition in conditions:
        if not (isinstance(condition, (Belief, Goal)) or callable(condition)):
            raise TypeError(
                f"a plan context is a Belief or Goal pattern or a callable: {condition!r}"
            )

    def decorate(fn: F) -> F:
        declared: list[_Declared] = list(getattr(fn, "__triomas_plans__", ()))
        declared.append(_Declared(trigger, pattern, conditions, exclusive))
        fn.__triomas_plans__ = declared  # type: ignore[attr-defined]
        return fn

    return decorate


def _context_text(context: tuple[Context, ...]) -> str:
    patterns = [repr(c) for c in context if isinstance(c, (Belief, Goal))]
    return f" and context {', '.join(patterns)}" if patterns else ""


def wildcards(pattern: Belief | Goal) -> int:
    """How many values the wildcards of ``pattern`` bind (nested ones included)."""

    def count(value: Any) -> int:
        if type(value) is Wildcard:
            return 1
        if type(value) is tuple:
            return sum(count(v) for v in value)
        return 0

    return sum(count(v) for v in pattern.args)


def declared_plans(cls: type) -> list[Plan]:
    """The plans of ``cls``, in declaration order, base classes first; each checked
    against its method's signature (:exc:`TypeError` if they do not fit).

    A plan binds its context by the convention of the class that declares it (MASPY's
    if that class has ``maspy_compat``), so a subclass that sets the flag does not
    change how inherited plans are called."""
    found: dict[str, list[Plan]] = {}
    for klass in reversed(cls.__mro__):
        whole = bool(getattr(klass, "maspy_compat", False))
        for name, value in vars(klass).items():
            declared = getattr(value, "__triomas_plans__", None)
            if declared is not None:
                label = _TEACHABLE_NAMES.get(value, name)
                found[name] = [
                    Plan(d.trigger, d.pattern, d.context, value, label, d.exclusive, "self", whole)
                    for d in declared
                ]
                for p in found[name]:
                    p.check(klass.__qualname__)
            elif name in found:
                del found[name]  # overridden by something that is not a plan
    return [p for plans in found.values() for p in plans]


@final
class PlanLibrary:
    """The plans of one agent, indexed by trigger, kind and name, in order.

    The index is one dict per trigger and kind, keyed by name (PERF: no tuple key and
    no hash of the trigger, an enum, per event; bdi_tell_* in benchmarks/run.py).
    """

    __slots__ = (
        "gain_beliefs",
        "gain_goals",
        "learnt",
        "lose_beliefs",
        "lose_goals",
        "test_beliefs",
        "test_goals",
    )

    def __init__(self, plans: Sequence[Plan]) -> None:
        self.gain_beliefs: dict[str, list[Plan]] = {}
        """The plans for ``gain`` of a belief, by its name (the cycle's common case)."""
        self.gain_goals: dict[str, list[Plan]] = {}
        self.lose_beliefs: dict[str, list[Plan]] = {}
        self.lose_goals: dict[str, list[Plan]] = {}
        self.test_beliefs: dict[str, list[Plan]] = {}
        self.test_goals: dict[str, list[Plan]] = {}
        self.learnt: list[Plan] = []
        for p in plans:
            self._add(p)

    def _table(self, trigger: Trigger, goal: bool) -> dict[str, list[Plan]] | None:
        if trigger is _GAIN:
            return self.gain_goals if goal else self.gain_beliefs
        if trigger is _LOSE:
            return self.lose_goals if goal else self.lose_beliefs
        if trigger is _TEST:
            return self.test_goals if goal else self.test_beliefs
        return None  # success, failure and dropped have no plans

    def _add(self, p: Plan) -> None:
        table = self._table(p.trigger, type(p.pattern) is Goal)
        assert table is not None  # @plan and plan_from_spec accept only plan triggers
        table.setdefault(p.pattern.name, []).append(p)

    def candidates(self, trigger: Trigger, content: Belief | Goal) -> Sequence[Plan]:
        """The plans for ``trigger`` of ``content``'s kind and name, in order; the
        relevant ones among them are those whose pattern matches (``Plan.match``)."""
        table = self._table(trigger, type(content) is Goal)
        if table is None:
            return ()
        return table.get(content.name, ())

    def relevant(self, trigger: Trigger, content: Belief | Goal) -> list[Plan]:
        """The plans whose trigger matches, in order."""
        return [p for p in self.candidates(trigger, content) if p.match(content) is not None]

    def learn(self, p: Plan) -> bool:
        """Add a plan taught by another agent; False if it is known already."""
        for known in self.learnt:
            if known.label == p.label and known.source == p.source:
                return False
        self.learnt.append(p)
        self._add(p)
        return True

    def forget(self, label: str, source: str) -> int:
        """Remove the plans labelled ``label`` that ``source`` taught; how many."""
        gone = [p for p in self.learnt if p.label == label and p.source == source]
        for p in gone:
            self.learnt.remove(p)
            table = self._table(p.trigger, type(p.pattern) is Goal)
            assert table is not None
            table[p.pattern.name].remove(p)
        return len(gone)


# ---- plans that travel by name ---------------------------------------------------------


@final
@message(tag="bdi.PlanSpec")
class PlanSpec:
    """A plan as it travels in ``TellHow`` and ``AskHow`` answers: never code.

    ``name`` refers to a body registered with :func:`teachable`; the receiver runs
    its own copy of that code, and refuses names it does not know.
    """

    name: str
    trigger: str
    pattern: Any
    context: Any = ()


_TEACHABLE: dict[str, Callable[..., Any]] = {}
_TEACHABLE_NAMES: dict[Callable[..., Any], str] = {}


def teachable(name: str) -> Callable[[F], F]:
    """Register a plan under ``name`` so that ``TellHow`` may teach it.

    Put it above ``@plan`` on a method, or on a plain function
    ``fn(agent, source, *values)`` to be taught with :func:`plan_spec`. Only the
    patterns of its context travel, so a teachable plan has no callable context.
    """

    def decorate(fn: F) -> F:
        for d in getattr(fn, "__triomas_plans__", ()):
            if any(callable(c) and not isinstance(c, (Belief, Goal)) for c in d.context):
                raise TypeError(f"plan {name!r} has a callable context: it cannot be taught")
        old = _TEACHABLE.get(name)
        if old is not None and _origin(old) != _origin(fn):
            raise ValueError(f"a plan is already registered as teachable under {name!r}")
        _TEACHABLE[name] = fn
        _TEACHABLE_NAMES[fn] = name
        return fn

    return decorate


def _origin(fn: Callable[..., Any]) -> tuple[str, str]:
    return (getattr(fn, "__module__", ""), getattr(fn, "__qualname__", ""))


def plan_spec(
    name: str,
    trigger: Trigger,
    pattern: Belief | Goal,
    context: Sequence[Belief | Goal] = (),
) -> PlanSpec:
    """The description of a teachable plan, for ``TellHow``."""
    if name not in _TEACHABLE:
        raise KeyError(f"no plan is registered as teachable under {name!r}")
    return PlanSpec(name, trigger.value, pattern, tuple(context))


def specs_of(plans: Sequence[Plan]) -> list[PlanSpec]:
    """The travelling form of those ``plans`` that are teachable."""
    return [
        PlanSpec(p.label, p.trigger.value, p.pattern, tuple(p.context))
        for p in plans
        if _TEACHABLE.get(p.label) is p.body
    ]


def plan_from_spec(spec: PlanSpec, source: str) -> Plan:
    """The plan a ``TellHow`` from ``source`` describes; :exc:`LookupError` if its
    name is not registered here, :exc:`ValueError` if the description is malformed."""
    body = _TEACHABLE.get(spec.name)
    if body is None:
        raise LookupError(f"plan {spec.name!r} is not registered as teachable here")
    try:
        trigger = Trigger(spec.trigger)
    except ValueError:
        raise ValueError(f"plan {spec.name!r} has an unknown trigger {spec.trigger!r}") from None
    if trigger not in _PLAN_TRIGGERS or not isinstance(spec.pattern, (Belief, Goal)):
        raise ValueError(f"plan {spec.name!r} has a malformed trigger")
    context = tuple(spec.context)
    if not all(isinstance(c, (Belief, Goal)) for c in context):
        raise ValueError(f"plan {spec.name!r} has a malformed context")
    return Plan(
        trigger,
        normalize(spec.pattern),
        tuple(normalize(c) for c in context),
        body,
        spec.name,
        source=source,
    )


async def finish(result: Any) -> Any:
    """Await ``result`` if it is awaitable."""
    if isinstance(result, Awaitable):
        return await result
    return result

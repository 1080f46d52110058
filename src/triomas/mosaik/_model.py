"""Agent classes as mosaik models: what each declares, and the ``Inputs`` message a step
hands an entity."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeAlias, final

import attrs

from .._agent.agent import Agent
from .._messages.message import message
from .._runtime.container import Container

SimType: TypeAlias = Literal["time-based", "event-based", "hybrid"]
"""How mosaik steps the simulator: at a fixed step size, only when an input triggers it or
it asked to be stepped, or both (see docs/mosaik.md)."""

SIM_TYPES: tuple[SimType, ...] = ("time-based", "event-based", "hybrid")

POST_MODEL = "Post"
"""The name of the model of a container's post entity (``Simulator(post=True)``)."""

# A model parameter goes to the agent's __init__ through Container.spawn, whose own
# keywords it must not shadow.
_SPAWN_KEYWORDS = frozenset(
    name
    for name, p in inspect.signature(Container.spawn).parameters.items()
    if p.kind is inspect.Parameter.KEYWORD_ONLY
)
# mosaik refuses models named as its own methods.
_MOSAIK_METHODS = frozenset(
    {"init", "create", "setup_done", "step", "get_data", "finalize", "stop"}
)


@message(tag="mosaik.Inputs")
class Inputs:
    """What mosaik hands an entity in a step: ``values[attr][source] = value``.

    ``source`` is the full id (``"sid.eid"``) of the entity the value comes from; an
    input can have several sources (loads of many consumers on one node), and the
    model decides how they combine. ``tick`` is mosaik's step time in ticks, ``time``
    the same in clock seconds (``tick * time_resolution``).
    """

    tick: int
    time: float
    values: Mapping[str, Mapping[str, Any]]

    def get(self, attr: str) -> Mapping[str, Any]:
        """The values of ``attr`` by source (empty if none came)."""
        return self.values.get(attr, {})

    def sum(self, attr: str) -> Any:
        """The values of ``attr`` added up (0 if none came)."""
        return sum(self.get(attr).values())

    def first(self, attr: str, default: Any = None) -> Any:
        """The value of ``attr`` from its first source, or ``default`` if none came."""
        return next(iter(self.get(attr).values()), default)


def _names(names: Iterable[str]) -> tuple[str, ...]:
    if isinstance(names, str):
        raise TypeError(f"a list of attribute names, not the string {names!r}")
    return tuple(names)


def _some_names(names: Iterable[str] | None) -> tuple[str, ...] | None:
    return None if names is None else _names(names)


@final
@attrs.frozen
class Model:
    """An agent class as a mosaik model: each entity mosaik creates is one agent.

    ``inputs`` are the attributes mosaik may send the entity: they arrive as one
    :class:`Inputs` message per step. ``outputs`` are attributes of the agent object,
    read when mosaik asks for data. ``params`` are the keyword arguments ``create``
    may pass to the agent's ``__init__`` (by default, the parameters ``__init__``
    declares). ``name`` is the model's name in mosaik (default: the class name).

    For a hybrid or event-based simulator: ``trigger``, the inputs whose arrival
    makes mosaik step it (default: all of them; ``()`` makes every input a
    measurement, read at the next step); ``non_persistent``, the outputs that are
    events rather than values (each is reported once, when it is not None, and then
    set back to None); in an event-based simulator every output is an event.
    ``any_inputs`` lets mosaik connect any attribute as an input. ``every_step``
    hands the entity an :class:`Inputs` message at every step, an empty one if
    nothing came. ``public=False`` hides the model from the scenario.
    """

    agent: type[Agent]
    inputs: tuple[str, ...] = attrs.field(default=(), converter=_names)
    outputs: tuple[str, ...] = attrs.field(default=(), converter=_names)
    params: tuple[str, ...] | None = attrs.field(default=None, converter=_some_names)
    name: str | None = None
    trigger: tuple[str, ...] | None = attrs.field(default=None, converter=_some_names)
    non_persistent: tuple[str, ...] = attrs.field(default=(), converter=_names)
    any_inputs: bool = False
    every_step: bool = False
    public: bool = True

    def __attrs_post_init__(self) -> None:
        if not (isinstance(self.agent, type) and issubclass(self.agent, Agent)):
            raise TypeError(f"a mosaik model is an Agent subclass, not {self.agent!r}")
        name = self.model_name
        if not name.isidentifier() or name in _MOSAIK_METHODS:
            raise ValueError(f"{name!r} cannot name a mosaik model")
        for what, names in (("input", self.inputs), ("output", self.outputs)):
            for attr in names:
                if not isinstance(attr, str) or not attr:
                    raise ValueError(f"model {name}: an {what} is a non-empty name, not {attr!r}")
        _subset(name, "trigger", self.trigger or (), "inputs", self.inputs)
        _subset(name, "non_persistent", self.non_persistent, "outputs", self.outputs)
        clash = sorted(set(self.param_names) & _SPAWN_KEYWORDS)
        if clash:
            raise ValueError(
                f"model {name}: parameters {clash} are keywords of Container.spawn; "
                "rename them in the agent's __init__"
            )

    @property
    def model_name(self) -> str:
        """The model's name in mosaik."""
        return self.name if self.name is not None else self.agent.__name__

    @property
    def param_names(self) -> tuple[str, ...]:
        """The parameters ``create`` may pass (declared, or read from ``__init__``)."""
        if self.params is not None:
            return self.params
        init = self.agent.__init__
        if init is object.__init__:
            return ()
        return tuple(
            name
            for name, p in list(inspect.signature(init).parameters.items())[1:]
            if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        )

    def triggers(self) -> tuple[str, ...]:
        """The inputs that trigger a step (hybrid and event-based simulators)."""
        return self.inputs if self.trigger is None else self.trigger

    def events(self, kind: SimType) -> frozenset[str]:
        """The outputs reported as events by a simulator of ``kind``."""
        if kind == "event-based":
            return frozenset(self.outputs)
        return frozenset(self.non_persistent)

    def check(self, kind: SimType) -> None:
        """Refuse what mosaik would refuse of a model in a simulator of ``kind``."""
        if kind == "time-based" and self.non_persistent:
            raise ValueError(
                f"model {self.model_name}: a time-based simulator has no non-persistent "
                "outputs (use a hybrid one)"
            )
        if kind == "time-based" and self.trigger:
            raise ValueError(
                f"model {self.model_name}: a time-based simulator has no trigger inputs "
                "(use a hybrid one)"
            )
        if (
            kind == "event-based"
            and self.trigger is not None
            and set(self.trigger) != set(self.inputs)
        ):
            raise ValueError(
                f"model {self.model_name}: every input of an event-based simulator triggers "
                "(use a hybrid one for measurements)"
            )

    def meta(self, kind: SimType) -> dict[str, Any]:
        """The model's entry in the simulator's meta."""
        entry: dict[str, Any] = {
            "public": self.public,
            "params": list(self.param_names),
            "attrs": list(dict.fromkeys([*self.inputs, *self.outputs])),
        }
        if self.any_inputs:
            entry["any_inputs"] = True
        if kind == "hybrid":
            entry["trigger"] = list(self.triggers())
            entry["non-persistent"] = list(self.non_persistent)
        return entry


def _subset(
    model: str, what: str, names: Iterable[str], whole: str, allowed: tuple[str, ...]
) -> None:
    extra = sorted(set(names) - set(allowed))
    if extra:
        raise ValueError(f"model {model}: {what} {extra} are not among its {whole}")


def as_model(item: Model | type[Agent]) -> Model:
    """``item`` as a :class:`Model` (an agent class alone is a model with no attributes)."""
    return item if isinstance(item, Model) else Model(item)


def post_meta(kind: SimType) -> dict[str, Any]:
    """The meta of the ``Post`` model: messages in on ``inbox``, out on ``outbox``."""
    entry: dict[str, Any] = {"public": True, "params": [], "attrs": ["inbox", "outbox"]}
    if kind == "hybrid":
        entry["trigger"] = ["inbox"]
        entry["non-persistent"] = ["outbox"]
    return entry

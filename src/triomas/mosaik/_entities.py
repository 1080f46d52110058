"""mosaik's entities on the container's side: an agent each, or the container's post.

An entity checks a step's inputs before anything runs (so a bad one fails that step
alone), hands them over when the step's time comes, and answers ``get_data``: a
persistent output is reported at every ``get_data``, an event (non-persistent output)
only when it is not None, after which it is set back to None.
"""

from __future__ import annotations

import copy
from typing import Any, Protocol, final

from .._agent.agent import Agent
from .._runtime.container import Container
from ._model import Inputs, Model, SimType
from ._post import Post


class Entity(Protocol):
    """What the session needs of one entity."""

    eid: str
    outputs: tuple[str, ...]

    def prepare(self, values: Any, tick: int, time: float) -> object:
        """The step's inputs for this entity, checked: what :meth:`deliver` hands over."""
        ...

    def deliver(self, prepared: object) -> None:
        """Hand over what :meth:`prepare` made (when the step's time has come)."""
        ...

    def empty(self, tick: int, time: float) -> object | None:
        """What to hand over in a step with no inputs for this entity, if anything."""
        ...

    def peek(self, attr: str) -> Any:
        """The output's value now, for a comparison (a copy of a list or a dict)."""
        ...

    def persistent(self, attr: str) -> bool:
        """Whether output ``attr`` is a value (reported every time) or an event."""
        ...

    def check(self, attr: str) -> None:
        """Refuse an output that cannot be read (before any is: an event read is reset)."""
        ...

    def read(self, attr: str) -> tuple[bool, Any]:
        """Whether to report ``attr`` now, and its value (an event is reset)."""
        ...


@final
class AgentEntity:
    """An entity that is an agent of the container: inputs arrive as :class:`Inputs`
    messages, outputs are read from the agent's attributes."""

    __slots__ = ("attrs", "container", "eid", "events", "inputs", "model", "outputs")

    def __init__(self, container: Container, eid: str, model: Model, kind: SimType) -> None:
        self.container = container
        self.eid = eid
        self.model = model
        self.inputs = None if model.any_inputs else frozenset(model.inputs)
        self.outputs = model.outputs
        self.attrs = frozenset(model.inputs) | frozenset(model.outputs)
        self.events = model.events(kind)

    def prepare(self, values: Any, tick: int, time: float) -> object:
        if not isinstance(values, dict) or not all(
            isinstance(sources, dict) for sources in values.values()
        ):
            raise ValueError(f"the inputs of {self.eid} must be {{attr: {{source: value}}}}")
        if self.inputs is not None:
            unknown = sorted(set(values) - self.inputs)
            if unknown:
                raise ValueError(
                    f"{unknown} are no inputs of {self.eid} (model {self.model.model_name} "
                    f"takes {sorted(self.inputs)})"
                )
        return Inputs(tick, time, values)

    def deliver(self, prepared: object) -> None:
        self.container.send(self.eid, prepared)

    def empty(self, tick: int, time: float) -> object | None:
        return Inputs(tick, time, {}) if self.model.every_step else None

    def agent(self) -> Agent:
        """The entity's agent (the incarnation alive now)."""
        try:
            return self.container.agent(self.eid)
        except LookupError:
            raise LookupError(f"entity {self.eid} has no agent any more: it stopped") from None

    def peek(self, attr: str) -> Any:
        value = getattr(self.agent(), attr, None)
        # An output changed in place would look the same as before: compare a copy.
        return copy.deepcopy(value) if isinstance(value, list | dict | set) else value

    def persistent(self, attr: str) -> bool:
        return attr not in self.events

    def check(self, attr: str) -> None:
        if attr not in self.attrs:
            raise ValueError(
                f"{attr!r} is no attribute of {self.eid} (model {self.model.model_name} has "
                f"{sorted(self.attrs)})"
            )
        agent = self.agent()
        if not hasattr(agent, attr):
            what = "an output" if attr in self.outputs else "an input"
            raise AttributeError(
                f"entity {self.eid}: its agent ({type(agent).__name__}) has no attribute "
                f"{attr!r}, {what} of model {self.model.model_name}"
            )

    def read(self, attr: str) -> tuple[bool, Any]:
        agent = self.agent()
        value = getattr(agent, attr)
        if attr in self.events:
            if value is None:
                return False, None
            setattr(agent, attr, None)
        return True, value


@final
class PostEntity:
    """The container's post as an entity: messages in on ``inbox``, out on ``outbox``."""

    __slots__ = ("eid", "event", "outputs", "post")

    def __init__(self, post: Post, eid: str, kind: SimType) -> None:
        self.post = post
        self.eid = eid
        self.outputs: tuple[str, ...] = ("outbox",)
        self.event = kind != "time-based"

    def prepare(self, values: Any, tick: int, time: float) -> object:
        if not isinstance(values, dict) or set(values) - {"inbox"}:
            raise ValueError(f"the post {self.eid} takes only the input 'inbox'")
        return self.post.parse_inbox(values.get("inbox", {}))

    def deliver(self, prepared: object) -> None:
        assert isinstance(prepared, list)
        self.post.deliver(prepared)

    def empty(self, tick: int, time: float) -> object | None:
        return None

    def peek(self, attr: str) -> Any:
        return len(self.post.outbox)

    def persistent(self, attr: str) -> bool:
        return not self.event

    def check(self, attr: str) -> None:
        if attr != "outbox":
            raise ValueError(f"the post {self.eid} has only the output 'outbox'")

    def read(self, attr: str) -> tuple[bool, Any]:
        if self.event and not self.post.outbox:
            return False, None
        return True, self.post.take()

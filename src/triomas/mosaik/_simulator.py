"""``Simulator``: a container of agents described as one mosaik simulator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, final

import attrs

from .._agent.agent import Agent
from .._messages.events import TraceRecord
from ._model import POST_MODEL, SIM_TYPES, Model, SimType, as_model, post_meta
from ._wire import MAX_FRAME

if TYPE_CHECKING:
    from ._inprocess import InProcess

API_VERSION = "3.0"
"""The version of mosaik's API this side speaks."""


def _methods(methods: Mapping[str, Callable[..., Any]]) -> dict[str, Callable[..., Any]]:
    return dict(methods)


def _models(items: Sequence[Model | type[Agent]]) -> tuple[Model, ...]:
    return tuple(as_model(item) for item in items)


@final
@attrs.frozen
class Simulator:
    """A container of agents as a mosaik simulator: which agent classes are its models,
    and how mosaik steps it.

    ``models``: :class:`Model` declarations, or bare agent classes. ``kind``:
    ``"time-based"`` (stepped every ``step_size`` ticks; the scenario may also pass
    ``step_size`` to ``world.start``), ``"hybrid"`` (stepped at 0, then when a trigger
    input arrives and when the next alarm of an agent is due) or ``"event-based"``
    (never at 0: only by triggers and the alarms set since). With ``run_ahead`` a
    hybrid or event-based simulator handles its own events up to mosaik's
    ``max_advance`` within one step, and stops at the first that changes an output:
    many internal events then cost one round trip to mosaik.

    ``seed`` and ``trace`` are the container's (see :func:`triomas.open_container`);
    ``address`` is its address (default ``local://<mosaik sim id>``). ``on_init`` is
    awaited as ``on_init(container, **sim_params)`` with the parameters the scenario
    passed to ``world.start`` (``step_size`` aside): it may spawn agents that are no
    entity. ``extra_methods`` are callable from the scenario, as
    ``fn(container, *args, **kwargs)`` (plain or async); their results go to mosaik.

    ``on_crash``: ``"fail"`` (a crash of any agent fails the mosaik call it happened
    in, which ends the World) or ``"supervise"`` (crashes are left to supervision; only
    an entity that stopped for good fails the call). ``post`` adds the model ``Post``:
    one entity per container through which messages to other containers travel as
    mosaik data (see docs/mosaik.md). ``max_frame`` bounds a frame from mosaik, in bytes.

    Calling a ``Simulator`` makes the object mosaik's ``python`` starter wants, so
    ``"python": "pkg.mod:sim"`` runs it in mosaik's own process.
    """

    models: tuple[Model, ...] = attrs.field(converter=_models)
    kind: SimType = "hybrid"
    step_size: int | None = None
    run_ahead: bool = True
    seed: int | str | None = None
    trace: Callable[[TraceRecord], object] | None = None
    address: str | None = None
    on_init: Callable[..., Awaitable[None]] | None = None
    extra_methods: Mapping[str, Callable[..., Any]] = attrs.field(factory=dict, converter=_methods)
    on_crash: Literal["fail", "supervise"] = "fail"
    post: bool = False
    max_frame: int = MAX_FRAME

    def __attrs_post_init__(self) -> None:
        if self.kind not in SIM_TYPES:
            raise ValueError(f"kind must be one of {list(SIM_TYPES)}, not {self.kind!r}")
        if self.on_crash not in ("fail", "supervise"):
            raise ValueError(f'on_crash must be "fail" or "supervise", not {self.on_crash!r}')
        if self.step_size is not None and (type(self.step_size) is not int or self.step_size < 1):
            raise ValueError(f"step_size must be a positive int, not {self.step_size!r}")
        if self.max_frame < 1:
            raise ValueError(f"max_frame must be positive, not {self.max_frame!r}")
        names: set[str] = set()
        for model in self.models:
            model.check(self.kind)
            if model.model_name in names:
                raise ValueError(f"two models are called {model.model_name}")
            names.add(model.model_name)
        if self.post and POST_MODEL in names:
            raise ValueError(f"post=True adds the model {POST_MODEL}; rename yours")
        for name in self.extra_methods:
            if not name.isidentifier() or name in names or name == POST_MODEL:
                raise ValueError(f"{name!r} cannot name an extra method")

    def model(self, name: str) -> Model:
        """The model called ``name``; :exc:`LookupError` if there is none."""
        for model in self.models:
            if model.model_name == name:
                return model
        known = [m.model_name for m in self.models] + ([POST_MODEL] if self.post else [])
        raise LookupError(f"no model {name!r} in this simulator (it has {known})")

    def meta(self) -> dict[str, Any]:
        """What ``init`` answers: the API version, the type, the models, the extra methods."""
        models = {model.model_name: model.meta(self.kind) for model in self.models}
        if self.post:
            models[POST_MODEL] = post_meta(self.kind)
        return {
            "api_version": API_VERSION,
            "type": self.kind,
            "models": models,
            "extra_methods": list(self.extra_methods),
        }

    def __call__(self) -> InProcess:
        """This simulator in mosaik's process, for its ``python`` starter (see
        docs/mosaik.md): the container runs in a thread of its own."""
        from ._inprocess import InProcess  # only the python starter needs it

        return InProcess(self)

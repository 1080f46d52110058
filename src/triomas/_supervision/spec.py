"""What a supervisor knows about a child: restart type, shutdown policy, backoff."""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from typing import Any, Literal, final

import attrs

from .._agent.agent import Agent
from .._agent.options import (
    LifeOptions,
    Overflow,
    Restart,
    check_capacity,
    check_restart,
    check_shutdown,
)
from .._messages.errors import ChildSpecError
from .._messages.ref import AgentRef

Strategy = Literal["one_for_one", "one_for_all", "rest_for_one"]
"""Which children a restart affects: the one that ended, all, or it and those after it."""

AutoShutdown = Literal["never", "any_significant", "all_significant"]
"""When a supervisor stops by itself because its significant children have ended."""

_KINDS = ("worker", "supervisor")


class Directive(enum.Enum):
    """What a supervisor's decider says to do about one exception of a child."""

    RESTART = "restart"
    """End the incarnation; the restart type and intensity decide what follows."""
    RESUME = "resume"
    """Keep the incarnation and its state; drop the message; no restart is counted."""
    STOP = "stop"
    """End the child for good, whatever its restart type."""
    ESCALATE = "escalate"
    """End the child and fail the supervisor at once."""


@final
@attrs.frozen
class ChildSpec:
    """One child of a :class:`Supervisor`: what to start and how to supervise it.

    ``id`` is the child's agent name (unique in the supervisor, stable across
    restarts). ``kind`` defaults to ``"supervisor"`` for :class:`Supervisor`
    subclasses, else ``"worker"``; ``shutdown`` defaults to 5 s for workers and
    ``inf`` for supervisors, as in OTP. ``restart`` defaults to ``"permanent"``.
    ``start_timeout`` bounds, in clock seconds, how long its ``setup()`` may take.
    ``capacity``, ``overflow`` and ``idle_timeout`` are as in ``Container.spawn``.
    """

    id: str
    cls: type[Agent]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)
    restart: Restart = "permanent"
    shutdown: float | None = None
    significant: bool = False
    kind: Literal["worker", "supervisor"] | None = None
    start_timeout: float = 5.0
    capacity: int | None = None
    overflow: Overflow = "block"
    idle_timeout: float | None = None

    def validated(self) -> ChildSpec:
        """This spec with its defaults filled in; :exc:`ChildSpecError` if invalid."""
        if not isinstance(self.id, str) or not self.id or "/" in self.id:
            raise ChildSpecError("id", f"must be a non-empty name without '/', not {self.id!r}")
        if not isinstance(self.cls, type):
            raise ChildSpecError("cls", f"must be an Agent subclass, not {self.cls!r}")
        check_restart(self.restart)
        kind = self.kind
        cls = self.cls
        if kind is None:
            kind = "supervisor" if cls._supervises else "worker"
        elif kind not in _KINDS:
            raise ChildSpecError("kind", f"must be 'worker' or 'supervisor', not {kind!r}")
        shutdown = self.shutdown
        if shutdown is None:
            shutdown = math.inf if kind == "supervisor" else 5.0
        check_shutdown(shutdown)
        if self.significant and self.restart == "permanent":
            raise ChildSpecError("significant", "a permanent child cannot be significant")
        check_capacity(self.capacity, self.overflow)
        if self.idle_timeout is not None and not self.idle_timeout > 0:
            raise ChildSpecError("idle_timeout", "must be None or a positive number of seconds")
        if not self.start_timeout > 0:
            raise ChildSpecError("start_timeout", "must be a positive number of seconds")
        return attrs.evolve(self, kind=kind, shutdown=float(shutdown))

    def options(self) -> LifeOptions:
        """The supervision options of the agent this spec starts."""
        assert self.shutdown is not None
        return LifeOptions(
            self.restart,
            self.shutdown,
            self.significant,
            self.capacity,
            self.overflow,
            self.idle_timeout,
        )


@final
@attrs.frozen
class Backoff:
    """Delays between restarts that grow with consecutive failures.

    The n-th consecutive failure waits ``min(max, min * 2**(n-1)) * (1 + U * random_factor)``
    with U uniform in [0, 1) from the run's seeded generator. A child that stayed up
    for ``reset_after`` seconds (default ``(min + max) / 2``) starts counting again.
    With backoff on, more than ``max_in_row`` consecutive failures escalate, instead
    of the restart window, which growing delays would keep from ever filling.
    """

    min: float
    max: float
    random_factor: float = 0.2
    reset_after: float | None = None
    max_in_row: int = 10

    def __attrs_post_init__(self) -> None:
        if not 0 < self.min <= self.max:
            raise ChildSpecError("backoff", "needs 0 < min <= max")
        if self.random_factor < 0:
            raise ChildSpecError("backoff", "random_factor must not be negative")
        if self.max_in_row < 0:
            raise ChildSpecError("backoff", "max_in_row must not be negative")

    @property
    def reset_time(self) -> float:
        """How long a child must stay up for its failures to stop counting."""
        return (self.min + self.max) / 2 if self.reset_after is None else self.reset_after

    def delay(self, in_row: int, rng: random.Random) -> float:
        """The delay before restart number ``in_row`` of a run of failures."""
        base = min(self.max, self.min * 2.0 ** (in_row - 1))
        if self.random_factor:
            base *= 1 + rng.random() * self.random_factor
        return base


Decider = Callable[[AgentRef, Exception], Directive]
"""A supervisor's ``decider``: what to do about one exception of a child."""

"""``triomas.run`` and the per-run defaults containers pick up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal, TypeVar, final

import attrs
import trio

from .._time.clock import Clock, RealClock

if TYPE_CHECKING:
    from .._messages.events import TraceRecord
    from .container import Container

T = TypeVar("T")

RunEnd = Literal["idle", "seconds", "iterations", "stopped", "paused", "until"]
"""Why a :meth:`Container.run` ended."""


@final
@attrs.define
class RunDefaults:
    """What the containers of one trio run share.

    The clock and seed they use unless told otherwise; the open containers by
    address, so that agents in one process reach each other's containers.
    """

    clock: Clock
    seed: int | str
    trace: Callable[[TraceRecord], object] | None = None
    progress: bool = False
    containers: int = 0
    open: dict[str, Container] = attrs.field(factory=dict)
    next_id: int = 0

    def new_id(self) -> int:
        """An id unique in this run, for reply slots and monitors (deterministic: a counter)."""
        self.next_id += 1
        return self.next_id

    def new_reply_id(self) -> str:
        """A reply id unique in this run."""
        return str(self.new_id())


_DEFAULTS: trio.lowlevel.RunVar[RunDefaults] = trio.lowlevel.RunVar("triomas_defaults")


def _fresh_seed() -> int:
    return random.SystemRandom().getrandbits(63)


def run_defaults() -> RunDefaults:
    """The defaults of the current trio run (a real clock and a fresh seed if unset)."""
    try:
        return _DEFAULTS.get()
    except LookupError:
        defaults = RunDefaults(RealClock(), _fresh_seed())
        _DEFAULTS.set(defaults)
        return defaults


def run(
    main: Callable[..., Awaitable[T]],
    *args: Any,
    clock: Clock | None = None,
    seed: int | str | None = None,
    trace: Callable[[TraceRecord], object] | None = None,
    progress: bool = False,
) -> T:
    """Run ``main(*args)`` under trio with this clock and seed as the run's defaults.

    ``clock`` defaults to a :class:`RealClock`; pass a :class:`VirtualClock` for
    deterministic simulated time. ``seed`` feeds every agent's ``self.random``;
    the same seed and inputs give the same run. ``trace``: the trace hook of the
    containers opened without one of their own (a :class:`TraceRecorder`, say).
    ``progress``: the containers' ``run(seconds=...)`` calls show a progress bar.
    """

    async def _main() -> T:
        _DEFAULTS.set(
            RunDefaults(
                clock if clock is not None else RealClock(),
                seed if seed is not None else _fresh_seed(),
                trace,
                progress,
            )
        )
        return await main(*args)

    return trio.run(_main)

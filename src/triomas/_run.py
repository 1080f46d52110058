"""``triomas.run`` and the per-run defaults containers pick up."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, final

import attrs
import trio

from ._clock import Clock, RealClock

T = TypeVar("T")


@final
@attrs.define
class RunDefaults:
    """What containers opened in this trio run use unless told otherwise."""

    clock: Clock
    seed: int | str
    containers: int = 0


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
) -> T:
    """Run ``main(*args)`` under trio with this clock and seed as the run's defaults.

    ``clock`` defaults to a :class:`RealClock`; pass a :class:`VirtualClock` for
    deterministic simulated time. ``seed`` feeds every agent's ``self.random``;
    the same seed and inputs give the same run.
    """

    async def _main() -> T:
        _DEFAULTS.set(
            RunDefaults(
                clock if clock is not None else RealClock(),
                seed if seed is not None else _fresh_seed(),
            )
        )
        return await main(*args)

    return trio.run(_main)

"""``open_container``: a container's life as an ``async with`` block."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from ._clock import Clock
from ._container import Container
from ._events import TraceRecord
from ._run import run_defaults


@asynccontextmanager
async def open_container(
    address: str | None = None,
    *,
    clock: Clock | None = None,
    seed: int | str | None = None,
    trace: Callable[[TraceRecord], object] | None = None,
    max_restarts: int = 3,
    period: float = 5.0,
    shutdown_timeout: float = math.inf,
) -> AsyncIterator[Container]:
    """Open a container; on exit its agents are stopped in reverse spawn order.

    ``address`` is None or ``local://name`` for an in-process container (TCP and
    unix transports come with the network layer). ``clock`` and ``seed`` default to
    those given to :func:`triomas.run` (else a real clock and a fresh seed).
    ``trace`` receives a :class:`TraceRecord` for every step worth recording.

    The container's root supervisor restarts the agents spawned on it (one for
    one); more than ``max_restarts`` restarts within ``period`` clock seconds make
    it give up: the body of the ``async with`` is cancelled, every agent is
    stopped, and :exc:`SupervisorEscalation` is raised here.

    On exit, agents stop in reverse spawn order, each within its own ``shutdown``;
    whatever is still running ``shutdown_timeout`` clock seconds after the stop
    began is cancelled at once, teardowns included.
    """
    defaults = run_defaults()
    defaults.containers += 1
    if address is None:
        address = f"local://c{defaults.containers}"
    elif not address.startswith("local://") or len(address) == len("local://"):
        raise ValueError(
            f"{address!r}: only local://name containers exist so far "
            "(tcp:// and unix:// arrive with the network layer)"
        )
    if address in defaults.open:
        raise ValueError(f"a container {address} is already open in this run")
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        container = Container(
            address,
            clock if clock is not None else defaults.clock,
            seed if seed is not None else defaults.seed,
            trace,
            nursery,
            defaults,
            max_restarts,
            period,
            shutdown_timeout,
        )
        defaults.open[address] = container
        try:
            with trio.CancelScope() as container._body_scope:
                yield container
        except BaseException as exc:
            body_error = exc
        container._body_scope = None
        try:
            with trio.CancelScope(shield=True):
                await container.stop()
        finally:
            container._closed = True
            del defaults.open[address]
        nursery.cancel_scope.cancel()
    if container._failure is not None:
        raise container._failure
    if body_error is not None:
        raise body_error

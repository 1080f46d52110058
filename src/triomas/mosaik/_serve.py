"""One simulator's life, whatever carries mosaik's calls: ``init`` opens the container,
the calls run one at a time, ``stop`` (or the end of the calls) closes it. All of it
happens in one task, which also reads and writes the connection and advances the
container's virtual time itself: no task switch between a frame, its handling and the
run it makes (a step of a small World costs one trio scheduler pass, the wait for
mosaik's next call)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from .._messages.errors import ProtocolError
from .._open import open_container
from .._time.clock import ExternalClock
from ._session import Requester, Session
from ._wire import Request

if TYPE_CHECKING:
    from ._simulator import Simulator

log = logging.getLogger("triomas.mosaik")


class Mosaik(Protocol):
    """mosaik's end, as the session sees it: its calls in, the answers out."""

    async def next_call(self) -> Request | None:
        """mosaik's next call, or None if it hung up."""
        ...

    async def ok(self, msg_id: int, value: Any) -> None:
        """Answer call ``msg_id`` with ``value``."""
        ...

    async def fail(self, msg_id: int, exc: BaseException) -> None:
        """Answer call ``msg_id`` with a failure that reports ``exc``."""
        ...


async def run_session(
    sim: Simulator, mosaik: Mosaik, requester: Requester, *, overlap: bool = True
) -> bool:
    """Serve mosaik's calls until ``stop``; False if they ended without one (the other
    side went away). A :exc:`ProtocolError` is not answered: it ends the connection.
    ``overlap``: whether a time-based simulator's work may run beside mosaik's (see
    ``Session.moved_on``)."""
    while (request := await mosaik.next_call()) is not None:
        if request.func == "stop":
            return True
        if request.func != "init":
            await mosaik.fail(request.id, ValueError(f"{request.func} before init"))
            continue
        try:
            sid, resolution, step_size, params = _init_args(sim, request)
        except (TypeError, ValueError) as exc:
            await mosaik.fail(request.id, exc)
            continue
        address = sim.address if sim.address is not None else f"local://{sid}"
        clock = ExternalClock()
        # shutdown_timeout=0: once mosaik has stopped, its time does not pass any more;
        # agents stop as far as they can without it, whatever waits on time is cancelled
        async with open_container(
            address, clock=clock, seed=sim.seed, trace=sim.trace, shutdown_timeout=0
        ) as c:
            session = Session(sim, c, clock, sid, resolution, step_size, requester, overlap)
            try:
                if sim.on_init is not None:
                    await sim.on_init(c, **params)
                    await session.run()
            except ProtocolError:
                raise
            except Exception as exc:
                await mosaik.fail(request.id, exc)
                return await _until_stop(mosaik)
            await mosaik.ok(request.id, sim.meta())
            while (call := await mosaik.next_call()) is not None:
                if call.func == "stop":
                    return True
                try:
                    result = await session.call(call.func, call.args, call.kwargs)
                except ProtocolError:
                    raise
                except Exception as exc:
                    await mosaik.fail(call.id, exc)
                else:
                    await mosaik.ok(call.id, result)
                    await session.moved_on(call.func)
        return False
    return False


async def _until_stop(mosaik: Mosaik) -> bool:
    while (request := await mosaik.next_call()) is not None:
        if request.func == "stop":
            return True
        await mosaik.fail(request.id, RuntimeError("the simulator failed to initialise"))
    return False


def _init_args(sim: Simulator, request: Request) -> tuple[str, float, int | None, dict[str, Any]]:
    """``init(sid, time_resolution=..., **sim_params)``: the sim id, the seconds of a tick,
    the step size, and the parameters left for ``on_init``."""
    if len(request.args) != 1 or not isinstance(request.args[0], str):
        raise TypeError(f"init takes the sim id, not {request.args!r}")
    sid = request.args[0]
    params = dict(request.kwargs)
    resolution = params.pop("time_resolution", 1.0)
    if isinstance(resolution, bool) or not isinstance(resolution, int | float) or resolution <= 0:
        raise ValueError(f"time_resolution must be a positive number, not {resolution!r}")
    step_size = params.pop("step_size", sim.step_size)
    if step_size is not None and (type(step_size) is not int or step_size < 1):
        raise ValueError(f"step_size must be a positive int, not {step_size!r}")
    if sim.kind == "time-based" and step_size is None:
        raise ValueError("a time-based simulator needs a step_size (Simulator or world.start)")
    if params and sim.on_init is None:
        raise TypeError(f"unexpected sim parameters {sorted(params)} (no on_init takes them)")
    if sim.address is None and "/" in sid:
        raise ValueError(f"sim id {sid!r} cannot name a container: give Simulator(address=)")
    return sid, float(resolution), step_size, params

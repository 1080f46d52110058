"""A simulator in mosaik's own process, for its ``python`` starter.

mosaik's ``python`` starter makes an object of the class it is given and calls its
methods in mosaik's asyncio loop; a method that is a generator may yield awaitables,
which mosaik awaits and sends back. The container runs under ``trio.run`` in a thread
of its own, and each call is handed to it. While the container answers, mosaik's thread
waits on a lock, so the two never run Python at once (a thread switch each way, no
fight for the GIL); only when an agent asks mosaik something during the call does the
method yield to mosaik's loop instead, which then runs mosaik's side of the request,
and the answer to the call comes through an asyncio future. Nothing needs
``mosaik_api_v3``: mosaik asks only for the methods.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import math
import threading
import traceback
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, final

import trio

from ._serve import run_session
from ._wire import Request

if TYPE_CHECKING:
    from ._simulator import Simulator

log = logging.getLogger("triomas.mosaik")

_JOIN_TIMEOUT = 10.0
"""Seconds ``finalize`` waits for the container to close."""


@final
class _Call:
    """One of mosaik's calls on its way: mosaik's thread waits on ``done``, unless the
    call ``switched`` to mosaik's loop (then ``future`` gets the answer)."""

    __slots__ = ("done", "error", "future", "switched", "value")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.done = threading.Event()
        self.future = future
        self.switched = False
        self.value: Any = None
        self.error: BaseException | None = None


@final
class InProcess:
    """A :class:`Simulator` as mosaik's ``python`` starter runs it (make one by calling
    the simulator): mosaik's calls go to its container, in a thread of its own."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.mosaik: Any = None
        """mosaik's remote (its ``get_progress`` and the rest), set by mosaik."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._send: trio.MemorySendChannel[Request] | None = None
        self._receive: trio.MemoryReceiveChannel[Request]
        self._answered: trio.Event
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._calls: dict[int, _Call] = {}
        self._active: _Call | None = None  # the call the container is answering
        self._next_id = 0
        self._failed: BaseException | None = None

    # ---- mosaik's API (generators: mosaik awaits what they yield, if anything) -----------

    def init(
        self, sid: str, time_resolution: float = 1.0, **sim_params: Any
    ) -> Generator[Any, Any, Any]:
        """mosaik's ``init``: start the container's thread, answer the meta."""
        kwargs = {"time_resolution": time_resolution, **sim_params}
        return (yield from self._call("init", [sid], kwargs))

    def create(self, num: int, model: str, **model_params: Any) -> Generator[Any, Any, Any]:
        """mosaik's ``create``."""
        return (yield from self._call("create", [num, model], model_params))

    def setup_done(self) -> Generator[Any, Any, Any]:
        """mosaik's ``setup_done``."""
        return (yield from self._call("setup_done", [], {}))

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> Generator[Any, Any, Any]:
        """mosaik's ``step``."""
        return (yield from self._call("step", [time, inputs, max_advance], {}))

    def get_data(self, outputs: dict[str, list[str]]) -> Generator[Any, Any, Any]:
        """mosaik's ``get_data``."""
        return (yield from self._call("get_data", [outputs], {}))

    def finalize(self) -> None:
        """mosaik's ``finalize``: close the container and wait for its thread."""
        thread = self._thread
        if thread is None:
            return
        if self._failed is None:
            self._submit(Request(-1, "stop", [], {}))
        thread.join(_JOIN_TIMEOUT)
        if thread.is_alive():
            log.warning("the container of %s did not close in %g s", self.sim, _JOIN_TIMEOUT)

    def __getattr__(self, name: str) -> Callable[..., Generator[Any, Any, Any]]:
        if name.startswith("_") or name not in self.sim.extra_methods:
            raise AttributeError(name)

        def extra(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
            return (yield from self._call(name, list(args), kwargs))

        return extra

    # ---- mosaik's thread -> the container ------------------------------------------------

    def _call(self, func: str, args: list[Any], kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start(loop)
        if self._failed is not None:
            raise RuntimeError(f"the container's thread failed: {self._failed!r}")
        call = _Call(loop.create_future())
        msg_id = self._next_id
        self._next_id += 1
        self._calls[msg_id] = call
        if not self._submit(Request(msg_id, func, args, kwargs)):
            del self._calls[msg_id]
            raise RuntimeError("the container's thread has ended")
        call.done.wait()  # the GIL is released meanwhile: the container runs
        if call.switched:  # an agent asks mosaik: its loop must run for the answer
            return (yield call.future)
        if call.error is not None:
            raise call.error
        return call.value

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._main, name="triomas-mosaik", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _submit(self, request: Request) -> bool:
        """Hand ``request`` to the container; False if its thread has ended."""
        assert self._token is not None
        assert self._send is not None
        try:
            self._token.run_sync_soon(self._send.send_nowait, request)
        except trio.RunFinishedError:
            return False
        return True

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # the thread's end: tell mosaik, not the void
            self._failed = exc
            log.error("the container of %s failed", self.sim, exc_info=exc)
        finally:
            self._ready.set()
            calls, self._calls = self._calls, {}
            for call in calls.values():
                self._answer(call, None, RuntimeError(f"the container ended: {self._failed!r}"))

    async def _serve(self) -> None:
        self._send, self._receive = trio.open_memory_channel[Request](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._answered = trio.Event()
        self._ready.set()
        async with self._receive:
            # overlap=False: a step's work could only run beside mosaik's in this same
            # interpreter, one thread at a time
            await run_session(self.sim, self, self, overlap=False)

    # ---- the container's side (the session's Mosaik and Requester) -----------------------

    async def next_call(self) -> Request | None:
        """mosaik's next call (``finalize`` sends ``stop``)."""
        try:
            request = await self._receive.receive()
        except trio.EndOfChannel:
            return None
        self._active = self._calls.get(request.id)
        return request

    async def ok(self, msg_id: int, value: Any) -> None:
        """Answer a call of mosaik's with ``value``."""
        self._answer(self._calls.pop(msg_id, None), value, None)

    async def fail(self, msg_id: int, exc: BaseException) -> None:
        """Answer a call of mosaik's with ``exc``, which mosaik raises."""
        self._answer(self._calls.pop(msg_id, None), None, exc)

    def _answer(self, call: _Call | None, value: Any, exc: BaseException | None) -> None:
        if call is None:
            return
        if call is self._active:
            self._active = None
        if not call.switched:
            call.value, call.error = value, exc
            call.done.set()
            return

        def settle() -> None:  # in mosaik's thread
            if call.future.done():
                return
            if exc is None:
                call.future.set_result(value)
            else:
                call.future.set_exception(exc)

        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
            self._loop.call_soon_threadsafe(settle)

    async def wait(self, until: Callable[[], bool]) -> None:
        """Wait until ``until()`` holds: the answers come from mosaik's loop."""
        while not until():
            await self._answered.wait()
            self._answered = trio.Event()

    def request(
        self,
        func: str,
        args: list[Any],
        kwargs: dict[str, Any],
        done: Callable[[bool, Any], object],
    ) -> None:
        """Run mosaik's remote ``func`` in its loop; ``done(ok, value)`` in this thread."""
        method = getattr(self.mosaik, func, None)
        if method is None or func.startswith("_"):
            done(False, ["AttributeError", f"mosaik has no request {func!r}", ""])
            return
        assert self._loop is not None
        assert self._token is not None
        token = self._token
        pending = asyncio.run_coroutine_threadsafe(method(*args, **kwargs), self._loop)
        active = self._active
        if active is not None and not active.switched:
            active.switched = True  # mosaik's thread stops waiting and lets its loop run
            active.done.set()

        def deliver(ok: bool, value: Any) -> None:  # in the container's thread
            done(ok, value)
            self._answered.set()

        def answered(result: concurrent.futures.Future[Any]) -> None:  # in mosaik's
            error = result.exception()
            if error is None:
                token.run_sync_soon(deliver, True, result.result())
            else:
                content = [
                    type(error).__name__,
                    str(error),
                    "".join(traceback.format_exception(error)),
                ]
                token.run_sync_soon(deliver, False, content)

        pending.add_done_callback(answered)

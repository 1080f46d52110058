"""A simulator in mosaik's own process, for its ``python`` starter.

mosaik's ``python`` starter makes an object of the class it is given and calls its
methods in mosaik's asyncio loop; a method that is a generator may yield awaitables,
which mosaik awaits and sends back. So each call here is queued to the container, which
runs under ``trio.run`` in a thread of its own, and yields an asyncio future the trio
side settles. The agents' requests to mosaik go the other way: a coroutine of mosaik's
remote run in its loop, the answer brought back to the trio thread. Nothing needs
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
class InProcess:
    """A :class:`Simulator` as mosaik's ``python`` starter runs it (make one by calling
    the simulator): mosaik's calls go to its container, in a thread of its own."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.mosaik: Any = None
        """mosaik's remote (its ``get_progress`` and the rest), set by mosaik."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._token: trio.lowlevel.TrioToken | None = None
        self._calls: trio.MemorySendChannel[Request] | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._futures: dict[int, asyncio.Future[Any]] = {}
        self._next_id = 0
        self._failed: BaseException | None = None

    # ---- mosaik's API (generators: mosaik awaits what they yield) ------------------------

    def init(
        self, sid: str, time_resolution: float = 1.0, **sim_params: Any
    ) -> Generator[Any, Any, Any]:
        """mosaik's ``init``: start the container's thread, answer the meta."""
        kwargs = {"time_resolution": time_resolution, **sim_params}
        return (yield self._call("init", [sid], kwargs))

    def create(self, num: int, model: str, **model_params: Any) -> Generator[Any, Any, Any]:
        """mosaik's ``create``."""
        return (yield self._call("create", [num, model], model_params))

    def setup_done(self) -> Generator[Any, Any, Any]:
        """mosaik's ``setup_done``."""
        return (yield self._call("setup_done", [], {}))

    def step(self, time: int, inputs: dict[str, Any], max_advance: int) -> Generator[Any, Any, Any]:
        """mosaik's ``step``."""
        return (yield self._call("step", [time, inputs, max_advance], {}))

    def get_data(self, outputs: dict[str, list[str]]) -> Generator[Any, Any, Any]:
        """mosaik's ``get_data``."""
        return (yield self._call("get_data", [outputs], {}))

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
            return (yield self._call(name, list(args), kwargs))

        return extra

    # ---- mosaik's loop -> the container --------------------------------------------------

    def _call(self, func: str, args: list[Any], kwargs: dict[str, Any]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        if self._thread is None:
            self._start(loop)
        fut: asyncio.Future[Any] = loop.create_future()
        if self._failed is not None:
            fut.set_exception(RuntimeError(f"the container's thread failed: {self._failed!r}"))
            return fut
        msg_id = self._next_id
        self._next_id += 1
        self._futures[msg_id] = fut
        self._submit(Request(msg_id, func, args, kwargs))
        return fut

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._thread = threading.Thread(target=self._main, name="triomas-mosaik", daemon=True)
        self._thread.start()
        self._ready.wait()

    def _submit(self, request: Request) -> None:
        assert self._token is not None
        assert self._calls is not None
        # if the container is gone, _main has failed what was waiting
        with contextlib.suppress(trio.RunFinishedError):
            self._token.run_sync_soon(self._calls.send_nowait, request)

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # the thread's end: tell mosaik, not the void
            self._failed = exc
            log.error("the container of %s failed", self.sim, exc_info=exc)
        finally:
            self._ready.set()
            if self._loop is not None:
                # if mosaik's loop is closed, nobody waits any more
                with contextlib.suppress(RuntimeError):
                    self._loop.call_soon_threadsafe(self._fail_waiting)

    async def _serve(self) -> None:
        send, receive = trio.open_memory_channel[Request](math.inf)
        self._token = trio.lowlevel.current_trio_token()
        self._calls = send
        self._ready.set()
        async with receive:
            await run_session(self.sim, receive, self, self)

    def _fail_waiting(self) -> None:
        futures, self._futures = self._futures, {}
        for fut in futures.values():
            if not fut.done():
                fut.set_exception(RuntimeError(f"the container's thread ended: {self._failed!r}"))

    # ---- the container -> mosaik's loop (Answers and Requester) --------------------------

    def ok(self, msg_id: int, value: Any) -> None:
        """Answer a call of mosaik's with ``value``."""
        self._settle(msg_id, value, None)

    def fail(self, msg_id: int, exc: BaseException) -> None:
        """Answer a call of mosaik's with ``exc``, which mosaik raises."""
        self._settle(msg_id, None, exc)

    def _settle(self, msg_id: int, value: Any, exc: BaseException | None) -> None:
        def settle() -> None:
            fut = self._futures.pop(msg_id, None)
            if fut is None or fut.done():
                return
            if exc is None:
                fut.set_result(value)
            else:
                fut.set_exception(exc)

        assert self._loop is not None
        self._loop.call_soon_threadsafe(settle)

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

        def answered(result: concurrent.futures.Future[Any]) -> None:
            error = result.exception()
            if error is None:
                token.run_sync_soon(done, True, result.result())
            else:
                content = [
                    type(error).__name__,
                    str(error),
                    "".join(traceback.format_exception(error)),
                ]
                token.run_sync_soon(done, False, content)

        pending.add_done_callback(answered)

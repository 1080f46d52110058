"""Dispatch: the routine that hands messages to handlers and answers asks, in both engines.

An activation (:func:`activation`) runs ``setup()``, then ``update()`` whenever work
waits; the default ``update()`` is :func:`dispatch_all`, whose inner loop is
:func:`drain_sync`. :func:`run_step` is a virtual-time step with no coroutine at all.
Every answer goes through the router's ``reply``, into the reply slot the request
carries. (A plain handler may also run in the asker's task: ``mailbox.handoff``.)

This module is the hot path of both schedulers; its tricks are marked ``PERF:``.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from time import perf_counter as _clock
from typing import TYPE_CHECKING, Any

import trio

from .._agent.handlers import Handler, complete
from .._messages.envelope import Envelope, tell_envelope
from .._messages.errors import CalleeDown
from .._messages.events import Shutdown
from .._time.task import Cancel
from .engine import RunState
from .lifecycle import Life

if TYPE_CHECKING:
    from .cell import Cell
    from .observer import Finish

log = logging.getLogger("triomas")

# PERF: module constants; a global lookup is cheaper than an enum attribute.
_IDLE = RunState.IDLE
_ACTIVE = RunState.ACTIVE
_NEW = Life.NEW
_RUNNING = Life.RUNNING


def is_fatal(exc: BaseException) -> bool:
    """Whether a BaseException from agent code ends the agent's whole tree, as
    ``KeyboardInterrupt`` and ``SystemExit`` do: any but the cancellations of trio and of
    the virtual engine (which are how the runtime itself stops agent code)."""
    return not isinstance(exc, (Cancel, trio.Cancelled, GeneratorExit))


async def _maybe_await(result: Awaitable[None] | None) -> None:
    if result is not None:
        await result


async def activation(cell: Cell, setup_result: Awaitable[None] | None = None) -> None:
    """Work the mailbox until it is empty (or the agent stops); shared by both engines.

    ``setup_result``: ``setup()`` was called already (see :func:`run_step`) and returned
    this awaitable, which is awaited first.
    """
    engine = cell.engine
    registry = cell.router.registry
    agent = cell.agent
    # Handler time is wall clock, taken in real time only: in virtual time the two
    # clock reads would cost a simulation step about 10 % (virtual ping-pong).
    timed = not engine.virtual
    try:
        if setup_result is not None:
            await setup_result
            if cell.exit_reason is None:
                registry.started(cell)
                cell.first_update = True
        elif cell.life is _NEW and cell.exit_reason is None:
            cell.enter_setup()
            await _maybe_await(agent.setup())
            if cell.exit_reason is None:
                registry.started(cell)
                cell.first_update = True
        while cell.exit_reason is None:
            if registry.paused:
                registry.park(cell)
                return
            if cell.first_update or cell.mailbox or agent.keep_awake:
                cell.first_update = False
                if timed:  # PERF: handler time is taken per batch, not per message
                    start = _clock()
                    try:
                        await update(cell)
                    finally:
                        cell.busy += _clock() - start
                else:
                    await update(cell)
                if not await engine.after_batch(cell):
                    return
            else:
                parking = engine.park(cell)
                if parking is None:
                    return
                await parking
    except BaseException as exc:
        failed(cell, exc)
    await cell.finish()


async def update(cell: Cell) -> None:
    """One ``update()``: the agent's own, or the default dispatch."""
    if cell.info.custom_update:
        cell.router.trace_event(cell.name, "update", "")
        await _maybe_await(cell.agent.update())
    else:
        await dispatch_all(cell)
    if cell.passivation is not None:
        cell.passivation.touch()


async def dispatch_all(cell: Cell) -> None:
    """The default ``update()``: hand each waiting message to its handler."""
    router = cell.router
    count = len(cell.mailbox)
    while count > 0:
        count, env, handler = drain_sync(cell, count)
        if cell.bound is not None:
            cell.bound.freed()
        if env is None or handler is None:
            return
        if router.trace is not None:
            router.trace_recv(cell, env)
        if handler.concurrent:
            cell.engine.start_task(cell, run_concurrent, (cell, handler, env))
            continue
        cell.current = env
        cell.handled += 1
        finish = None if router.observer is None else _observe(cell, env)
        try:
            if handler.wants_envelope:
                result = await handler.func(cell.agent, env.body, env)
            else:
                result = await handler.func(cell.agent, env.body)
        except BaseException as exc:
            if finish is not None:
                finish(exc)
            if not isinstance(exc, Exception):
                raise
            cell.current = None
            cell.crash(exc, env)
            return
        if finish is not None:
            finish(None)
        cell.current = None
        if env.reply_with is not None:
            router.reply(env, result)


def drain_sync(cell: Cell, count: int) -> tuple[int, Envelope | None, Handler | None]:
    """Handle the next ``count`` mailbox entries' messages whose handlers are plain (sync).

    Stops early at a message whose handler is async or concurrent, and returns it,
    taken from the mailbox, with its handler and the count left; else returns
    ``(0, None, None)``. This loop is the hot path of both schedulers.
    """
    # PERF: everything the loop reads is a local, the count of messages handled too.
    mailbox = cell.mailbox
    info = cell.info
    handlers = info.handlers
    agent = cell.agent
    router = cell.router
    plain = router.trace is None and router.observer is None  # no record, no span
    handled = 0
    while count > 0 and mailbox and cell.exit_reason is None:
        env = mailbox.popleft()
        if type(env) is Envelope:
            count -= 1
            body = env.body
            handler = handlers.get(type(body)) or info.lookup(type(body))
        else:  # a plain tell in three entries (see mailbox.accept_tell)
            count -= 3
            body = env
            sender = mailbox.popleft()
            sent_at = mailbox.popleft()
            handler = handlers.get(type(body)) or info.lookup(type(body))
            if handler is not None and handler.simple and plain:
                # PERF: the common case, with no envelope made (a tell is no ask: no
                # reply); live fan-out in benchmarks/run.py.
                handled += 1
                try:
                    handler.func(agent, body)
                except BaseException as exc:
                    failed(cell, exc)
                    break
                continue
            env = tell_envelope(body, sender, cell.ref, sent_at)
        if handler is None:
            router.no_handler(env)
            continue
        if handler.suspends or handler.concurrent:
            cell.handled += handled
            return count, env, handler
        # handle_one, inlined (PERF: a call less per message; virtual ping-pong)
        if router.trace is not None:
            router.trace_recv(cell, env)
        handled += 1
        finish = None if plain else _observe(cell, env)
        try:
            if handler.wants_envelope:
                result = handler.func(agent, body, env)
            else:
                result = handler.func(agent, body)
            if handler.is_async:  # an async def without await point: done in one step
                result = complete(result)
        except BaseException as exc:
            if finish is not None:
                finish(exc)
            failed(cell, exc, env)
            break
        if finish is not None:
            finish(None)
        if env.reply_with is not None:
            router.reply(env, result)
    cell.handled += handled
    return 0, None, None


def handle_one(cell: Cell, handler: Handler, env: Envelope) -> bool:
    """Hand ``env`` to its plain (sync) ``handler`` and answer it if it is an ask; False
    if the handler raised (the agent crashed, or its tree ends).

    PERF: a live ask to an idle agent is handled here straight from the asker's task
    (``mailbox.handoff``), with no mailbox in between (live ask in benchmarks/run.py).
    """
    router = cell.router
    if router.trace is not None:
        router.trace_recv(cell, env)
    cell.handled += 1
    finish = None if router.observer is None else _observe(cell, env)
    try:
        if handler.wants_envelope:
            result = handler.func(cell.agent, env.body, env)
        else:
            result = handler.func(cell.agent, env.body)
        if handler.is_async:  # an async def without await point: done in one step
            result = complete(result)
    except BaseException as exc:
        if finish is not None:
            finish(exc)
        failed(cell, exc, env)
        return False
    if finish is not None:
        finish(None)
    if env.reply_with is not None:
        router.reply(env, result)
    return True


def _observe(cell: Cell, env: Envelope) -> Finish | None:
    """Tell the container's observer, if any, that ``cell`` begins to handle ``env``."""
    observer = cell.router.observer
    return None if observer is None else observer.handling(cell.ref, type(cell.agent), env)


def _setup_in_step(cell: Cell) -> bool:
    """``setup()`` of a new cell, as :func:`activation` begins; False if a task goes on."""
    cell.enter_setup()
    try:
        result = cell.agent.setup()
        if result is not None:
            if not inspect.iscoroutine(result):
                # a plain setup() that returned some other awaitable: a task awaits it
                cell.run_state = _IDLE
                cell.engine.start_setup(cell, result)
                return False
            complete(result)  # an async def without an await point (ClassInfo.sync_setup)
    except BaseException as exc:
        failed(cell, exc)
    else:
        if cell.exit_reason is None:
            cell.router.registry.started(cell)
            cell.first_update = True
    return True


def run_step(cell: Cell) -> None:
    """One virtual-time step without a coroutine, for agents whose code is all sync.

    PERF: no coroutine and no task per step (virtual ping-pong in benchmarks/run.py).
    The first step of a new agent whose ``setup()`` cannot suspend runs it here too
    (what :func:`activation` does first), so that a simulation of many agents makes
    no coroutine to start each one (sim_100k_sends).
    """
    if cell.exit_reason is not None or cell.life is not _RUNNING:
        # PERF: a new agent's setup is looked for in here, off the path of every step
        if cell.life is _NEW and cell.exit_reason is None and not _setup_in_step(cell):
            return
        if cell.exit_reason is not None or cell.life is not _RUNNING:
            cell.run_state = _IDLE
            cell.engine.activate(cell)
            return
    registry = cell.router.registry
    if registry.paused:
        cell.run_state = _IDLE
        registry.park(cell)
        return
    cell.first_update = False
    if cell.info.custom_update:
        cell.router.trace_event(cell.name, "update", "")
        try:
            result = cell.agent.update()
            if result is not None:  # an async def without await point
                complete(result)
        except BaseException as exc:
            failed(cell, exc)
    else:
        # sync_ok: every handler is plain, so this drains the whole mailbox
        drain_sync(cell, len(cell.mailbox))
    if cell.bound is not None:
        cell.bound.freed()
    if cell.passivation is not None:
        cell.passivation.touch()
    cell.run_state = _IDLE
    if cell.exit_reason is not None or cell.agent.keep_awake or cell.mailbox:
        cell.engine.activate(cell)


async def run_concurrent(cell: Cell, handler: Handler, env: Envelope) -> None:
    """Body of the task of a ``concurrent=True`` handler: it may answer out of order."""
    finished = False
    error: BaseException | None = None
    cell.handled += 1
    start = 0.0 if cell.engine.virtual else _clock()
    finish = None if cell.router.observer is None else _observe(cell, env)
    try:
        if handler.wants_envelope:
            result = handler.func(cell.agent, env.body, env)
        else:
            result = handler.func(cell.agent, env.body)
        if handler.is_async:
            result = await result
        finished = True
    except Exception as exc:
        finished = True
        error = exc
        cell.crash(exc, env, interrupt=True)
        return
    except BaseException as exc:
        error = exc
        if not is_fatal(exc):
            raise
        finished = True
        cell.fail_fatal(exc)
        return
    finally:
        if start:
            cell.busy += _clock() - start
        if finish is not None:
            finish(error)
        if not finished and env.reply_with is not None:
            # cancelled with the incarnation: the caller learns at once
            reason = cell.exit_reason if cell.exit_reason is not None else Shutdown()
            cell.router.reply_error(env, CalleeDown(cell.ref.address, reason))
    if env.reply_with is not None:
        cell.router.reply(env, result)


async def run_extra(
    cell: Cell, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
) -> None:
    """Body of a task started beside the mailbox; its exception crashes the agent."""
    try:
        await fn(*args)
    except BaseException as exc:
        task_failed(cell, exc)


def task_failed(cell: Cell, exc: BaseException) -> None:
    """A task beside the mailbox raised ``exc``: the agent crashes, or its tree ends."""
    failed(cell, exc, None, interrupt=True)


def failed(
    cell: Cell, exc: BaseException, env: Envelope | None = None, *, interrupt: bool = False
) -> None:
    """Agent code raised ``exc`` (handling ``env``): an ``Exception`` crashes the agent,
    another ``BaseException`` ends its tree (:func:`is_fatal`); the runtime's own
    cancellations go on up."""
    if isinstance(exc, Exception):
        cell.crash(exc, env, interrupt=interrupt)
    elif is_fatal(exc):
        cell.fail_fatal(exc)
    else:
        raise exc

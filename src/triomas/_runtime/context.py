"""The cell's side of :class:`~triomas._agent.context.AgentContext`: what an agent asks of
its runtime, answered by the router, the registry, the supervision tree and the engine.

Each function here is a method of ``Cell`` (assigned in its class body; ``self`` is the
cell): this keeps the one-line delegations out of the cell's lifecycle code.
"""

from __future__ import annotations

from collections.abc import Awaitable, Coroutine
from typing import TYPE_CHECKING, Any

from .._messages.envelope import Envelope
from .._messages.events import ExitReason, MonitorRef
from .._messages.ref import AgentRef, as_ref
from . import dispatch
from . import watch as _watch
from .tree import Supervision

if TYPE_CHECKING:
    from .._agent.agent import Agent
    from .._agent.context import Recipient
    from .._agent.options import LifeOptions
    from .._supervision.spec import AutoShutdown, Backoff, Decider, Strategy
    from .._time.future import Future
    from .cell import Cell


# ---- identity and time ------------------------------------------------------------


def now(self: Cell) -> float:
    """The current clock time."""
    return self.engine.now()


def sleep_until(self: Cell, when: float) -> Coroutine[Any, Any, None]:
    """Sleep until clock time ``when``."""
    return self.engine.sleep_until(when)


def wait(self: Cell, fut: Future, deadline: float) -> Coroutine[Any, Any, bool]:
    """Wait for ``fut`` until clock time ``deadline``."""
    return self.engine.wait(fut, deadline)


def current_task(self: Cell) -> object:
    """The task running now, as the engine knows it."""
    return self.engine.current_task()


def trace(self: Cell, kind: str, payload: str) -> None:
    """Record a trace event of this agent."""
    self.router.trace_event(self.name, kind, payload)


def dispatch_waiting(self: Cell) -> Awaitable[None]:
    """The default ``update()``."""
    return dispatch.dispatch_all(self)


# ---- messages ---------------------------------------------------------------------


def send(
    self: Cell,
    to: Recipient,
    msg: Any,
    topic: str | None,
    direct: bool,
    performative: str | None,
    conversation_id: str | None,
    reply_with: str | None,
    in_reply_to: str | None,
    reply_by: float | None,
    fipa: tuple[str | None, str | None, str | None] | None,
) -> None:
    """A send with options."""
    self.router.send(
        self,
        to,
        msg,
        topic,
        direct,
        performative,
        conversation_id,
        reply_with,
        in_reply_to,
        reply_by,
        fipa,
    )


async def send_wait(
    self: Cell, to: Recipient, msg: Any, timeout: float | None, topic: str | None
) -> None:
    """A send that waits for room in a bounded mailbox."""
    await self.router.send_wait(self, to, msg, timeout, topic)


def reply(self: Cell, request: Envelope, value: Any) -> None:
    """Answer an ask by hand."""
    self.router.reply(request, value)


def reply_error(self: Cell, request: Envelope, error: BaseException) -> None:
    """Answer an ask with an error."""
    self.router.reply_error(request, error)


def publish(self: Cell, msg: Any, topic: str | type | None) -> None:
    """Send to every subscriber of a topic."""
    self.router.publish(self, msg, topic)


def subscribe(
    self: Cell,
    topic: str | type | None,
    sender: AgentRef | str | None,
    receiver: str | None,
    add: bool,
) -> None:
    """Add or remove subscriptions."""
    router = self.router
    router.subscriptions.change(
        self,
        topic,
        sender,
        receiver,
        add=add,
        receiver_is_agent=receiver is not None and receiver in router.registry.cells,
    )


def unsubscribe_all(self: Cell) -> None:
    """Drop every subscription."""
    self.router.subscriptions.drop(self)


# ---- monitors and links -----------------------------------------------------------


def monitor(self: Cell, to: AgentRef | str) -> MonitorRef:
    """Watch an agent until it stops for good."""
    router = self.router
    far = router._remote_ref(to)
    if far is not None:
        return router.distant.monitor(self, far, router.run.new_id())
    return _watch.monitor(self, router.single(to), as_ref(to, router.address), router.run.new_id())


def demonitor(self: Cell, mref: MonitorRef, flush: bool) -> bool:
    """Stop watching."""
    return _watch.demonitor(self, mref, flush)


def link(self: Cell, to: AgentRef | str) -> None:
    """Link both ways."""
    router = self.router
    far = router._remote_ref(to)
    if far is not None:
        router.distant.link(self, far)
        return
    _watch.link(self, router.single(to), as_ref(to, router.address))


def unlink(self: Cell, to: AgentRef | str) -> None:
    """Remove a link."""
    router = self.router
    far = router._remote_ref(to)
    if far is not None:
        router.distant.unlink(self, far)
        return
    _watch.unlink(self, router.single(to))


def stop(self: Cell, reason: ExitReason | None) -> None:
    """Stop after the current message."""
    self.request_stop(reason)


# ---- children ---------------------------------------------------------------------


def spawn_child(
    self: Cell,
    cls: type[Agent],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str | None,
    opts: LifeOptions,
) -> AgentRef:
    """Spawn an agent this one supervises (one for one, by default)."""
    return self.router.registry.spawn(cls, args, kwargs, name, opts, self.supervision())


def children(self: Cell) -> list[AgentRef]:
    """Live children, in start order."""
    kids = self.kids
    return [] if kids is None else [child.ref for child in kids.children]


def supervise(
    self: Cell,
    strategy: Strategy,
    max_restarts: int,
    period: float,
    backoff: Backoff | None,
    auto_shutdown: AutoShutdown,
    decider: Decider | None,
    concurrent_stop: bool,
) -> None:
    """Make this agent a supervisor with these settings."""
    self.kids = Supervision(
        self.container,
        self,
        strategy=strategy,
        max_restarts=max_restarts,
        period=period,
        backoff=backoff,
        auto_shutdown=auto_shutdown,
        decider=decider,
        concurrent_stop=concurrent_stop,
    )


async def start_child(
    self: Cell,
    cls: type[Agent],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    name: str,
    opts: LifeOptions,
    timeout: float,
) -> AgentRef:
    """Spawn a child and wait for its init-ack."""
    kids = self.supervision()
    registry = self.router.registry
    ref = registry.spawn(cls, args, kwargs, name, opts, kids)
    child = ref._cell
    assert child is not None
    await registry.await_up(child, kids, timeout)
    return ref


async def stop_children(self: Cell, reason: ExitReason) -> None:
    """Stop every child, in reverse start order."""
    if self.kids is not None:
        await self.kids.shutdown(reason)


async def stop_child(self: Cell, ref: AgentRef, reason: ExitReason) -> bool:
    """Stop the child ``ref`` for good; False if it is no child of this agent."""
    kids = self.kids
    for child in () if kids is None else kids.children:
        if child.ref == ref:
            assert kids is not None
            await kids.terminate(child, reason)
            return True
    return False


def restarts(self: Cell) -> list[float]:
    """Clock times of recent child restarts."""
    return [] if self.kids is None else list(self.kids.history)

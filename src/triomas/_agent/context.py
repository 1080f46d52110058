"""``AgentContext``: everything an agent asks of its runtime, in one narrow interface.

An :class:`~triomas.Agent` holds one context (``self._ctx``) and reaches the runtime
through it only: it never reads the container's or the runtime's private state. The
runtime's cell implements it; a test double or another runtime can too.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .._messages.envelope import Envelope
from .._messages.events import ExitReason, MonitorRef
from .._messages.ref import AgentRef
from .._time.future import Future
from .._time.timers import TimerHandle
from .options import LifeOptions

if TYPE_CHECKING:
    from .._runtime.container import Container
    from .._supervision.spec import AutoShutdown, Backoff, Decider, Strategy
    from .._time.clock import Clock
    from .agent import Agent

Recipient = AgentRef | str | type
"""Who a message goes to: a reference, an address, an agent name, or a class or group name."""

__all__ = ["AgentContext", "Cancellable", "Future", "Recipient"]


class Cancellable(Protocol):
    """A task started beside the mailbox, as its runtime knows it."""

    def cancel(self) -> None:
        """Cancel the task (it ends at its next await)."""
        ...


class AgentContext(Protocol):
    """What one agent needs from its runtime: identity, time, mail, children, watches."""

    # ---- identity and time ------------------------------------------------------------
    name: str
    ref: AgentRef
    incarnation: int
    exit_reason: ExitReason | None

    @property
    def container(self) -> Container:
        """The container the agent lives in (public API of the agent)."""
        ...

    @property
    def clock(self) -> Clock:
        """The container's clock."""
        ...

    @property
    def running(self) -> bool:
        """Whether the incarnation is up and not ending (it may spawn and start tasks)."""
        ...

    @property
    def tracing(self) -> bool:
        """Whether a trace recorder is attached (so that tracing costs nothing otherwise)."""
        ...

    def rng(self) -> random.Random:
        """The agent's seeded random generator."""
        ...

    def now(self) -> float:
        """The current clock time."""
        ...

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Sleep ``seconds`` of clock time (await the result at once)."""
        ...

    async def sleep_until(self, when: float) -> None:
        """Sleep until clock time ``when``."""
        ...

    async def wait(self, fut: Future, deadline: float) -> bool:
        """Wait for ``fut`` until clock time ``deadline``; False if it timed out."""
        ...

    def current_task(self) -> object:
        """A key for the task running now (the main activation or a side task)."""
        ...

    def trace(self, kind: str, payload: str) -> None:
        """Record a trace event of this agent (a no-op when tracing is off)."""
        ...

    # ---- the mailbox ------------------------------------------------------------------
    def own_mailbox(self) -> deque[Envelope]:
        """The waiting messages as envelopes, for code that reads them by hand."""
        ...

    def take(self) -> Envelope:
        """Take the oldest waiting message (:exc:`IndexError` if none)."""
        ...

    def dispatch_waiting(self) -> Awaitable[None]:
        """The default ``update()``: hand each waiting message to its handler."""
        ...

    # ---- messages ---------------------------------------------------------------------
    def tell(self, to: Recipient, msg: Any, performative: str | None = None) -> None:
        """A send without options (the fast path), or with a speech act's performative
        only (a BDI agent's act)."""
        ...

    def send(
        self,
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
        """A send with options (see :class:`~triomas.SendOptions`)."""
        ...

    async def send_wait(
        self, to: Recipient, msg: Any, timeout: float | None, topic: str | None
    ) -> None:
        """A send that waits for room in a bounded mailbox."""
        ...

    async def ask(
        self,
        to: Recipient,
        msg: Any,
        timeout: float,
        performative: str | None,
        conversation_id: str | None,
    ) -> Any:
        """Send ``msg`` and wait for its reply."""
        ...

    def reply(self, request: Envelope, value: Any) -> None:
        """Answer an ask by hand."""
        ...

    def reply_error(self, request: Envelope, error: BaseException) -> None:
        """Answer an ask with an error for the asker to raise."""
        ...

    def publish(self, msg: Any, topic: str | type | None) -> None:
        """Send to every subscriber of a topic."""
        ...

    def subscribe(
        self,
        topic: str | type | None,
        sender: AgentRef | str | None,
        receiver: str | None,
        add: bool,
    ) -> None:
        """Add (or remove) a topic subscription, a sender tracker or a receiver group."""
        ...

    def unsubscribe_all(self) -> None:
        """Drop every subscription of this agent."""
        ...

    # ---- monitors, links, alarms, tasks, stopping -------------------------------------
    def monitor(self, to: AgentRef | str) -> MonitorRef:
        """Watch an agent until it stops for good."""
        ...

    def demonitor(self, mref: MonitorRef, flush: bool) -> bool:
        """Stop watching."""
        ...

    def link(self, to: AgentRef | str) -> None:
        """Link to an agent, both ways."""
        ...

    def unlink(self, to: AgentRef | str) -> None:
        """Remove a link."""
        ...

    def set_alarm(
        self,
        msg: Any,
        at: float | None,
        after: float | None,
        topic: str | None,
        ignore: bool,
        to: Recipient | None = None,
    ) -> TimerHandle:
        """Deliver ``msg`` to this agent later (or send it ``to`` another then)."""
        ...

    def clear_alarms(self, topic: str | None, msg_type: type | None) -> int:
        """Cancel matching pending alarms."""
        ...

    def list_alarms(self, topic: str | None, msg_type: type | None) -> list[tuple[float, Any]]:
        """The matching pending alarms as ``(clock time, message)``, in firing order."""
        ...

    def start_task(
        self, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> Cancellable:
        """Run ``fn(*args)`` beside the mailbox."""
        ...

    def stop(self, reason: ExitReason | None) -> None:
        """Stop after the current message (``None``: a normal stop)."""
        ...

    # ---- children ---------------------------------------------------------------------
    def spawn_child(
        self,
        cls: type[Agent],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str | None,
        opts: LifeOptions,
    ) -> AgentRef:
        """Spawn an agent this one supervises."""
        ...

    def children(self) -> list[AgentRef]:
        """This agent's live children, in start order."""
        ...

    def supervise(
        self,
        strategy: Strategy,
        max_restarts: int,
        period: float,
        backoff: Backoff | None,
        auto_shutdown: AutoShutdown,
        decider: Decider | None,
        concurrent_stop: bool,
    ) -> None:
        """Make this agent a supervisor of its children with these settings."""
        ...

    async def start_child(
        self,
        cls: type[Agent],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        name: str,
        opts: LifeOptions,
        timeout: float,
    ) -> AgentRef:
        """Spawn a child and wait for its ``setup()`` (its init-ack)."""
        ...

    async def stop_children(self, reason: ExitReason) -> None:
        """Stop every child, in reverse start order."""
        ...

    async def stop_child(self, ref: AgentRef, reason: ExitReason) -> bool:
        """Stop one child for good; False if ``ref`` is no child of this agent."""
        ...

    def restarts(self) -> list[float]:
        """Clock times of this supervisor's recent child restarts."""
        ...

"""What a cell needs from its scheduler: the ``Engine`` protocol, and the run state it keeps.

Two engines implement it: :mod:`.live` (trio tasks in real time) and :mod:`.virtual`
(the virtual-time scheduler). The engine owns a cell's ``run_state``, ``main_task``,
``parked_task``, ``scope`` and ``teardown_scope``; the rest of the cell is the cell's.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from .._agent.context import Cancellable

if TYPE_CHECKING:
    from .._messages.envelope import Envelope
    from .._messages.ref import AgentRef
    from .._time.future import Future
    from .._time.timers import TimerHandle
    from .cell import Cell

__all__ = ["Cancellable", "Engine", "RunState"]


class RunState(enum.Enum):
    """Whether an activation (a task working the mailbox) exists."""

    IDLE = enum.auto()
    ACTIVE = enum.auto()
    PARKED = enum.auto()


class Engine(Protocol):
    """What a cell needs from its scheduler (live or virtual)."""

    virtual: bool

    def now(self) -> float: ...
    def deliver(self, cell: Cell, env: Envelope) -> None: ...
    def deliver_system(self, cell: Cell, env: Envelope) -> None: ...
    def deliver_tell(self, cell: Cell, body: Any, sender: AgentRef) -> None:
        """:meth:`deliver` for a plain tell sent now, as its parts (to a ``compact`` cell)."""
        ...

    def activate(self, cell: Cell) -> None: ...
    def paused(self) -> None:
        """The container was just paused: a run in progress ends (``"paused"``)."""
        ...

    def start_setup(self, cell: Cell, setup_result: Awaitable[None]) -> None:
        """An activation that awaits ``setup_result`` (``setup()`` ran already), then goes on."""
        ...

    def in_flight(
        self, cell: Cell, match: Callable[[Envelope], bool] | None = None
    ) -> list[Envelope]: ...
    def park(self, cell: Cell) -> Awaitable[object] | None: ...
    async def after_batch(self, cell: Cell) -> bool: ...
    async def sleep_until(self, when: float) -> None: ...
    def sleep(self, seconds: float) -> Awaitable[None]: ...
    async def wait(self, fut: Future, deadline: float) -> bool: ...
    def call_at(
        self, when: float, callback: Callable[..., object], blocking: bool, payload: object = None
    ) -> TimerHandle:
        """``callback()`` at clock time ``when``; ``callback(handle)`` with a ``payload``."""
        ...

    def start_task(
        self, cell: Cell, fn: Callable[..., Awaitable[object]], args: tuple[Any, ...]
    ) -> Cancellable:
        """Run ``fn(*args)`` beside the cell's mailbox; its exception crashes the cell."""
        ...

    def current_task(self) -> object: ...
    def interrupt(self, cell: Cell) -> None: ...
    def spawn_system(self, fn: Callable[[], Coroutine[Any, Any, object]]) -> None: ...
    def is_current(self, cell: Cell) -> bool: ...
    def check_outside(self, what: str) -> None: ...
    def cancel_tasks(self, cell: Cell) -> None: ...
    async def shielded(
        self, cell: Cell, thunk: Callable[[], Awaitable[None] | None], deadline: float
    ) -> None: ...
    def kill(self, cell: Cell) -> None: ...

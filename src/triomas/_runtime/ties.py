"""The fields of a cell that most cells never set, kept out of the cell itself.

A cell is made for every agent, and most agents are never watched, linked, restarted,
given a supervisor of their own or a task beside their mailbox. Those fields live in a
:class:`Ties` object made the first time one is set; until then each reads as its
default. That is 72 bytes less for every agent (``spawn_1m`` in
benchmarks/run.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, final, overload

if TYPE_CHECKING:
    from .._time.future import Future
    from .._time.timers import TimerHandle
    from .cell import Cell
    from .tree import Supervision
    from .watch import Far

T = TypeVar("T")


@final
class Ties:
    """The rarely set fields of one cell."""

    __slots__ = (
        "in_row",
        "kids",
        "kwargs",
        "links",
        "restart_timer",
        "tasks",
        "teardown_scope",
        "up_waiters",
        "watchers",
        "watching",
    )

    def __init__(self) -> None:
        self.in_row = 0
        self.kids: Supervision | None = None
        self.kwargs: dict[str, Any] | None = None
        self.links: dict[Cell | Far, None] | None = None
        self.restart_timer: TimerHandle | None = None
        self.tasks: set[Any] | None = None
        self.teardown_scope: Any = None
        self.up_waiters: list[Future] | None = None
        self.watchers: dict[Any, Cell | Far] | None = None
        self.watching: dict[Any, Cell | Far] | None = None


@final
class Rare(Generic[T]):
    """A cell attribute kept in the cell's :class:`Ties`, read as ``default`` until set."""

    __slots__ = ("default", "name")

    def __init__(self, default: T) -> None:
        self.default = default
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, cell: None, owner: type) -> Rare[T]: ...
    @overload
    def __get__(self, cell: Cell, owner: type | None = None) -> T: ...
    def __get__(self, cell: Cell | None, owner: type | None = None) -> T | Rare[T]:
        if cell is None:
            return self
        ties = cell.ties
        return self.default if ties is None else getattr(ties, self.name)

    def __set__(self, cell: Cell, value: T) -> None:
        ties = cell.ties
        if ties is None:
            if value == self.default:  # nothing to keep: no Ties yet
                return
            ties = cell.ties = Ties()
        setattr(ties, self.name, value)

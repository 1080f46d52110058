"""``@on`` and the per-class handler table built when an agent class is defined."""

from __future__ import annotations

import dis
import inspect
from collections.abc import Callable
from typing import Any, TypeVar, final

import attrs

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__triomas_on__"


def on(msg_type: type, *, concurrent: bool = False) -> Callable[[F], F]:
    """Declare a method the handler for messages of ``msg_type`` (and its subclasses).

    The handler may be sync or async; it receives the message, and the
    :class:`Envelope` too if it declares a second parameter. Its return value is
    the reply when the message came by ``ask``. One message is handled at a time;
    ``concurrent=True`` runs this handler beside the mailbox instead, in a task
    supervised with the agent.
    """
    if not isinstance(msg_type, type):
        raise TypeError(f"@on needs a message class, not {msg_type!r}")

    def mark(fn: F) -> F:
        marks: list[tuple[type, bool]] = list(getattr(fn, _MARK, ()))
        marks.append((msg_type, concurrent))
        setattr(fn, _MARK, tuple(marks))
        return fn

    return mark


# The opcodes at which a coroutine's own frame can suspend (await, async for, async with).
_SUSPEND_OPS = frozenset(
    {
        "GET_AWAITABLE",
        "SEND",
        "YIELD_VALUE",
        "GET_AITER",
        "GET_ANEXT",
        "END_ASYNC_FOR",
        "BEFORE_ASYNC_WITH",
    }
)


def can_suspend(fn: Callable[..., Any]) -> bool:
    """Whether calling ``fn`` can suspend: an ``async def`` with an await point in its body.

    An ``async def`` without one runs to completion at its first step, so the runtime
    may run it like a plain function. Anything it cannot inspect counts as suspending.
    """
    if not inspect.iscoroutinefunction(fn):
        return False
    code = getattr(fn, "__code__", None)
    if code is None:
        return True
    return any(instruction.opname in _SUSPEND_OPS for instruction in dis.get_instructions(code))


def complete(coro: Any) -> Any:
    """Run a coroutine that cannot suspend (see :func:`can_suspend`) to its result."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError(f"{coro!r} suspended although it has no await point")


@final
@attrs.frozen(slots=True)
class Handler:
    """How to call one handler.

    ``suspends`` is False for plain functions and for ``async def`` handlers without an
    await point; those run on the fast paths (the virtual step, the live hand-off).
    """

    func: Callable[..., Any]
    is_async: bool
    wants_envelope: bool
    concurrent: bool
    suspends: bool
    simple: bool = attrs.field(
        init=False,
        default=attrs.Factory(
            lambda h: not (h.is_async or h.wants_envelope or h.concurrent or h.suspends),
            takes_self=True,
        ),
    )
    """A plain function of the message alone: it needs no envelope."""


def _positional_count(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(1 for p in params if p.kind in kinds)


@final
class ClassInfo:
    """What the runtime needs to know about one ``Agent`` subclass, computed once."""

    __slots__ = (
        "custom_update",
        "handlers",
        "misses",
        "plain_start",
        "plain_teardown",
        "plain_tells",
        "sync_ok",
        "sync_setup",
    )

    def __init__(self, cls: type, base: type, extra: dict[type, Handler] | None = None) -> None:
        marked: dict[str, tuple[tuple[type, bool], ...]] = {}
        for klass in reversed(cls.__mro__):
            for attr, value in vars(klass).items():
                marks = getattr(value, _MARK, None)
                if marks is not None:
                    marked[attr] = marks
        self.handlers: dict[type, Handler] = dict(extra) if extra else {}
        for attr, marks in marked.items():
            func = getattr(cls, attr)
            arity = _positional_count(func)
            if arity not in (2, 3):
                raise TypeError(
                    f"handler {cls.__qualname__}.{attr} must take (self, message) or "
                    f"(self, message, envelope)"
                )
            for msg_type, concurrent in marks:
                self.handlers[msg_type] = Handler(
                    func,
                    inspect.iscoroutinefunction(func),
                    arity == 3,
                    concurrent,
                    can_suspend(func),
                )
        self.misses: set[type] = set()
        update = cls.update  # type: ignore[attr-defined]
        self.custom_update = update is not base.update  # type: ignore[attr-defined]
        # Agents that do nothing in setup() and update() start without an activation;
        # those that do nothing in teardown() can be finished without one.
        self.plain_start = not self.custom_update and cls.setup is base.setup  # type: ignore[attr-defined]
        self.plain_teardown = cls.teardown is base.teardown  # type: ignore[attr-defined]
        # setup() cannot suspend: a virtual step may run it with no coroutine.
        self.sync_setup = not can_suspend(cls.setup)  # type: ignore[attr-defined]
        # Every handler is a plain function of the message: a tell needs no envelope.
        self.plain_tells = bool(self.handlers) and all(h.simple for h in self.handlers.values())
        if self.custom_update:
            self.sync_ok = not can_suspend(update)
        else:
            self.sync_ok = all(not h.suspends and not h.concurrent for h in self.handlers.values())

    def lookup(self, msg_type: type) -> Handler | None:
        """The handler for ``msg_type``, falling back along its MRO (cached)."""
        handler = self.handlers.get(msg_type)
        if handler is not None or msg_type in self.misses:
            return handler
        for base in msg_type.__mro__[1:]:
            handler = self.handlers.get(base)
            if handler is not None:
                self.handlers[msg_type] = handler
                return handler
        self.misses.add(msg_type)
        return None

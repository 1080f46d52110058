"""``@message``: frozen, slotted attrs classes with declared type tags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

import attrs

from .errors import MessageTagError
from .ref import AgentRef, check_address

T = TypeVar("T", bound=type)

_TAGS: dict[str, type] = {}


def _origin(cls: type) -> tuple[str, str]:
    return (cls.__module__, cls.__qualname__)


MESSAGE_CLASSES: set[type] = set()
"""Every ``@message`` class (a send checks its body's type against it: one set lookup)."""


def _register(cls: type, tag: str) -> None:
    if not tag.isidentifier() and not all(part.isidentifier() for part in tag.split(".")):
        raise MessageTagError(f"message tag {tag!r} of {cls.__qualname__} is not a dotted name")
    old = _TAGS.get(tag)
    # Re-running a module (an example run as __main__, a reloaded module) re-creates
    # the same class; that is not a clash.
    if old is not None and _origin(old) != _origin(cls):
        raise MessageTagError(
            f"message tag {tag!r} of {cls.__module__}.{cls.__qualname__} is already used by "
            f"{old.__module__}.{old.__qualname__}; give one of them @message(tag=...)"
        )
    _TAGS[tag] = cls
    MESSAGE_CLASSES.add(cls)
    cls.__triomas_tag__ = tag  # type: ignore[attr-defined]


@overload
@dataclass_transform(frozen_default=True, field_specifiers=(attrs.field,))
def message(cls: T, /) -> T: ...
@overload
def message(*, tag: str | None = None) -> Callable[[T], T]: ...
def message(cls: Any = None, /, *, tag: str | None = None) -> Any:
    """Make ``cls`` a message: a frozen, slotted attrs class with a type tag.

    The tag names the class on the wire; it defaults to the class name and must be
    unique in the process (a clash raises :exc:`MessageTagError` at once). The
    default topic of a message is its class name.
    """

    def wrap(klass: T) -> T:
        # Registration comes after attrs builds the slotted class, which is a new object.
        built: T = attrs.frozen(klass, slots=True)
        _register(built, tag if tag is not None else klass.__name__)
        return built

    return wrap(cls) if cls is not None else wrap


def check_send(to: object, msg: object, call: str) -> None:
    """Refuse, with a message that says what is expected, a body that is not a
    ``@message`` instance or a recipient that is not a reference, a name, an address or
    a class: locally they would pass, and fail later, or in silence."""
    if type(msg) not in MESSAGE_CLASSES:
        if isinstance(msg, type) and getattr(msg, "__triomas_tag__", None) is not None:
            raise TypeError(
                f"{call}() got the class {msg.__qualname__} where a message belongs: "
                f"send an instance, {msg.__qualname__}(...)"
            )
        raise TypeError(
            f"{call}() needs a @message instance as the message, not "
            f"{type(msg).__qualname__} {msg!r:.80}; declare its class with @triomas.message"
        )
    if isinstance(to, str) and "/" in to:
        check_address(to)
    if not isinstance(to, (str, type, AgentRef)):
        raise TypeError(
            f"{call}() needs a recipient: an AgentRef, an agent name, an address or a "
            f"class, not {type(to).__qualname__} {to!r:.80}"
        )


def message_tag(cls: type) -> str:
    """The type tag of a ``@message`` class; :exc:`MessageTagError` for other classes."""
    tag: str | None = cls.__dict__.get("__triomas_tag__")
    if tag is None:
        raise MessageTagError(f"{cls.__qualname__} is not a @message class")
    return tag


def message_class(tag: str) -> type:
    """The ``@message`` class registered under ``tag``; :exc:`MessageTagError` if none."""
    try:
        return _TAGS[tag]
    except KeyError:
        raise MessageTagError(f"no message class is registered under tag {tag!r}") from None

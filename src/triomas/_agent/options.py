"""The options of spawning and sending: restart types, mailbox bounds, and the keywords.

``SpawnOptions`` and ``SendOptions`` describe the keyword families of ``spawn`` and
``send``; :func:`options` is the one validator of the spawn options (``ChildSpec``
uses its checks too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, TypedDict, final, get_args

import attrs

from .._messages.errors import ChildSpecError

if TYPE_CHECKING:
    from .agent import Agent

Restart = Literal["permanent", "transient", "temporary"]
"""When a child is restarted: after any exit, after a failure only, or never."""

Overflow = Literal["block", "fail", "drop_new", "drop_oldest"]
"""What a full mailbox does with one more message: the sender waits (``send_wait``) or
gets :exc:`MailboxFull`, or the new or the oldest message becomes a dead letter."""

_OVERFLOWS: tuple[str, ...] = get_args(Overflow)
_RESTARTS: tuple[str, ...] = get_args(Restart)


def check_shutdown(value: object, field: str = "shutdown") -> float:
    """Validate a shutdown policy: 0 (brutal), seconds > 0, or ``math.inf``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ChildSpecError(
            field, f"must be 0, a positive number of seconds or inf, not {value!r}"
        )
    return float(value)


def check_capacity(capacity: object, overflow: object) -> None:
    """Validate mailbox options: a positive capacity or None, and a known policy."""
    if capacity is not None and (
        isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1
    ):
        raise ChildSpecError("capacity", f"must be None or a positive integer, not {capacity!r}")
    if overflow not in _OVERFLOWS:
        raise ChildSpecError(
            "overflow", f"must be one of {', '.join(_OVERFLOWS)}, not {overflow!r}"
        )


def check_restart(value: object) -> Restart:
    """Validate a restart type."""
    if value not in _RESTARTS:
        raise ChildSpecError("restart", f"must be one of {', '.join(_RESTARTS)}, not {value!r}")
    return value  # type: ignore[return-value]


@final
@attrs.frozen(slots=True)
class LifeOptions:
    """How one agent is supervised; shared by every agent spawned with the same options."""

    restart: Restart = "transient"
    shutdown: float = 5.0
    significant: bool = False
    capacity: int | None = None
    overflow: Overflow = "block"
    idle_timeout: float | None = None


SPAWN_DEFAULTS = LifeOptions()
"""``spawn()``'s defaults: restarted after a failure, five seconds to stop."""


def options(
    cls: type[Agent],
    restart: Restart,
    shutdown: float | None,
    capacity: int | None = None,
    overflow: Overflow = "block",
    idle_timeout: float | None = None,
) -> LifeOptions:
    """The options of ``spawn``'s arguments (the shared defaults when they are those).

    ``shutdown`` defaults to the class's: five seconds, ``inf`` for supervisors.
    """
    if shutdown is None:
        shutdown = getattr(cls, "_default_shutdown", 5.0)
    if (restart, shutdown, capacity, overflow, idle_timeout) == (
        "transient",
        5.0,
        None,
        "block",
        None,
    ):
        return SPAWN_DEFAULTS
    check_capacity(capacity, overflow)
    if idle_timeout is not None and not idle_timeout > 0:
        raise ChildSpecError("idle_timeout", "must be None or a positive number of seconds")
    return LifeOptions(
        check_restart(restart), check_shutdown(shutdown), False, capacity, overflow, idle_timeout
    )


class SpawnOptions(TypedDict, total=False):
    """The keywords ``spawn`` takes beside the agent's own arguments, all optional.

    ``Agent.spawn``, ``Container.spawn``, ``Container.start`` (which adds ``timeout``)
    and ``Container.spawn_on_demand`` (which takes the name first) take exactly these,
    with these defaults; :func:`options` checks them.
    """

    name: str | None
    """The agent's name (default: ``ClassName-N`` in spawn order)."""
    restart: Restart
    """When a new incarnation replaces an ended one (default ``"transient"``)."""
    shutdown: float | None
    """Clock seconds a graceful stop may take (default 5 s; ``inf`` for supervisors)."""
    capacity: int | None
    """The mailbox's bound (default: unbounded)."""
    overflow: Overflow
    """What a full mailbox does (default ``"block"``)."""
    idle_timeout: float | None
    """Stop with ``Shutdown("idle")`` after that many clock seconds without a message."""


SPAWN_KEYWORDS: dict[str, object] = {
    "name": None,
    "restart": "transient",
    "shutdown": None,
    "capacity": None,
    "overflow": "block",
    "idle_timeout": None,
}
"""The defaults of :class:`SpawnOptions` (a test pins every ``spawn`` signature to them)."""


class SendOptions(TypedDict, total=False):
    """The keywords :meth:`Agent.send` takes, all optional.

    Sending with none of them is the fast path; ``None`` (``False`` for
    ``direct``) means the same as leaving a keyword out.
    """

    topic: str | None
    """The envelope's topic (default: the message's class name)."""
    direct: bool
    """Skip the sender's trackers (``subscribe(sender=...)``)."""
    performative: str | None
    """The speech act, such as ``"tell"`` or ``"cfp"``."""
    conversation_id: str | None
    """The conversation the message belongs to."""
    reply_with: str | None
    """An id for the receiver to echo in ``in_reply_to`` (by hand: this is no ask)."""
    in_reply_to: str | None
    """The ``reply_with`` this message answers."""
    reply_by: float | None
    """Clock time by which an answer is wanted."""
    protocol: str | None
    """FIPA-ACL's interaction protocol, such as ``"fipa-contract-net"``."""
    ontology: str | None
    """FIPA-ACL's ontology."""
    language: str | None
    """FIPA-ACL's content language."""


SEND_KEYWORDS = frozenset(SendOptions.__annotations__)
"""The keys of :class:`SendOptions`."""

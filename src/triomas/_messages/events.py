"""Exit reasons, the system events a container emits, and the messages of monitors and links."""

from __future__ import annotations

import enum
from typing import Any, TypeAlias, final

import attrs

from .ref import AgentRef


@final
@attrs.frozen(slots=True)
class Normal:
    """The agent stopped itself (``self.stop()``) or its lifecycle ended on its own."""

    def __str__(self) -> str:
        return "normal"


@final
@attrs.frozen(slots=True)
class Shutdown:
    """The agent was stopped from outside: container stop, ``remove``, or cancellation."""

    reason: str = "shutdown"

    def __str__(self) -> str:
        return f"shutdown({self.reason})"


@final
@attrs.frozen(slots=True)
class Failure:
    """The agent crashed: user code raised ``exception``."""

    exception: BaseException = attrs.field(eq=False)

    def __str__(self) -> str:
        return f"failure({type(self.exception).__name__}: {self.exception})"


@final
@attrs.frozen(slots=True)
class Fatal:
    """Agent code raised a ``BaseException`` that is not an ``Exception``
    (``KeyboardInterrupt``, ``SystemExit`` or any other, but for the cancellations the
    runtime itself uses): never restarted.

    The whole tree is torn down and the exception is raised again, as itself, by
    :func:`open_container`, in either clock.
    """

    exception: BaseException = attrs.field(eq=False)

    def __str__(self) -> str:
        return f"fatal({type(self.exception).__name__})"


@final
@attrs.frozen(slots=True)
class NoProc:
    """There was no such agent (unknown name, or already stopped)."""

    def __str__(self) -> str:
        return "noproc"


@final
@attrs.frozen(slots=True)
class NoConnection:
    """The agent's container could not be reached any more: the connection to it was
    lost, or it stopped answering and was declared down (Erlang's ``noconnection``).

    The agent itself may still be running; nothing more is known of it. ``detail``
    says what happened to the connection; it takes no part in comparisons, so
    ``reason == NoConnection()`` holds for every one.
    """

    detail: str = attrs.field(default="", eq=False)

    def __str__(self) -> str:
        return f"noconnection({self.detail})" if self.detail else "noconnection"


ExitReason: TypeAlias = Normal | Shutdown | Failure | Fatal | NoProc | NoConnection


class DeadLetterReason(enum.StrEnum):
    """Why a message could not be delivered."""

    UNKNOWN_RECIPIENT = "unknown recipient"
    NO_SUBSCRIBERS = "no subscribers"
    RECIPIENT_STOPPED = "recipient stopped"
    NO_HANDLER = "no handler"
    UNREACHABLE = "unreachable container"
    MAILBOX_FULL = "mailbox full"
    SEND_BUFFER_FULL = "send buffer full"
    UNDECODABLE = "undecodable"
    LOST = "lost in transit"
    TOO_LARGE = "too large for the receiver"
    SLOW_CONSUMER = "slow consumer"
    """The NATS server cut this container off for reading too slowly."""


@final
@attrs.frozen(slots=True)
class DeadLetter:
    """A message that reached nobody, with the reason. Nothing is dropped silently."""

    message: Any
    sender: AgentRef | None
    recipient: AgentRef | str | None
    reason: DeadLetterReason


@final
@attrs.frozen(slots=True)
class AgentStarted:
    """An agent finished its first ``setup()`` (:class:`ChildStarted` reports every incarnation)."""

    ref: AgentRef


@final
@attrs.frozen(slots=True)
class AgentStopped:
    """An agent ended for good; ``reason`` says how. Teardown has run."""

    ref: AgentRef
    reason: ExitReason


@final
@attrs.frozen(slots=True)
class ChildStarted:
    """An incarnation of a supervised agent finished ``setup()``.

    ``supervisor`` is the supervising agent, or None for the container's root;
    ``incarnation`` counts from 1 and goes up with every restart.
    """

    supervisor: AgentRef | None
    ref: AgentRef
    incarnation: int


@final
@attrs.frozen(slots=True)
class ChildExited:
    """An incarnation of a supervised agent ended; ``will_restart`` says what comes next."""

    supervisor: AgentRef | None
    ref: AgentRef
    incarnation: int
    reason: ExitReason
    will_restart: bool


@final
@attrs.frozen(slots=True)
class ShutdownOverrun:
    """An agent was cancelled but has not ended ``elapsed`` seconds later (it shields
    itself or blocks in synchronous code); its supervisor keeps waiting."""

    ref: AgentRef
    elapsed: float


SystemEvent: TypeAlias = (
    DeadLetter | AgentStarted | AgentStopped | ChildStarted | ChildExited | ShutdownOverrun
)


_KINDS = {"setup": "start", "dead": "dead letter", "recv": "tell"}


@final
@attrs.frozen(slots=True)
class TraceRecord:
    """One line of a run's trace: ``(time, agent, event, payload)``.

    Events: ``spawn``, ``setup``, ``update`` (a custom ``update()`` call), ``recv``
    (a message handled by the default dispatch; the payload is ``sender -> body``),
    ``restart`` (an incarnation ended and another will follow; payload: the exit
    reason), ``stop`` (for good; payload: the exit reason), ``dead`` (a dead
    letter) and ``reply`` (the answer to an ask, recorded for the asker: ``agent`` is
    the asker's name, ``-`` outside the agents, and the payload ``replier -> value``).

    The structured fields say the same for code that looks: ``kind`` (``tell``,
    ``ask``, ``reply`` (an answer sent as a message, with ``in_reply_to``),
    ``publish``, ``start``, ``stop``, ``crash``, ``restart``, ``dead letter``, or the
    event itself), and for a message its ``sender`` and ``receiver`` (names),
    ``message_type``, ``message_id`` (its ``reply_with``), ``in_reply_to`` and
    ``sent_at`` (``time`` is when it was handled). ``str()`` shows only the four
    columns, so a trace's text stays the same.
    """

    time: float
    agent: str
    event: str
    payload: str
    kind: str = attrs.field(default="", kw_only=True)
    sender: str | None = attrs.field(default=None, kw_only=True)
    receiver: str | None = attrs.field(default=None, kw_only=True)
    message_type: str | None = attrs.field(default=None, kw_only=True)
    message_id: str | None = attrs.field(default=None, kw_only=True)
    in_reply_to: str | None = attrs.field(default=None, kw_only=True)
    sent_at: float | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if not self.kind:
            kind = _KINDS.get(self.event, self.event)
            if self.event == "stop" and self.payload.startswith("failure"):
                kind = "crash"
            object.__setattr__(self, "kind", kind)

    def __str__(self) -> str:
        return f"{self.time!r}\t{self.agent}\t{self.event}\t{self.payload}"


@final
@attrs.frozen(slots=True)
class MonitorRef:
    """Names one monitor, as returned by ``monitor()``; pass it to ``demonitor()``."""

    id: int
    target: AgentRef


@final
@attrs.frozen(slots=True)
class Down:
    """Sent to a monitoring agent, exactly once, when the monitored agent stops for good."""

    monitor: MonitorRef
    ref: AgentRef
    reason: ExitReason


@final
@attrs.frozen(slots=True)
class Exit:
    """Sent to an agent with ``trap_exits`` when a linked agent ends abnormally."""

    peer: AgentRef
    reason: ExitReason

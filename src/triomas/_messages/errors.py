"""The exceptions triomas raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from .events import ExitReason
    from .ref import AgentRef


class TriomasError(Exception):
    """Base class of every error triomas raises on purpose."""


@final
class MessageTagError(TriomasError, TypeError):
    """Two message classes claim the same type tag, or a tag is not a valid name."""


@final
class NameTaken(TriomasError, ValueError):
    """An agent name is already used in this container."""


@final
class AskTimeout(TriomasError, trio.TooSlowError):
    """No reply to an ``ask`` arrived before its timeout (in clock time)."""


@final
class CalleeDown(TriomasError):
    """The agent an ``ask`` went to stopped, crashed or never existed.

    ``reason`` is the callee's :class:`ExitReason`; when the callee crashed in the
    handler of this very request, ``__cause__`` is the exception it raised.
    """

    def __init__(self, recipient: str, reason: ExitReason) -> None:
        super().__init__(f"{recipient} is down: {reason}")
        self.recipient = recipient
        self.reason = reason


@final
class NoHandler(TriomasError):
    """An ``ask`` reached an agent that has no ``@on`` handler for its message type."""


@final
class VirtualTimeError(TriomasError, RuntimeError):
    """Agent code awaited a raw trio primitive while running in virtual time.

    In virtual time the runtime steps agents itself, so agent code may only wait
    through the runtime: ``self.sleep``, ``self.ask``, alarms, ``self.start_task``.
    """


@final
class AgentStateError(TriomasError, RuntimeError):
    """An agent or container method was used where its state does not allow it."""


@final
class HandlerFailed(TriomasError):
    """The handler of an ``ask`` raised, and the callee's supervisor let it go on (RESUME).

    ``__cause__`` is the exception the handler raised.
    """


@final
class MailboxFull(TriomasError):
    """A bounded mailbox had no room for a message (policy ``fail``, ``block`` without
    waiting, or a ``send_wait`` that timed out)."""


@final
class ChildSpecError(TriomasError, ValueError):
    """A child specification is invalid; ``field`` names what is wrong."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field


@final
class SupervisorStartError(TriomasError):
    """A supervisor could not start child ``id``; ``__cause__`` says why.

    The children started before it were stopped again, in reverse order.
    """

    def __init__(self, id: str) -> None:
        super().__init__(f"child {id!r} failed to start")
        self.id = id


@final
class SupervisorCrashed(TriomasError):
    """A supervisor's own decision code raised (a bug in triomas or in a decider's
    caller): its children were cancelled at once; ``__cause__`` is the error."""


@final
class SupervisorEscalation(TriomasError):
    """A supervisor gave up: its children failed more often than its limit allows.

    ``supervisor`` names it ("root" for a container's), ``child`` the child whose
    exit went over the limit, ``restarts`` the clock times of the restarts that
    counted; ``__cause__`` is that child's last failure.
    """

    def __init__(self, supervisor: str, child: str, restarts: list[float]) -> None:
        super().__init__(
            f"supervisor {supervisor} escalates: child {child} went past the restart limit "
            f"({len(restarts)} restarts counted)"
        )
        self.supervisor = supervisor
        self.child = child
        self.restarts = restarts


class CodecError(TriomasError, ValueError):
    """A message or value could not be turned into bytes, or back."""


@final
class EncodeError(CodecError):
    """A message or value cannot travel: not a ``@message``, or a field the codec
    cannot encode (register a hook on the codec's converter)."""


@final
class DecodeError(CodecError):
    """Bytes from the wire do not decode: malformed, an unknown tag, a wrong field."""


@final
class ProtocolError(TriomasError):
    """A peer broke the wire protocol: a bad frame, a bad handshake, a wrong version.

    Only that connection is closed.
    """


@final
class AuthenticationError(TriomasError):
    """A peer failed the HMAC challenge of the handshake (or TLS verification)."""


@final
class NotExposed(TriomasError, AttributeError):
    """An RPC call named a method the agent does not ``@expose``."""


@final
class RemoteError(TriomasError):
    """An exposed method raised: ``type_name``, ``message`` and ``traceback`` are the
    remote exception's, ``origin`` the address of the agent where it was raised."""

    def __init__(self, type_name: str, message: str, origin: str, traceback: str) -> None:
        super().__init__(f"{type_name}: {message} (raised in {origin})")
        self.type_name = type_name
        self.message = message
        self.origin = origin
        self.traceback = traceback


@final
class LinkedActorFailed(TriomasError):
    """An agent failed because an agent linked to it ended abnormally."""

    def __init__(self, peer: AgentRef, reason: ExitReason) -> None:
        super().__init__(f"linked agent {peer} ended: {reason}")
        self.peer = peer
        self.reason = reason

"""The exceptions triomas raises."""

from __future__ import annotations

from typing import TYPE_CHECKING, final

import trio

if TYPE_CHECKING:
    from ._events import ExitReason


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

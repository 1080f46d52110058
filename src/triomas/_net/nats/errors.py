"""The exceptions of the NATS client."""

from __future__ import annotations

from typing import final

import trio

from ..._messages.errors import TriomasError

__all__ = [
    "NatsArgumentError",
    "NatsAuthorizationError",
    "NatsBufferFull",
    "NatsClosedError",
    "NatsConnectionError",
    "NatsError",
    "NatsPayloadTooLarge",
    "NatsProtocolError",
    "NatsServerError",
    "NatsTimeout",
    "NoResponders",
]


class NatsError(TriomasError):
    """Base class of every error the NATS client raises on purpose."""


@final
class NatsProtocolError(NatsError):
    """The server broke the NATS protocol: a malformed or oversize line, a payload over
    the limit, garbage. The connection it came on is closed."""


class NatsServerError(NatsError):
    """The server refused the connection with ``-ERR``; ``message`` is its text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@final
class NatsAuthorizationError(NatsServerError):
    """The server refused the credentials (``-ERR 'Authorization Violation'`` and the
    like), or the client could not prove them (no nonce for an nkey)."""


@final
class NatsConnectionError(NatsError):
    """No server of the list could be reached and greeted; the message says why for
    each one, and ``__cause__`` is the last failure."""


@final
class NatsClosedError(NatsError):
    """The client is closed (by ``aclose``, or because it gave up reconnecting)."""


@final
class NatsTimeout(NatsError, trio.TooSlowError):
    """No reply to a request arrived in time."""


@final
class NoResponders(NatsError):
    """A request found no subscriber: the server answered at once with status 503."""

    def __init__(self, subject: str) -> None:
        super().__init__(f"no responders on {subject!r}")
        self.subject = subject


class NatsArgumentError(NatsError, ValueError):
    """A subject, reply, queue group or header the protocol cannot carry (empty, or with
    white space or control characters in it)."""


@final
class NatsPayloadTooLarge(NatsArgumentError):
    """A publish is over the server's ``max_payload`` (headers included)."""


@final
class NatsBufferFull(NatsError):
    """A request could not be queued: the client's pending buffer is full."""

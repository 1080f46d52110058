"""A NATS core client on trio: the sans-io protocol (:mod:`.protocol`), the handshake
and the server list (:mod:`.connect`), the client (:mod:`.client`, opened with
:func:`open_nats`), its events and errors.

One client is one connection at a time, served by three tasks: a reader that feeds
the sans-io :class:`~.protocol.Parser` and calls the subscriptions' callbacks
synchronously, a writer that sends everything queued in one ``send_all`` per
wake-up, and a pinger that declares the connection stale after ``max_pings_out``
unanswered PINGs. A fourth task reconnects when the connection ends, and sends every
live subscription again (same sids) before anything else.

Delivery is at most once, as NATS core's: nothing that may have reached the server
is ever sent again. What happens to a publish (see :class:`~.events.Lost`):

- queued and not written yet when the connection breaks: kept, and written on the
  next connection (after the subscriptions); it cannot have reached the server;
- being written when the connection breaks: reported *uncertain* in a ``Lost``
  event, never sent again;
- made while disconnected: queued like the others, up to ``max_pending_bytes``
  (``publish`` returns False past it);
- still queued when the client gives up (``reconnect_timeout``, or reconnection
  off) or closes without being able to drain: reported in a ``Lost`` event.

Bytes the kernel took before the connection broke may still be lost in flight: that
is at most once, and nobody can know; only ``flush`` confirms that the server read
them.
"""

from __future__ import annotations

from .client import NatsClient
from .connect import NatsOptions
from .errors import (
    NatsArgumentError,
    NatsAuthorizationError,
    NatsBufferFull,
    NatsClosedError,
    NatsConnectionError,
    NatsError,
    NatsPayloadTooLarge,
    NatsProtocolError,
    NatsServerError,
    NatsTimeout,
    NoResponders,
)
from .events import (
    Closed,
    Disconnected,
    Discovered,
    LameDuck,
    Lost,
    LostPublish,
    NatsEvent,
    Reconnected,
    ServerError,
    SlowConsumer,
)
from .handles import NatsStats, Subscription
from .open import open_nats
from .protocol import Msg

__all__ = [
    "Closed",
    "Disconnected",
    "Discovered",
    "LameDuck",
    "Lost",
    "LostPublish",
    "Msg",
    "NatsArgumentError",
    "NatsAuthorizationError",
    "NatsBufferFull",
    "NatsClient",
    "NatsClosedError",
    "NatsConnectionError",
    "NatsError",
    "NatsEvent",
    "NatsOptions",
    "NatsPayloadTooLarge",
    "NatsProtocolError",
    "NatsServerError",
    "NatsStats",
    "NatsTimeout",
    "NoResponders",
    "Reconnected",
    "ServerError",
    "SlowConsumer",
    "Subscription",
    "open_nats",
]

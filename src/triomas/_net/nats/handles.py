"""The small objects the client hands out (a subscription, its counters) or keeps
(what waits for a PONG or a reply)."""

from __future__ import annotations

from collections.abc import Callable
from typing import final

import attrs
import trio

from .protocol import Msg

__all__ = ["NatsStats", "Subscription", "Waiter"]


@final
@attrs.define(eq=False)
class Subscription:
    """A live subscription: ``callback`` gets every message on ``subject`` (within
    queue group ``queue``), synchronously, from the client's reader task."""

    sid: int
    subject: str
    queue: str | None
    callback: Callable[[Msg], object]


@final
@attrs.frozen
class NatsStats:
    """Counters of a client since it opened."""

    msgs_in: int
    bytes_in: int
    msgs_out: int
    bytes_out: int
    reconnects: int


@final
class Waiter:
    """A flush's PING (or a request's reply) waiting for its answer."""

    __slots__ = ("event", "msg", "ok")

    def __init__(self) -> None:
        self.event = trio.Event()
        self.ok = False
        self.msg: Msg | None = None

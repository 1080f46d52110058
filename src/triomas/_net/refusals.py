"""The log of refused connections: a flood of bad peers must not become a flood of
log lines."""

from __future__ import annotations

import logging
from typing import final

import trio

log = logging.getLogger("triomas.network")

LOGGED_REFUSALS = 10
"""Refused connections logged per second; more are counted, not logged one by one."""


@final
class Refusals:
    """Logs refused connections, at most ``LOGGED_REFUSALS`` a second: a flood of bad
    peers must not become a flood of log lines."""

    __slots__ = ("count", "since")

    def __init__(self) -> None:
        self.since = -1.0
        self.count = 0

    def note(self, own: str, peer: str, reason: str) -> None:
        """Container ``own`` refused ``peer`` for ``reason``."""
        now = trio.current_time()
        if now - self.since >= 1.0:
            if self.count > LOGGED_REFUSALS:
                log.warning("%s: %d more connections refused", own, self.count - LOGGED_REFUSALS)
            self.since = now
            self.count = 0
        self.count += 1
        if self.count <= LOGGED_REFUSALS:
            log.warning("%s: refused a connection from %s: %s", own, peer[:200], reason)

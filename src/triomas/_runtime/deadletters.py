"""Logging dead letters without flooding the log (Akka's throttle)."""

from __future__ import annotations

import logging
from typing import final

from .._messages.events import DeadLetter

log = logging.getLogger("triomas.deadletters")


@final
class DeadLetterLog:
    """Logs the first ``burst`` dead letters, then one "suppressed" line, then nothing
    for ``quiet`` seconds of clock time; after that, logging starts again with a count of
    what was left out.
    """

    __slots__ = ("_logged", "_quiet_until", "_suppressed", "burst", "quiet")

    def __init__(self, burst: int = 10, quiet: float = 300.0) -> None:
        self.burst = burst
        self.quiet = quiet
        self._logged = 0
        self._suppressed = 0
        self._quiet_until = -1.0

    def record(self, letter: DeadLetter, now: float, where: str) -> None:
        """Log ``letter`` (reported by container ``where`` at clock time ``now``) if allowed."""
        if self._logged >= self.burst:
            if now < self._quiet_until:
                self._suppressed += 1
                return
            if self._suppressed:
                log.info("%s: %d dead letters were not logged", where, self._suppressed)
            self._logged = 0
            self._suppressed = 0
        self._logged += 1
        log.info(
            "%s: dead letter %r from %s to %s: %s",
            where,
            letter.message,
            letter.sender,
            letter.recipient,
            letter.reason,
        )
        if self._logged == self.burst:
            self._quiet_until = now + self.quiet
            log.info(
                "%s: %d dead letters logged; more are not logged for %g s",
                where,
                self.burst,
                self.quiet,
            )

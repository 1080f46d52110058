"""Logging dead letters without flooding the log (Akka's throttle), loud enough to see."""

from __future__ import annotations

import logging
from typing import final

from .._messages.envelope import Envelope
from .._messages.errors import CalleeDown, DecodeError, EncodeError, MailboxFull, NoHandler
from .._messages.events import DeadLetter, DeadLetterReason, ExitReason, NoProc

log = logging.getLogger("triomas.deadletters")


def undeliverable_error(
    env: Envelope, reason: DeadLetterReason, down: ExitReason | None
) -> BaseException:
    """What the sender of ``env``, waiting for an answer, is told: why it cannot come."""
    if reason is DeadLetterReason.NO_HANDLER:
        return NoHandler(f"{env.receiver} has no handler for {type(env.body).__name__}")
    if reason is DeadLetterReason.UNDECODABLE and isinstance(env.body, DecodeError):
        return env.body
    if reason is DeadLetterReason.SEND_BUFFER_FULL:
        return MailboxFull(f"the send buffer to {env.receiver} is full")
    if reason is DeadLetterReason.TOO_LARGE:
        return EncodeError(
            f"{type(env.body).__name__} is over the frame limit of the container of {env.receiver}"
        )
    return CalleeDown(str(env.receiver), down if down is not None else NoProc())


@final
class _Throttle:
    """The logging state of one reason."""

    __slots__ = ("logged", "quiet_until", "suppressed")

    def __init__(self) -> None:
        self.logged = 0
        self.suppressed = 0
        self.quiet_until = -1.0


@final
class DeadLetterLog:
    """Logs the first ``burst`` dead letters of each reason at WARNING (Python shows
    those by default: a misspelt name, a class sent where an instance belongs, a goal
    with no plan must not pass in silence), then one "suppressed" line, then nothing of
    that reason for ``quiet`` seconds of clock time; after that, logging starts again
    with a count of what was left out. Every dead letter is also an event
    (``Container.on_event``) and counted (``Container.dead_letter_counts``).
    """

    __slots__ = ("_reasons", "burst", "quiet")

    def __init__(self, burst: int = 10, quiet: float = 300.0) -> None:
        self.burst = burst
        self.quiet = quiet
        self._reasons: dict[DeadLetterReason, _Throttle] = {}

    def record(self, letter: DeadLetter, now: float, where: str) -> None:
        """Log ``letter`` (reported by container ``where`` at clock time ``now``) if allowed."""
        state = self._reasons.get(letter.reason)
        if state is None:
            state = self._reasons[letter.reason] = _Throttle()
        if state.logged >= self.burst:
            if now < state.quiet_until:
                state.suppressed += 1
                return
            if state.suppressed:
                log.warning(
                    "%s: %d dead letters (%s) were not logged",
                    where,
                    state.suppressed,
                    letter.reason,
                )
            state.logged = 0
            state.suppressed = 0
        state.logged += 1
        log.warning(
            "%s: dead letter %r from %s to %s: %s",
            where,
            letter.message,
            letter.sender,
            letter.recipient,
            letter.reason,
            extra={
                "container": where,
                "agent": None if letter.sender is None else letter.sender.name,
                "clock": now,
            },
        )
        if state.logged == self.burst:
            state.quiet_until = now + self.quiet
            log.warning(
                "%s: %d dead letters (%s) logged; more are not logged for %g s "
                "(Container.on_event sees every one)",
                where,
                self.burst,
                letter.reason,
                self.quiet,
            )

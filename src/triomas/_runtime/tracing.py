"""The structured trace records of messages: one taken by an agent, one answering an ask,
one that died."""

from __future__ import annotations

from .._messages.envelope import Envelope
from .._messages.events import DeadLetterReason, TraceRecord
from .._messages.ref import AgentRef


def _message(
    now: float, agent: str, event: str, payload: str, kind: str, receiver: str, env: Envelope
) -> TraceRecord:
    return TraceRecord(
        now,
        agent,
        event,
        payload,
        kind=kind,
        sender=None if env.sender is None else env.sender.name,
        receiver=receiver,
        message_type=type(env.body).__name__,
        message_id=env.reply_with,
        in_reply_to=env.in_reply_to,
        sent_at=env.sent_at,
    )


def recv_record(now: float, agent: str, env: Envelope) -> TraceRecord:
    """The trace record of ``agent`` taking ``env`` at clock time ``now``."""
    sender = "-" if env.sender is None else env.sender.name
    return _message(now, agent, "recv", f"{sender} -> {env.body!r}", _kind(env), agent, env)


def dead_record(now: float, env: Envelope, reason: DeadLetterReason) -> TraceRecord:
    """The trace record of ``env`` becoming a dead letter for ``reason``."""
    receiver = env.receiver.name if isinstance(env.receiver, AgentRef) else str(env.receiver)
    return _message(now, receiver, "dead", f"{reason}: {env.body!r}", "dead letter", receiver, env)


def reply_record(now: float, request: Envelope, value: object) -> TraceRecord:
    """The trace record of the answer ``value`` to the ask ``request``, at ``now``."""
    replier = request.receiver.name if isinstance(request.receiver, AgentRef) else None
    asker = "-" if request.sender is None else request.sender.name
    return TraceRecord(
        now,
        asker,
        "reply",
        f"{'-' if replier is None else replier} -> {value!r}",
        kind="reply",
        sender=replier,
        receiver=None if request.sender is None else asker,
        message_type=type(value).__name__,
        in_reply_to=request.reply_with,
        sent_at=now,
    )


def _kind(env: Envelope) -> str:
    if env.reply_with is not None:
        return "ask"
    if env.in_reply_to is not None:
        return "reply"  # an answer that travels as a message (KQML's, FIPA's)
    return "publish" if env.receiver is None else "tell"

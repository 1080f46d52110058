"""A recorded trace as JSON lines and as a Mermaid sequence diagram."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .._messages.events import TraceRecord

_SAFE = re.compile(r"[^A-Za-z0-9_]")


_FIELDS = (
    "time",
    "agent",
    "event",
    "payload",
    "kind",
    "sender",
    "receiver",
    "message_type",
    "message_id",
    "in_reply_to",
    "sent_at",
)


def trace_json_lines(records: Iterable[TraceRecord]) -> str:
    """One JSON object per record and line, with every field of :class:`TraceRecord`
    (``time``, ``agent``, ``event``, ``payload``, then the structured ones)."""
    return "".join(
        json.dumps({name: getattr(r, name) for name in _FIELDS}, ensure_ascii=False) + "\n"
        for r in records
    )


def read_trace(text: str) -> list[TraceRecord]:
    """The records :func:`trace_json_lines` wrote; :exc:`ValueError` names a bad line."""
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
            records.append(
                TraceRecord(
                    float(item["time"]),
                    str(item["agent"]),
                    str(item["event"]),
                    str(item["payload"]),
                    **{name: item.get(name) for name in _FIELDS[4:] if item.get(name) is not None},
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"line {number} is not a trace record: {exc}") from None
    return records


def mermaid(records: Iterable[TraceRecord], *, limit: int = 500) -> str:
    """A Mermaid ``sequenceDiagram`` of a trace: an arrow per message handled (``recv``)
    from its sender, a dashed one per answer to an ask (``reply``), a note for each
    start, crash, restart, stop and dead letter, in
    trace order; at most ``limit`` lines of them (a note says how many were left out)."""
    lines = ["sequenceDiagram"]
    ids: dict[str, str] = {}

    def who(name: str) -> str:
        known = ids.get(name)
        if known is None:
            known = ids[name] = f"a{len(ids)}_{_SAFE.sub('_', name)[:40]}"
            lines.append(f"    participant {known} as {_text(name)}")
        return known

    body: list[str] = []
    left_out = 0
    for r in records:
        if len(body) >= limit:
            left_out += 1
            continue
        if r.event == "recv":
            sender, _, what = r.payload.partition(" -> ")
            source = "outside" if sender == "-" else sender
            body.append(f"    {who(source)}->>{who(r.agent)}: t={r.time:g} {_text(what)}")
        elif r.event == "reply":
            replier, _, what = r.payload.partition(" -> ")
            asker = "outside" if r.agent == "-" else r.agent
            body.append(f"    {who(replier)}-->>{who(asker)}: t={r.time:g} {_text(what)}")
        elif r.event in ("setup", "restart", "stop", "dead"):
            note = f"t={r.time:g} {r.event} {_text(r.payload)}".rstrip()
            body.append(f"    Note over {who(r.agent)}: {note}")
    lines.extend(body)
    if left_out:
        first = next(iter(ids.values()), None) or who("outside")
        lines.append(f"    Note over {first}: {left_out} more records left out")
    return "\n".join(lines) + "\n"


def _text(text: str) -> str:
    # Mermaid ends a message at a newline and reads ; and # specially
    return text.replace("\n", " ").replace(";", ",").replace("#", "No.")[:120]

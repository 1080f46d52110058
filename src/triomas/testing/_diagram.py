"""A recorded trace as JSON lines and as a Mermaid sequence diagram."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from .._messages.events import TraceRecord

_SAFE = re.compile(r"[^A-Za-z0-9_]")


def trace_json_lines(records: Iterable[TraceRecord]) -> str:
    """One JSON object per record and line: ``time``, ``agent``, ``event``, ``payload``."""
    return "".join(
        json.dumps(
            {"time": r.time, "agent": r.agent, "event": r.event, "payload": r.payload},
            ensure_ascii=False,
        )
        + "\n"
        for r in records
    )


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
        lines.append(f"    Note over {who('outside')}: {left_out} more records left out")
    return "\n".join(lines) + "\n"


def _text(text: str) -> str:
    # Mermaid ends a message at a newline and reads ; and # specially
    return text.replace("\n", " ").replace(";", ",").replace("#", "No.")[:120]

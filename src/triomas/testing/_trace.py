"""Recording a run's trace."""

from __future__ import annotations

from typing import final

from .._messages.events import TraceRecord


@final
class TraceRecorder:
    """A trace hook that keeps every :class:`TraceRecord`; pass it as ``trace=``.

    ``str(recorder)`` is the whole trace as text, one record a line, so two runs
    can be compared byte for byte.
    """

    def __init__(self) -> None:
        self.records: list[TraceRecord] = []

    def __call__(self, record: TraceRecord) -> None:
        self.records.append(record)

    def __str__(self) -> str:
        return "".join(f"{record}\n" for record in self.records)

    def events(self, event: str) -> list[TraceRecord]:
        """The records of one kind (``"recv"``, ``"stop"``, ...)."""
        return [record for record in self.records if record.event == event]

"""Recording a run's trace, and asserting on it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, final

from .._messages.events import TraceRecord
from .._runtime.run import run
from .._time.clock import VirtualClock

_MESSAGE_KINDS = frozenset({"tell", "ask", "reply", "publish"})


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

    def messages(
        self,
        *,
        sender: str | None = None,
        receiver: str | None = None,
        type: type | str | None = None,
        kind: str | None = None,
    ) -> list[TraceRecord]:
        """The messages handled (``tell``, ``ask``, ``reply`` and ``publish`` records), in order,
        filtered by sender and receiver name, message type (a class or its name) and kind."""
        type_name = type if type is None or isinstance(type, str) else type.__name__
        return [
            r
            for r in self.records
            if r.kind in _MESSAGE_KINDS
            and (sender is None or r.sender == sender)
            and (receiver is None or r.receiver == receiver)
            and (type_name is None or r.message_type == type_name)
            and (kind is None or r.kind == kind)
        ]

    def dead_letters(self) -> list[TraceRecord]:
        """The dead-letter records, in order."""
        return [r for r in self.records if r.kind == "dead letter"]


Step = tuple[str | None, str | None, "type | str | None"]
"""One expected message: ``(sender, receiver, type)``; None matches anything."""


def _fits(step: Step, record: TraceRecord) -> bool:
    sender, receiver, kind = step
    name = kind if kind is None or isinstance(kind, str) else kind.__name__
    return (
        (sender is None or record.sender == sender)
        and (receiver is None or record.receiver == receiver)
        and (name is None or record.message_type == name)
    )


def assert_trace(trace: TraceRecorder, expected: Sequence[Step], *, ordered: bool = True) -> None:
    """Assert that the trace has a handled message for each ``(sender, receiver, type)``
    of ``expected`` (None matches anything): in that order if ``ordered`` (others may
    come between), each matched by a different record."""
    messages = trace.messages()
    used: set[int] = set()
    start = 0
    for step in expected:
        found = next(
            (
                i
                for i in range(start if ordered else 0, len(messages))
                if i not in used and _fits(step, messages[i])
            ),
            None,
        )
        if found is None:
            seen = "".join(f"\n  {r}" for r in messages[-30:]) or " none"
            raise AssertionError(
                f"no message {step!r} in the trace"
                f"{' after the ones matched before' if ordered and start else ''}; "
                f"the messages handled:{seen}"
            )
        used.add(found)
        start = found + 1


def assert_no_dead_letters(trace: TraceRecorder) -> None:
    """Assert that nothing in the trace became a dead letter."""
    dead = trace.dead_letters()
    if dead:
        raise AssertionError(f"{len(dead)} dead letters:" + "".join(f"\n  {r}" for r in dead[:30]))


def assert_deterministic(
    main: Callable[..., Awaitable[Any]], *args: Any, seed: int | str = 1, runs: int = 3
) -> str:
    """Run ``main(*args)`` ``runs`` times in virtual time with ``seed`` and assert that
    every run records the same trace, byte for byte; that trace, as text.

    The containers ``main`` opens without a trace of their own are traced (see
    :func:`triomas.run`'s ``trace``). Call it from a plain (not ``async``) test.
    """
    if runs < 2:
        raise ValueError("comparing runs needs at least 2 of them")
    first: str | None = None
    for n in range(runs):
        recorder = TraceRecorder()
        run(main, *args, clock=VirtualClock(), seed=seed, trace=recorder)
        text = str(recorder)
        if first is None:
            first = text
        elif text != first:
            a, b = first.splitlines(), text.splitlines()
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), None)
            where = min(len(a), len(b)) if at is None else at
            raise AssertionError(
                f"run {n + 1} differs from run 1 at trace line {where + 1}:\n"
                f"  run 1: {a[where] if where < len(a) else '(ended)'}\n"
                f"  run {n + 1}: {b[where] if where < len(b) else '(ended)'}"
            )
    assert first is not None
    return first

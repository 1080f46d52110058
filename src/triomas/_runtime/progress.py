"""Progress of a long run: ``Container.run(seconds=T, progress=True)`` runs in slices and
reports after each one, to a :class:`Progress` (a rich bar by default)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, final

if TYPE_CHECKING:
    from .container import RunReport
    from .run import RunEnd

SLICES = 100
"""How many slices a run with progress is cut into."""


class Progress(Protocol):
    """What a run with progress reports to: a rich bar, tqdm, a log line, a test."""

    def start(self, start: float, end: float) -> None:
        """The run goes from clock time ``start`` to ``end`` at the latest."""
        ...

    def update(self, now: float, rounds: int) -> None:
        """The clock is at ``now``; ``rounds`` delivery rounds so far (0 in real time)."""
        ...

    def stop(self, report: RunReport) -> None:
        """The run ended, as ``report`` says."""
        ...


@final
class RichProgress:
    """A rich progress bar: clock time reached, rounds per second, time left."""

    def __init__(self) -> None:
        from rich.progress import (  # the terminal's: loaded only when a bar is shown
            BarColumn,
            TextColumn,
            TimeRemainingColumn,
        )
        from rich.progress import (
            Progress as Bar,
        )

        self._bar = Bar(
            TextColumn("t={task.completed:.6g} of {task.total:.6g}"),
            BarColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            auto_refresh=False,
        )
        self._task: Any = None
        self._start = 0.0
        self._began = time.perf_counter()
        self._rounds = 0

    def start(self, start: float, end: float) -> None:
        """Show the bar."""
        self._start = start
        self._began = time.perf_counter()
        self._bar.start()
        self._task = self._bar.add_task("run", total=end - start, rate="")

    def update(self, now: float, rounds: int) -> None:
        """Move the bar."""
        elapsed = time.perf_counter() - self._began
        rate = f"{rounds / elapsed:,.0f} rounds/s" if rounds and elapsed > 0 else ""
        self._bar.update(self._task, completed=now - self._start, rate=rate)
        self._bar.refresh()

    def stop(self, report: RunReport) -> None:
        """Take the bar down."""
        self._bar.stop()


async def run_in_slices(
    progress: Progress,
    now: Callable[[], float],
    seconds: float,
    run_slice: Callable[[float], Awaitable[RunReport]],
    report: Callable[[RunEnd, float, int], RunReport],
) -> RunReport:
    """Run ``seconds`` of clock time as :data:`SLICES` calls of ``run_slice(seconds)``,
    reporting after each; stop early when a slice ends for another reason than time."""
    start = now()
    end = start + seconds
    progress.start(start, end)
    rounds = 0
    step = seconds / SLICES
    result: RunReport | None = None
    try:
        while True:
            left = end - now()
            part = await run_slice(min(step, left) if left > 0 else 0.0)
            rounds += part.rounds
            progress.update(now(), rounds)
            if part.reason != "seconds" or now() >= end:
                result = report(part.reason, part.time, rounds)
                return result
    finally:
        progress.stop(result if result is not None else report("stopped", now(), rounds))

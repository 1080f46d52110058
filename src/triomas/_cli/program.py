"""``triomas run``: a program's ``main`` in real or virtual time, with a trace file."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import click
import trio

from .._node import load
from .._runtime.run import run as run_main
from .._time.clock import Clock, RealClock, VirtualClock
from ..testing._diagram import trace_json_lines
from ..testing._trace import TraceRecorder
from .common import fail_cleanly


@click.command()
@click.argument("target", metavar="MODULE:MAIN")
@click.option("--virtual", is_flag=True, help="in virtual time (a VirtualClock)")
@click.option("--seed", type=int, default=None, help="the run's seed (default: a fresh one)")
@click.option(
    "--until",
    type=float,
    default=None,
    metavar="T",
    help="stop the program at clock time T, if it still runs then (virtual time too)",
)
@click.option(
    "--progress", is_flag=True, help="a progress bar for each run(seconds=...) of the program"
)
@click.option(
    "--trace",
    "trace_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the run's trace here, as JSON lines (for `triomas trace`)",
)
def run(
    target: str,
    virtual: bool,
    seed: int | None,
    until: float | None,
    progress: bool,
    trace_file: Path | None,
) -> None:
    """Run the async function MODULE:MAIN (taking no arguments) under triomas.run."""
    try:
        main = load(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise click.UsageError(f"cannot load {target}: {exc}") from None
    if not inspect.iscoroutinefunction(main):
        raise click.UsageError(f"{target} is not an async function")
    recorder = TraceRecorder() if trace_file is not None else None
    clock = VirtualClock() if virtual else RealClock()
    if until is not None:
        main = _until(main, clock, until)
    try:
        fail_cleanly(
            lambda: run_main(
                main,
                clock=clock,
                seed=seed,
                trace=recorder,
                progress=progress,
            )
        )
    finally:
        if recorder is not None and trace_file is not None:
            trace_file.write_text(trace_json_lines(recorder.records), encoding="utf-8")


def _until(
    main: Callable[[], Awaitable[Any]], clock: Clock, until: float
) -> Callable[[], Awaitable[Any]]:
    """``main``, cancelled at clock time ``until`` if it has not returned by then."""

    async def bounded() -> Any:
        with trio.CancelScope() as scope:
            # not blocking: a run that goes idle before ``until`` is not kept waiting
            timer = clock.call_at(until, scope.cancel, blocking=False)
            try:
                return await main()
            finally:
                timer.cancel()
        click.echo(f"stopped at clock time {clock.now():g} (--until {until:g})", err=True)
        return None

    return bounded

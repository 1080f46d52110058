"""``triomas run``: a program's ``main`` in real or virtual time, with a trace file."""

from __future__ import annotations

import inspect
from pathlib import Path

import click

from .._node import load
from .._runtime.run import run as run_main
from .._time.clock import RealClock, VirtualClock
from ..testing._diagram import trace_json_lines
from ..testing._trace import TraceRecorder
from .common import fail_cleanly


@click.command()
@click.argument("target", metavar="MODULE:MAIN")
@click.option("--virtual", is_flag=True, help="in virtual time (a VirtualClock)")
@click.option("--seed", type=int, default=None, help="the run's seed (default: a fresh one)")
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
    target: str, virtual: bool, seed: int | None, progress: bool, trace_file: Path | None
) -> None:
    """Run the async function MODULE:MAIN (taking no arguments) under triomas.run."""
    try:
        main = load(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise click.UsageError(f"cannot load {target}: {exc}") from None
    if not inspect.iscoroutinefunction(main):
        raise click.UsageError(f"{target} is not an async function")
    recorder = TraceRecorder() if trace_file is not None else None
    try:
        fail_cleanly(
            lambda: run_main(
                main,
                clock=VirtualClock() if virtual else RealClock(),
                seed=seed,
                trace=recorder,
                progress=progress,
            )
        )
    finally:
        if recorder is not None and trace_file is not None:
            trace_file.write_text(trace_json_lines(recorder.records), encoding="utf-8")

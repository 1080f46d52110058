"""``triomas mosaik``: a container of agents as a simulator of a mosaik World."""

from __future__ import annotations

import signal
from pathlib import Path

import attrs
import click
import trio

from .._node import load
from ..mosaik import Simulator, connect, listen
from ..testing._diagram import trace_json_lines
from ..testing._trace import TraceRecorder
from .common import fail_cleanly


@click.command()
@click.argument("target", metavar="MODULE:SIM")
@click.argument("addr", metavar="HOST:PORT", required=False)
@click.option(
    "--listen",
    "listen_at",
    metavar="HOST:PORT",
    help="wait here for mosaik's connect starter (port 0 picks one); prints the address",
)
@click.option("--seed", type=int, default=None, help="the container's seed (else the sim's)")
@click.option(
    "--trace",
    "trace_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the container's trace here, as JSON lines (for `triomas trace`)",
)
@click.option("--max-frame", type=int, default=None, help="the largest frame taken from mosaik")
def mosaik(
    target: str,
    addr: str | None,
    listen_at: str | None,
    seed: int | None,
    trace_file: Path | None,
    max_frame: int | None,
) -> None:
    """Be the mosaik simulator MODULE:SIM (a triomas.mosaik.Simulator).

    With HOST:PORT, connect to mosaik there: its cmd starter runs
    `%(python)s -m triomas mosaik pkg.mod:sim %(addr)s`. With --listen, wait for its
    connect starter. The process ends when mosaik stops the simulator.
    """
    if (addr is None) == (listen_at is None):
        raise click.UsageError("give mosaik's HOST:PORT or --listen HOST:PORT (one of them)")
    try:
        sim = load(target)
    except (ImportError, AttributeError, ValueError) as exc:
        raise click.UsageError(f"cannot load {target}: {exc}") from None
    if not isinstance(sim, Simulator):
        raise click.UsageError(
            f"{target} is a {type(sim).__name__}, not a triomas.mosaik.Simulator"
        )
    recorder = TraceRecorder() if trace_file is not None else None
    sim = attrs.evolve(
        sim,
        seed=sim.seed if seed is None else seed,
        trace=sim.trace if recorder is None else recorder,
        max_frame=sim.max_frame if max_frame is None else max_frame,
    )

    async def main() -> None:
        error: Exception | None = None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_end_on_sigterm, nursery.cancel_scope)
            try:
                if listen_at is not None:
                    await listen(sim, listen_at, task_status=_Announce())
                else:
                    assert addr is not None
                    await connect(sim, addr)
            except Exception as exc:  # raised below, outside the nursery (no group)
                error = exc
            nursery.cancel_scope.cancel()
        if error is not None:
            raise error

    # mosaik's cmd starter terminates the process as soon as the connection closes: the
    # container closes and the trace is written all the same (in trio, the signal ends
    # the run; after it, it is too late to matter).
    previous = signal.signal(signal.SIGTERM, _finishing)
    try:
        fail_cleanly(lambda: trio.run(main))
    finally:
        if recorder is not None and trace_file is not None:
            trace_file.write_text(trace_json_lines(recorder.records), encoding="utf-8")
        signal.signal(signal.SIGTERM, previous)


def _finishing(signum: int, frame: object) -> None:
    """SIGTERM outside the trio run: the process is ending anyway."""


class _Announce:
    """Prints the address ``listen`` listens at, for whoever started the command."""

    def started(self, value: str | None = None) -> None:
        print(f"listening at {value}", flush=True)


async def _end_on_sigterm(scope: trio.CancelScope) -> None:
    with trio.open_signal_receiver(signal.SIGTERM) as signals:
        async for _ in signals:
            scope.cancel()
            return

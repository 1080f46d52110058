"""The child processes of the asyncio peers' network workloads (aiomas, mango).

``_aiomas_bench.py`` and ``_mango_bench.py`` are also the scripts their callees run in a
child process. Such a child binds 127.0.0.1 port 0, prints ``peer-server <host>:<port>``
once it listens, and serves until its stdin closes; :func:`peer_server` starts one,
reads that line and kills the child by its pid on the way out. It imports nothing of
trio or triomas, so that the child starts quickly.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

READY = "peer-server "
DEADLINE = 300.0
"""Seconds a client's whole repetition may take (``asyncio.timeout``), so that a lost
reply fails the workload instead of hanging the run."""


@contextmanager
def peer_server(script: str, *args: str) -> Iterator[tuple[str, int, int]]:
    """Run ``python script *args`` for the ``with`` block; yield the ``(host, port)`` it
    prints after :data:`READY`, and its pid. The child is killed (by pid) and reaped on
    the way out, whatever happens."""
    process = subprocess.Popen(
        [sys.executable, script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        readable, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().strip() if readable else ""
        if not line.startswith(READY):
            raise RuntimeError(
                f"{Path(script).name} {' '.join(args)} printed {line!r} "
                f"(exit status {process.poll()})"
            )
        host, _, port = line[len(READY) :].rpartition(":")
        yield host, int(port), process.pid
    finally:
        process.kill()
        process.wait(10)
        if process.stdin is not None:
            process.stdin.close()
        if process.stdout is not None:
            process.stdout.close()


def announce(host: str, port: int) -> None:
    """In the child: say where it listens (the line :func:`peer_server` waits for)."""
    print(f"{READY}{host}:{port}", flush=True)


async def stdin_closed() -> None:
    """In the child: return once stdin is closed (or the parent is gone)."""
    loop = asyncio.get_running_loop()
    closed = loop.create_future()
    fd = sys.stdin.fileno()

    def on_readable() -> None:
        if not os.read(fd, 4096) and not closed.done():
            loop.remove_reader(fd)
            closed.set_result(None)

    loop.add_reader(fd, on_readable)
    await closed

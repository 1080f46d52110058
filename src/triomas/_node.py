"""Containers in child processes: ``spawn_container`` and the ``python -m triomas node``
entry point it starts."""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import ssl
import subprocess
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, final

import trio

from ._agent.agent import Agent
from ._agent.rpc import Proxy, expose
from ._messages.errors import TriomasError
from ._messages.ref import AgentRef
from ._net.network import Network
from ._open import open_container
from ._runtime.container import adopt, network_of

if TYPE_CHECKING:
    from ._runtime.container import Container

log = logging.getLogger("triomas.node")

READY = "triomas-node "
"""What a node prints, followed by its address, once it listens."""

NODE_AGENT = "node"
"""The name of the agent through which a node is controlled."""

_SECRET_ENV = "TRIOMAS_SECRET"
_ALLOW_ENV = "TRIOMAS_ALLOW"


def load(path: str) -> Any:
    """The object at ``"package.module:attribute"`` (or ``package.module.attribute``),
    importing the module. Only for paths the user gave (a codec on the command line),
    never for one a peer named: see :class:`AllowList`."""
    module_name, attr = _split(path)
    obj = _import(module_name, attr)
    if obj is None:
        raise AttributeError(f"{module_name} has no attribute {attr}")
    return obj


def _import(module_name: str, attr: str) -> Any:
    """The attribute at dotted ``attr`` of the module, imported; None if it has none."""
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part, None)
    return obj


def _split(path: str) -> tuple[str, str]:
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ValueError(f"{path!r} is not an import path like 'package.module:Name'")
    return module_name, attr


def _importable(cls: type) -> bool:
    """Whether another process can import ``cls`` by its module and name."""
    return cls.__module__ != "__main__" and "<locals>" not in cls.__qualname__


def class_path(cls: type) -> str:
    """``cls``'s import path, ``"package.module:Class"``."""
    if not _importable(cls):
        raise ValueError(
            f"{cls.__qualname__} cannot be imported by name (it is defined in __main__ or "
            "in a function): give its import path as a string"
        )
    return f"{cls.__module__}:{cls.__qualname__}"


@final
class AllowList:
    """The agent classes a node may start when a peer asks: whole modules
    (``"package.module"``) or single classes (``"package.module:Class"``).

    A module is imported only if it is on the list; a peer never makes the node
    import anything else, so no import-time code runs because a peer named it.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        self.modules: set[str] = set()
        self.classes: set[str] = set()
        for entry in entries:
            entry = entry.strip()
            if not entry:
                continue
            if ":" in entry:
                module_name, attr = _split(entry)
                self.classes.add(f"{module_name}:{attr}")
            else:
                self.modules.add(entry)

    def resolve(self, path: str) -> type[Agent]:
        """The agent class at ``path``; :exc:`PermissionError` if it is not allowed,
        :exc:`TypeError` if it is not an :class:`Agent` subclass."""
        try:
            module_name, attr = _split(path)
        except ValueError:
            raise PermissionError(f"{path!r:.200} is not on this node's allow-list") from None
        if f"{module_name}:{attr}" not in self.classes and module_name not in self.modules:
            raise PermissionError(
                f"{path!r:.200} is not on this node's allow-list (spawn_container(allow=...) "
                "or python -m triomas node --allow)"
            )
        obj = _import(module_name, attr)
        if not (isinstance(obj, type) and issubclass(obj, Agent)):
            raise TypeError(f"{path} is not an Agent subclass")
        if obj.__module__ != module_name:
            # Only what the allowed module defines, not what it imported.
            raise PermissionError(f"{path} is defined in {obj.__module__}, not {module_name}")
        return obj


def known_agent_classes() -> list[str]:
    """The import paths of every :class:`Agent` subclass this process has defined
    (and could be imported by name): what a node allows by default."""
    found: list[str] = []
    seen: set[type] = set()
    todo = list(Agent.__subclasses__())
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if _importable(cls):
            found.append(class_path(cls))
    return sorted(found)


@final
class NodeAgent(Agent):
    """Runs in a node: spawns agents there by import path (allowed ones only), lists
    them, and stops the node."""

    def __init__(self, stop_node: trio.Event, allow: AllowList) -> None:
        self._stop_node = stop_node
        self._allow = allow

    @expose
    async def start_agent(
        self, path: str, args: list[Any], kwargs: dict[str, Any], name: str | None
    ) -> str:
        """Spawn ``path``'s agent class with these arguments; return its address."""
        if not isinstance(path, str):
            raise TypeError("the agent class is given by its import path, a string")
        cls = self._allow.resolve(path)
        ref = await self.container.spawn(cls, *args, name=name, **kwargs)
        return ref.address

    @expose
    def agents(self) -> list[str]:
        """Addresses of the agents alive in the node."""
        return [ref.address for ref in self.container.agents()]

    @expose
    def stats(self) -> dict[str, Any]:
        """The node's :meth:`Container.stats`, as plain values."""
        return self.container.stats().as_dict()

    @expose
    def shutdown(self) -> None:
        """Stop the node: its agents stop, then the process exits."""
        self._stop_node.set()


async def run_node(
    address: str,
    secret: str | None,
    codec_path: str | None,
    watch_stdin: bool = False,
    allow: Iterable[str] = (),
    *,
    start: Iterable[tuple[str, str]] = (),
    ssl_server: ssl.SSLContext | None = None,
    ssl_client: ssl.SSLContext | None = None,
    name: str | None = None,
    heartbeat: float | None = 5.0,
) -> None:
    """The body of ``triomas node``: serve until told to stop, SIGTERM or SIGINT (a
    second one forces the stop), or (``watch_stdin``, as :func:`spawn_container` asks)
    until the parent process closes our stdin. ``allow``: the agent classes peers may
    start here; ``start``: ``(name, import path)`` of agents to start at once."""

    codec = load(codec_path) if codec_path else None
    allowed = AllowList(allow)
    if address.startswith("nats://"):
        log.info("%s: who may reach this node is the NATS server's to say", address)
    elif secret is None:
        log.warning(
            "this node has no shared secret: anyone who reaches %s can list, start and stop "
            "its agents",
            address,
        )
    stop_node = trio.Event()
    async with trio.open_nursery() as signals:
        # The signal watcher outlives the container: a second signal during the
        # orderly stop still finds it.
        signals.start_soon(_watch_signals, stop_node)
        async with open_container(
            address,
            secret=secret,
            codec=codec,
            ssl_server=ssl_server,
            ssl_client=ssl_client,
            heartbeat=heartbeat,
            name=name,
        ) as container:
            await container.spawn(
                NodeAgent, stop_node, allowed, name=NODE_AGENT, restart="permanent"
            )
            for name, path in start:
                await container.spawn(allowed.resolve(path), name=name)
            print(READY + container.address, flush=True)
            async with trio.open_nursery() as nursery:
                if watch_stdin:
                    nursery.start_soon(_watch_parent, stop_node)
                await stop_node.wait()
                nursery.cancel_scope.cancel()
        signals.cancel_scope.cancel()


async def _watch_parent(stop_node: trio.Event) -> None:
    async with trio.lowlevel.FdStream(os.dup(sys.stdin.fileno())) as stdin:
        while await stdin.receive_some():
            pass
    log.info("the parent process closed our stdin: stopping")
    stop_node.set()


async def _watch_signals(stop_node: trio.Event) -> None:
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for _ in signals:
            if stop_node.is_set():
                log.warning("a second signal: stopping at once")
                os._exit(1)  # the orderly stop is stuck; the operator insists
            log.info("stopping: the agents stop in order (a second signal forces it)")
            stop_node.set()


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

    async def spawn(
        self, cls: str | type[Agent], *args: Any, name: str | None = None, **kwargs: Any
    ) -> AgentRef:
        """Spawn an agent in the node, its class given by import path
        (``"package.module:Class"``) or as the class itself; the class must be on the
        node's allow-list, and the arguments must be able to travel. Returns its
        reference."""
        path = cls if isinstance(cls, str) else class_path(cls)
        address = await self._proxy.start_agent(path, list(args), kwargs, name)
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
    allow: Iterable[str | type[Agent]] | None = None,
    codec: str | None = None,
    python: str = sys.executable,
    env: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> Node:
    """Start a container in a child process, listening at ``address``; return its handle.

    ``container`` is this process's network container, through which the node is
    controlled; the node is stopped when it closes (and exits by itself if this
    process dies).

    ``secret``: the node's shared secret. By default it is ``container``'s own
    secret if it has one, else a random one made for this container's nodes: then
    only this container and its other nodes can reach the node at all, and
    ``container`` uses it with the node alone (see :meth:`Network.trust`).

    ``allow``: the agent classes the node may start (:meth:`Node.spawn`), as classes,
    import paths ``"package.module:Class"``, or whole modules ``"package.module"``.
    By default, every :class:`Agent` subclass this process has defined in an
    importable module. The node imports nothing else because a peer named it.

    ``codec``: the import path of a :class:`Codec` with your hooks. The child runs
    ``python -m triomas node``, which also works by hand.
    """
    network = network_of(container)
    if not isinstance(network, Network):
        raise ValueError(f"{container.address} has no network: open it at tcp:// or unix://")
    entries = (
        known_agent_classes()
        if allow is None
        else [entry if isinstance(entry, str) else class_path(entry) for entry in allow]
    )
    AllowList(entries)  # a malformed entry fails here, not in the child
    if secret is None:
        secret = network.options.secret or network.node_secret()
    key = secret.encode() if isinstance(secret, str) else secret
    command = [python, "-m", "triomas", "node", "--address", address, "--watch-stdin"]
    if codec is not None:
        command += ["--codec", codec]
    child_env = dict(os.environ if env is None else env)
    child_env[_SECRET_ENV] = key.decode()
    child_env[_ALLOW_ENV] = "\n".join(entries)
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
        network.trust(node_address, key)
        proxy = await container.connect(f"{node_address}/{NODE_AGENT}", timeout=timeout)
    except BaseException:
        with trio.CancelScope(shield=True):
            process.kill()
            await process.wait()
        raise
    node = Node(node_address, process, proxy)
    stdout = process.stdout
    adopt(container, node, lambda: _relay_output(stdout, rest))
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


def allow_from_env() -> list[str]:
    """The allow-list handed to a node by its parent, if any."""
    return [entry for entry in os.environ.get(_ALLOW_ENV, "").split("\n") if entry]

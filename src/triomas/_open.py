"""``open_container``: a container's life as an ``async with`` block."""

from __future__ import annotations

import contextlib
import math
import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import trio

from ._messages.codec import Codec
from ._messages.events import TraceRecord
from ._net.cluster import Broker, connect_broker
from ._net.network import Network, NetworkOptions
from ._net.subjects import split_nats_address
from ._net.transport import client_address, transport_for
from ._net.virtual import SimNetwork
from ._net.wire import MAX_FRAME
from ._runtime.container import (
    Container,
    allow_dial_out,
    attach_network,
    body_scope,
    close,
    failure,
    inbound,
    mark_closed,
    network_of,
)
from ._runtime.ports import Remote
from ._runtime.run import run_defaults
from ._time.clock import Clock, RealClock


@asynccontextmanager
async def open_container(
    address: str | None = None,
    *,
    clock: Clock | None = None,
    seed: int | str | None = None,
    trace: Callable[[TraceRecord], object] | None = None,
    max_restarts: int = 3,
    period: float = 5.0,
    shutdown_timeout: float = math.inf,
    codec: Codec | None = None,
    strict: bool = False,
    secret: bytes | str | None = None,
    ssl_server: ssl.SSLContext | None = None,
    ssl_client: ssl.SSLContext | None = None,
    max_frame: int = MAX_FRAME,
    send_buffer: int = 16 * 1024 * 1024,
    handshake_timeout: float = 10.0,
    reconnect_timeout: float = 10.0,
    max_handshakes: int = 64,
    heartbeat: float | None = 5.0,
    missed_beats: int = 3,
    network: SimNetwork | None = None,
    name: str | None = None,
    servers: Sequence[str] = (),
    nkey_seed: str | None = None,
) -> AsyncIterator[Container]:
    """Open a container; on exit its agents are stopped in reverse spawn order.

    ``address`` says where the container lives and how others reach it:

    - ``None`` or ``local://name``: it listens nowhere (agents of other local
      containers of the run reach it by reference, without copying), but dials out: the
      first message to a network address opens a connection, and the answers and any
      mail for its agents come back over it (on the network it goes by a random
      ``client://`` address);
    - ``tcp://host:port`` (port 0 picks a free port), ``unix:///path/to.sock``, or
      ``memory://name`` (in-process streams, for tests): agents in other containers,
      processes and machines reach it over the network, and it reaches theirs.
      :attr:`Container.address` is the address it listens at;
    - ``nats://host:4222`` (or ``tls://``, with ``user:password@`` or ``token@`` if the
      server wants them): the container joins the NATS cluster of that server as
      ``name`` (a random one if None; ``nats://host:4222/name`` says it too), and
      every container of the cluster reaches its agents at
      ``nats://host:4222/name/agent``. ``servers`` are more URLs of the cluster to
      fail over to, ``nkey_seed`` a user nkey seed for the server's challenge,
      ``ssl_client`` the TLS context (see ``docs/cluster.md``).

    ``clock`` and ``seed`` default to those given to :func:`triomas.run` (else a real
    clock and a fresh seed). ``trace`` receives a :class:`TraceRecord` for every step
    worth recording.

    The container's root supervisor restarts the agents spawned on it (one for
    one); more than ``max_restarts`` restarts within ``period`` clock seconds make
    it give up: the body of the ``async with`` is cancelled, every agent is
    stopped, and :exc:`SupervisorEscalation` is raised here.

    On exit, agents stop in reverse spawn order, each within its own ``shutdown``;
    whatever is still running ``shutdown_timeout`` clock seconds after the stop
    began is cancelled at once, teardowns included. Then the connections close.

    The network options: ``codec`` (default: one shared :class:`Codec`);
    ``strict`` passes local messages and replies through the codec too, to catch
    what would fail remotely; ``secret``, a shared secret every peer must prove it
    knows (an HMAC challenge in the handshake); ``ssl_server`` and ``ssl_client``
    to speak TLS as acceptor and as dialer; ``max_frame``, the largest frame
    accepted (bytes); ``send_buffer``, the bytes that may wait for one peer before
    further messages become dead letters; ``handshake_timeout`` and
    ``reconnect_timeout`` in seconds (after the latter, messages waiting for an
    unreachable peer become dead letters); ``max_handshakes``, how many inbound
    connections may be in the handshake at once (past it, the oldest is dropped);
    ``heartbeat``, the seconds between the small frames that tell each peer this
    container is alive (None: none), and ``missed_beats``: a peer silent for that
    many of its heartbeats is declared down (its asks fail with :exc:`CalleeDown`,
    what waits for it becomes dead letters, monitors of its agents get
    ``Down(noconnection)``).

    ``network``: a :class:`SimNetwork` to join (``local://`` containers only): the
    container then reaches the network's other members through it, with its
    simulated latency and loss, instead of by reference.
    """
    defaults = run_defaults()
    defaults.containers += 1
    clock = clock if clock is not None else defaults.clock
    if address is None:
        address = f"local://c{defaults.containers}"
    local = address.startswith("local://")
    if local and len(address) == len("local://"):
        raise ValueError("local:// needs a container name")
    if address in defaults.open:
        raise ValueError(f"a container {address} is already open in this run")
    if max_handshakes < 1:
        raise ValueError("max_handshakes must be at least 1")
    if heartbeat is not None and not 0 < heartbeat < 2**31 / 1000:
        raise ValueError(
            f"heartbeat must be a positive number of seconds or None, not {heartbeat!r}"
        )
    if missed_beats < 1:
        raise ValueError("missed_beats must be at least 1")
    nats = address.startswith(("nats://", "tls://"))
    server = ""
    cluster_name = ""
    if nats:
        server, cluster_name = split_nats_address(address, name)
        address = f"nats://{server.partition('://')[2].rpartition('@')[2]}/{cluster_name}"
    elif name is not None:
        raise ValueError(f"name= is for nats:// containers; {address} names itself")
    transport = None if local or nats else transport_for(address)
    if network is not None and not local:
        raise ValueError(f"{address}: only local:// containers join a SimNetwork")
    if (transport is not None or nats) and not isinstance(clock, RealClock):
        raise ValueError(
            f"{address}: network containers run in real time; "
            "simulate several containers in virtual time with local:// addresses"
        )
    options = NetworkOptions(
        secret=secret.encode() if isinstance(secret, str) else secret,
        ssl_server=ssl_server,
        ssl_client=ssl_client,
        max_frame=max_frame,
        max_buffer=send_buffer,
        handshake_timeout=handshake_timeout,
        reconnect_timeout=reconnect_timeout,
        max_handshakes=max_handshakes,
        heartbeat=heartbeat or 0.0,
        missed_beats=missed_beats,
    )
    listeners: list[trio.abc.Listener[trio.abc.Stream]] = []
    if transport is not None:
        listeners, address = await transport.listen(address)
    body_error: BaseException | None = None
    remote: Remote | None = None
    broker: Broker | None = None
    stack = contextlib.AsyncExitStack()
    if nats:
        broker = await stack.enter_async_context(
            connect_broker(
                [server, *servers],
                cluster_name,
                ssl_context=ssl_client,
                nkey_seed=nkey_seed,
                reconnect_timeout=reconnect_timeout,
                send_buffer=send_buffer,
            )
        )
    try:
        async with stack, trio.open_nursery() as nursery:
            container = Container(
                address,
                clock,
                seed if seed is not None else defaults.seed,
                trace if trace is not None else defaults.trace,
                nursery,
                defaults,
                max_restarts,
                period,
                shutdown_timeout,
                codec,
                strict,
            )
            if transport is not None:
                remote = Network(inbound(container), transport, container.codec, options)
                await nursery.start(remote.run, listeners)
            elif broker is not None:
                remote = await broker.join(
                    inbound(container),
                    container.codec,
                    nursery,
                    server,
                    cluster_name,
                    heartbeat=heartbeat or 0.0,
                    missed_beats=missed_beats,
                )
            else:
                defaults.open[address] = container
                if network is not None:
                    remote = network.join(inbound(container))
                else:
                    allow_dial_out(container, _dialer(container, nursery, options))
            if remote is not None:
                attach_network(container, remote)
            try:
                with body_scope(container):
                    yield container
            except BaseException as exc:
                body_error = exc
            try:
                with trio.CancelScope(shield=True):
                    try:
                        await close(container)
                    finally:
                        ours = network_of(container)  # it may have dialed out since
                        if ours is not None:
                            await ours.aclose()
            finally:
                mark_closed(container)
                defaults.open.pop(address, None)
            nursery.cancel_scope.cancel()
    finally:
        if remote is None and transport is not None:
            for listener in listeners:
                await trio.aclose_forcefully(listener)
            transport.close(address)
    root_failure = failure(container)
    if root_failure is not None:
        raise root_failure
    if body_error is not None:
        raise body_error


def _dialer(
    container: Container, nursery: trio.Nursery, options: NetworkOptions
) -> Callable[[str], Remote | None]:
    """How a container without a listening address gets a network when it first sends
    to a socket or memory address: one that dials out under a ``client://`` address,
    its peers answering over the connections it opened."""

    def dial_out(target: str) -> Remote | None:
        try:
            transport_for(target)
        except ValueError:
            return None  # not a network address: a local container that is not open
        if not isinstance(container.clock, RealClock):
            raise ValueError(
                f"{container.address} runs in virtual time and cannot reach {target}: "
                "network containers run in real time"
            )
        network = Network(
            inbound(container), None, container.codec, options, client=client_address()
        )
        attach_network(container, network)
        nursery.start_soon(network.run, [])
        return network

    return dial_out

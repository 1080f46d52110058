"""``open_nats``: a NATS client's life as an ``async with`` block."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager

import trio

from .client import NatsClient
from .connect import NatsOptions, connect_first
from .events import NatsEvent

__all__ = ["open_nats"]


@asynccontextmanager
async def open_nats(
    servers: str | Sequence[str] = "nats://127.0.0.1:4222",
    *,
    name: str | None = None,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    nkey_seed: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    tls_hostname: str | None = None,
    tls_handshake_first: bool = False,
    connect_timeout: float = 5.0,
    ping_interval: float = 60.0,
    max_pings_out: int = 2,
    reconnect: bool = True,
    reconnect_wait: float = 0.1,
    max_reconnect_wait: float = 2.0,
    reconnect_timeout: float = 60.0,
    max_pending_bytes: int = 8 * 1024 * 1024,
    drain_timeout: float = 2.0,
    echo: bool = True,
    discover: bool = True,
    inbox_prefix: str = "_INBOX",
    on_event: Callable[[NatsEvent], object] | None = None,
) -> AsyncIterator[NatsClient]:
    """Connect to the first server of ``servers`` that answers; close on exit.

    ``servers``: ``nats://[user:password@]host[:port]`` URLs (a lone user name is a
    token; ``tls://`` requires TLS), tried in order, then those the cluster
    advertises if ``discover``. Credentials: ``token``, ``user`` and ``password``,
    or ``nkey_seed`` (a user seed, ``SU...``; needs the ``nkeys`` package) to sign
    the server's nonce. TLS: ``ssl_context`` (the default context if the server
    requires TLS and none is given), verified against ``tls_hostname`` or the URL's
    host; ``tls_handshake_first`` for servers that start TLS before INFO.

    Every ``ping_interval`` seconds the client PINGs; ``max_pings_out`` PINGs
    unanswered make the connection stale. A lost connection is reconnected
    (``reconnect``), with pauses growing from ``reconnect_wait`` to
    ``max_reconnect_wait`` between rounds over the servers, for at most
    ``reconnect_timeout`` seconds (``math.inf``: forever); then the client closes.
    ``max_pending_bytes`` bounds what waits to be written. On exit, the client
    waits up to ``drain_timeout`` for the server to read what is queued.

    ``on_event`` gets every :data:`~.events.NatsEvent`, synchronously. Raises
    :exc:`NatsAuthorizationError` if the credentials are refused and
    :exc:`NatsConnectionError` if no server could be reached.
    """
    options = NatsOptions(
        name=name,
        token=token,
        user=user,
        password=password,
        nkey_seed=nkey_seed,
        ssl_context=ssl_context,
        tls_hostname=tls_hostname,
        tls_handshake_first=tls_handshake_first,
        connect_timeout=connect_timeout,
        ping_interval=ping_interval,
        max_pings_out=max_pings_out,
        reconnect=reconnect,
        reconnect_wait=reconnect_wait,
        max_reconnect_wait=max_reconnect_wait,
        reconnect_timeout=reconnect_timeout,
        max_pending_bytes=max_pending_bytes,
        drain_timeout=drain_timeout,
        echo=echo,
        discover=discover,
        inbox_prefix=inbox_prefix,
    )
    client = NatsClient(servers, options, on_event)
    link = await connect_first(client.pool, options)
    client.attach(link)
    body_error: BaseException | None = None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.run, link)
        try:
            yield client
        except BaseException as exc:
            body_error = exc
        await client.aclose(drain=body_error is None)
    if body_error is not None:
        raise body_error

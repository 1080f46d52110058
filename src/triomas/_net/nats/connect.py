"""Reaching a NATS server: the client's options, the list of servers, and the
handshake (TCP, ``INFO``, TLS, ``CONNECT`` with credentials, ``PING``/``PONG``)."""

from __future__ import annotations

import base64
import logging
import math
import random
import ssl
from collections.abc import Sequence
from importlib import metadata
from typing import Any, Final, final
from urllib.parse import unquote, urlsplit

import attrs
import trio

from .errors import (
    NatsArgumentError,
    NatsAuthorizationError,
    NatsConnectionError,
    NatsError,
    NatsProtocolError,
    NatsServerError,
)
from .protocol import (
    DEFAULT_MAX_PAYLOAD,
    HEADER_ALLOWANCE,
    MAX_CONTROL_LINE,
    MAX_INFO_LINE,
    MAX_PAYLOAD_CAP,
    PING,
    PONG,
    Err,
    Event,
    Info,
    Msg,
    Parser,
    Ping,
    Pong,
    encode_connect,
)

__all__ = [
    "DEFAULT_PORT",
    "Link",
    "NatsOptions",
    "Server",
    "ServerPool",
    "connect_first",
    "dial",
    "max_payload_of",
    "parse_url",
    "reconnect",
]

log = logging.getLogger("triomas.nats")

DEFAULT_PORT: Final = 4222
_HANDSHAKE_READ = 4096
_MAX_DISCOVERED = 64
"""At most this many servers are learned from ``connect_urls`` (a hostile or huge
cluster cannot grow the list without bound)."""
BROKEN: Final = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
"""What a stream raises when the connection under it is gone (``ssl.SSLError`` is an
``OSError``)."""

try:
    _VERSION = metadata.version("triomas")
except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
    _VERSION = "0"


def _positive(_: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be positive, not {value!r}")


@final
@attrs.frozen(kw_only=True)
class NatsOptions:
    """How the client connects, stays connected and reconnects (see ``open_nats``)."""

    name: str | None = None
    token: str | None = None
    user: str | None = None
    password: str | None = None
    nkey_seed: str | None = attrs.field(default=None, repr=False)
    ssl_context: ssl.SSLContext | None = None
    tls_hostname: str | None = None
    tls_handshake_first: bool = False
    connect_timeout: float = attrs.field(default=5.0, validator=_positive)
    ping_interval: float = attrs.field(default=60.0, validator=_positive)
    max_pings_out: int = attrs.field(default=2, validator=_positive)
    reconnect: bool = True
    reconnect_wait: float = attrs.field(default=0.1, validator=_positive)
    max_reconnect_wait: float = attrs.field(default=2.0, validator=_positive)
    reconnect_timeout: float = attrs.field(default=60.0, validator=_positive)
    max_pending_bytes: int = attrs.field(default=8 * 1024 * 1024, validator=_positive)
    drain_timeout: float = attrs.field(default=2.0, validator=_positive)
    echo: bool = True
    discover: bool = True
    inbox_prefix: str = "_INBOX"
    max_control_line: int = attrs.field(default=MAX_CONTROL_LINE, validator=_positive)
    max_info_line: int = attrs.field(default=MAX_INFO_LINE, validator=_positive)


@final
@attrs.define(eq=False)
class Server:
    """One server of the list, with the credentials its URL carries."""

    host: str
    port: int
    tls: bool
    user: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)
    token: str | None = attrs.field(default=None, repr=False)
    discovered: bool = False
    """Learned from a server's ``connect_urls``, not given by the caller."""

    @property
    def url(self) -> str:
        """The server's URL, without credentials."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'tls' if self.tls else 'nats'}://{host}:{self.port}"

    @property
    def key(self) -> tuple[str, int]:
        """What makes two entries the same server."""
        return self.host, self.port


def parse_url(url: str, *, tls: bool = False, discovered: bool = False) -> Server:
    """A :class:`Server` from ``nats://[user:password@]host[:port]`` (a lone user name
    is a token), ``tls://...`` (TLS required) or a bare ``host:port`` (then ``tls``
    says which)."""
    if "://" not in url:
        url = f"{'tls' if tls else 'nats'}://{url}"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise NatsArgumentError(f"bad server URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("nats", "tls") or not parts.hostname:
        raise NatsArgumentError(f"bad server URL {url!r}: expected nats://host:port")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    token = None
    if user is not None and password is None:
        user, token = None, user
    return Server(
        parts.hostname,
        port or DEFAULT_PORT,
        scheme == "tls",
        user,
        password,
        token,
        discovered,
    )


@final
class ServerPool:
    """The servers to try: the given ones, in order, then those the cluster
    advertises (``connect_urls``), when ``discover`` is on."""

    def __init__(self, urls: str | Sequence[str], discover: bool) -> None:
        given = [urls] if isinstance(urls, str) else list(urls)
        if not given:
            raise NatsArgumentError("no server URL given")
        self.servers: list[Server] = []
        for url in given:
            server = parse_url(url)
            if all(other.key != server.key for other in self.servers):
                self.servers.append(server)
        self.discover = discover

    def after(self, current: Server | None) -> list[Server]:
        """Every server, in the order to try them: those after ``current`` in the
        list first, ``current`` itself last."""
        servers = self.servers
        if current is None or current not in servers:
            return list(servers)
        index = servers.index(current) + 1
        return servers[index:] + servers[:index]

    def learn(self, connect_urls: object, source: Server) -> bool:
        """Take the cluster's client URLs from an ``INFO``: new ones join the list
        (with ``source``'s credentials); learned ones no longer advertised leave it.
        True if the list changed."""
        if not self.discover or not isinstance(connect_urls, list):
            return False
        advertised: list[Server] = []
        for url in connect_urls[:_MAX_DISCOVERED]:
            if not isinstance(url, str):
                continue
            try:
                server = parse_url(url, tls=source.tls, discovered=True)
            except NatsArgumentError:
                continue
            server.user, server.password, server.token = (
                source.user,
                source.password,
                source.token,
            )
            advertised.append(server)
        keys = {server.key for server in advertised}
        kept = [s for s in self.servers if not s.discovered or s.key in keys or s is source]
        known = {server.key for server in kept}
        before = [server.key for server in self.servers]
        self.servers = kept + [s for s in advertised if s.key not in known]
        return [server.key for server in self.servers] != before


@final
@attrs.define(eq=False)
class Link:
    """A connection that went through the handshake."""

    server: Server
    stream: trio.abc.Stream
    parser: Parser
    info: dict[str, Any]
    events: list[Event]
    """What arrived right behind the handshake's ``PONG``, not handled yet."""


def max_payload_of(info: dict[str, Any]) -> int:
    """The server's ``max_payload``, capped at :data:`MAX_PAYLOAD_CAP`."""
    value = info.get("max_payload", DEFAULT_MAX_PAYLOAD)
    if type(value) is not int or value <= 0:
        raise NatsProtocolError(f"an INFO with a bad max_payload {value!r:.40}")
    return min(value, MAX_PAYLOAD_CAP)


def _server_error(message: str) -> NatsServerError:
    lowered = message.lower()
    if "authoriz" in lowered or "authenticat" in lowered:
        return NatsAuthorizationError(message)
    return NatsServerError(message)


def _sign(seed: str, nonce: str) -> tuple[str, str]:
    """The nkey's public key and its signature of ``nonce``, as CONNECT wants them."""
    try:
        import nkeys  # an optional extra (triomas[nats]): imported only when used
    except ImportError as exc:
        raise NatsAuthorizationError(
            "nkey authentication needs the nkeys package (the triomas[nats] extra)"
        ) from exc
    try:
        keys = nkeys.from_seed(seed.encode())
        signature = keys.sign(nonce.encode())
        public = keys.public_key.decode()
        keys.wipe()
    except Exception as exc:  # nkeys raises several kinds for a bad seed
        raise NatsAuthorizationError(f"the nkey seed is not valid: {exc}") from None
    return public, base64.urlsafe_b64encode(signature).rstrip(b"=").decode()


def connect_object(
    info: dict[str, Any], options: NatsOptions, server: Server, tls: bool
) -> dict[str, Any]:
    """What the client's ``CONNECT`` says: its name, features and credentials."""
    headers = bool(info.get("headers"))
    fields: dict[str, Any] = {
        "verbose": False,
        "pedantic": False,
        "tls_required": tls,
        "lang": "python-triomas",
        "version": _VERSION,
        "protocol": 1,  # asks for INFO updates: the cluster's URLs as they change
        "echo": options.echo,
        "headers": headers,
        "no_responders": headers,
    }
    if options.name is not None:
        fields["name"] = options.name
    user = options.user if options.user is not None else server.user
    password = options.password if options.password is not None else server.password
    token = options.token if options.token is not None else server.token
    if options.nkey_seed is not None:
        nonce = info.get("nonce")
        if not isinstance(nonce, str) or not nonce:
            raise NatsAuthorizationError(f"{server.url} sent no nonce to sign with the nkey")
        fields["nkey"], fields["sig"] = _sign(options.nkey_seed, nonce)
    if user is not None:
        fields["user"] = user
        fields["pass"] = password or ""
    if token is not None:
        fields["auth_token"] = token
    return fields


async def _receive(stream: trio.abc.Stream, parser: Parser, size: int) -> list[Event]:
    data = await stream.receive_some(size)
    if not data:
        raise NatsConnectionError("the server closed the connection during the handshake")
    return parser.feed(data)


async def _tls(
    stream: trio.abc.Stream, options: NatsOptions, server: Server
) -> trio.SSLStream[trio.abc.Stream]:
    context = options.ssl_context or ssl.create_default_context()
    wrapped = trio.SSLStream(stream, context, server_hostname=options.tls_hostname or server.host)
    await wrapped.do_handshake()
    return wrapped


async def _handshake(stream: trio.abc.Stream, server: Server, options: NatsOptions) -> Link:
    parser = Parser(
        max_payload=DEFAULT_MAX_PAYLOAD + HEADER_ALLOWANCE,
        max_control_line=options.max_control_line,
        max_info_line=options.max_info_line,
    )
    want_tls = server.tls or options.ssl_context is not None or options.tls_handshake_first
    if options.tls_handshake_first:
        stream = await _tls(stream, options, server)
    events: list[Event] = []
    while not events:
        events = await _receive(stream, parser, _HANDSHAKE_READ)
    first = events.pop(0)
    if not isinstance(first, Info):
        raise NatsProtocolError(f"the server did not begin with INFO but with {first!r:.80}")
    info = first.data
    if events or parser.buffered:
        raise NatsProtocolError("the server sent more than INFO before CONNECT")
    parser.max_payload = max_payload_of(info) + HEADER_ALLOWANCE
    if not options.tls_handshake_first and (want_tls or info.get("tls_required")):
        if not (info.get("tls_required") or info.get("tls_available")):
            raise NatsConnectionError(f"{server.url} does not offer TLS")
        stream = await _tls(stream, options, server)
        want_tls = True
    fields = connect_object(info, options, server, want_tls)
    await stream.send_all(encode_connect(fields) + PING)
    while True:
        for index, event in enumerate(events):
            if isinstance(event, Pong):
                return Link(server, stream, parser, info, events[index + 1 :])
            if isinstance(event, Err):
                raise _server_error(event.message)
            if isinstance(event, Ping):
                await stream.send_all(PONG)
            elif isinstance(event, Info):
                info = {**info, **event.data}
                parser.max_payload = max_payload_of(info) + HEADER_ALLOWANCE
            elif isinstance(event, Msg):
                raise NatsProtocolError("the server sent a message before any subscription")
        events = await _receive(stream, parser, 65536)


async def dial(server: Server, options: NatsOptions, timeout: float = math.inf) -> Link:
    """Connect to ``server`` and go through the handshake, within the options'
    ``connect_timeout`` (and ``timeout``).

    Raises :exc:`NatsAuthorizationError` if it refuses the credentials,
    :exc:`NatsServerError` for another ``-ERR``, :exc:`NatsProtocolError` if it
    breaks the protocol, :exc:`NatsConnectionError` for everything else.
    """
    stream: trio.abc.Stream | None = None
    try:
        with trio.fail_after(min(options.connect_timeout, timeout)):
            stream = await trio.open_tcp_stream(server.host, server.port)
            return await _handshake(stream, server, options)
    except BaseException as exc:
        if stream is not None:
            await trio.aclose_forcefully(stream)
        if isinstance(exc, trio.TooSlowError):
            raise NatsConnectionError(f"{server.url}: the handshake timed out") from None
        if isinstance(exc, BROKEN):
            # trio's TLS wraps the ssl error, which says what went wrong.
            why = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            raise NatsConnectionError(f"{server.url}: {type(why).__name__}: {why}") from exc
        if isinstance(exc, NatsError) and not str(exc).startswith(server.url):
            exc.args = (f"{server.url}: {exc}", *exc.args[1:])
        raise


async def connect_first(pool: ServerPool, options: NatsOptions) -> Link:
    """Try each server once, in order; the first handshake that succeeds wins.

    Raises :exc:`NatsAuthorizationError` if a server refused the credentials (and
    none took the client), else :exc:`NatsConnectionError` naming every failure.
    """
    failures: list[str] = []
    last: NatsError | None = None
    auth: NatsAuthorizationError | None = None
    for server in pool.servers:
        try:
            return await dial(server, options)
        except NatsError as exc:
            failures.append(str(exc))
            last = exc
            if isinstance(exc, NatsAuthorizationError):
                auth = exc
    if auth is not None:
        raise auth
    raise NatsConnectionError("no NATS server reachable: " + "; ".join(failures)) from last


async def reconnect(
    pool: ServerPool, last: Server | None, options: NatsOptions
) -> tuple[Link | None, BaseException | None]:
    """Try the servers (those after ``last`` first), round after round with a pause
    growing from ``reconnect_wait`` to ``max_reconnect_wait`` between rounds, until
    one takes the client or ``reconnect_timeout`` is over; then ``None`` and the
    last failure."""
    deadline = trio.current_time() + options.reconnect_timeout
    wait = options.reconnect_wait
    error: BaseException | None = None
    while True:
        for server in pool.after(last):
            left = deadline - trio.current_time()
            if left <= 0:
                return None, error
            try:
                return await dial(server, options, left), None
            except NatsError as exc:
                log.debug("NATS: reconnecting to %s failed: %s", server.url, exc)
                error = exc
        left = deadline - trio.current_time()
        if left <= 0:
            return None, error
        # Jitter keeps the clients of one failed server from coming back in step.
        await trio.sleep(min(left, wait * random.uniform(0.8, 1.2)))
        wait = min(wait * 2, options.max_reconnect_wait)

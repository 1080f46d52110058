"""Opening a connection, both ways: the transport, TLS and the handshake, under the
limits a listener keeps against slow or hostile peers (a deadline for each handshake,
a bound on how many are under way, a log of refusals that cannot be flooded)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, final

import trio

from .._messages.errors import AuthenticationError, ProtocolError
from .connection import BROKEN, Connection
from .refusals import Refusals
from .transport import CLIENT, transport_for

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .network import NetworkOptions

log = logging.getLogger("triomas.network")

__all__ = ["Handshakes"]


@final
class Handshakes:
    """The handshakes of one container's network, dialed and accepted."""

    def __init__(
        self,
        address: str,
        codec: Codec,
        options: NetworkOptions,
        secret_for: Callable[[str], bytes | None],
        decide: Callable[[Connection], bool],
    ) -> None:
        """``decide`` says whether to keep an inbound connection, once its peer is known."""
        self.address = address
        self.codec = codec
        self.options = options
        self.secret_for = secret_for
        self.decide = decide
        # The nonces of the handshakes under way, both ways: a peer that sends one
        # back is reflecting it.
        self.nonces: set[bytes] = set()
        # The inbound handshakes under way, oldest first.
        self.under_way: dict[trio.CancelScope, None] = {}
        self.refusals = Refusals()

    def _connection(self, stream: trio.abc.Stream, outbound: bool) -> Connection:
        options = self.options
        return Connection(
            stream,
            self.codec,
            outbound=outbound,
            max_frame=options.max_frame,
            max_buffer=options.max_buffer,
            heartbeat=options.heartbeat,
            missed_beats=options.missed_beats,
        )

    async def dial(self, address: str) -> Connection:
        """A connection to ``address``, its handshake done; raises if it fails.

        If the peer declined (it has a connection to this container already), the
        connection comes back closed, with ``declined`` set and the peer's announced
        address, which may differ from the one dialed.
        """
        options = self.options
        if address.startswith(CLIENT):
            await trio.lowlevel.checkpoint()
            raise ConnectionRefusedError(
                f"{address} has no listening address: it is reached only over a connection "
                "it opens, and it has none open now"
            )
        with trio.fail_after(options.handshake_timeout):  # a dial to a black hole, too
            stream = await transport_for(address).connect(address)
        try:
            with trio.fail_after(options.handshake_timeout):
                if options.ssl_client is not None:
                    host = address.partition("://")[2].rpartition(":")[0].strip("[]")
                    stream = trio.SSLStream(
                        stream,
                        options.ssl_client,
                        server_hostname=host if address.startswith("tcp://") else None,
                    )
                    await stream.do_handshake()
                conn = self._connection(stream, True)
                accepted = await conn.dial_handshake(
                    self.address, self.secret_for(address), self.nonces
                )
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        if not accepted:
            conn.declined = True
            conn.closed = True
            conn.accepting = False
            await trio.aclose_forcefully(stream)
        return conn

    async def accept(self, stream: trio.abc.Stream) -> tuple[Connection, str | None]:
        """The handshake of an inbound connection: it, and why it is not kept (None:
        it is, and ``decide`` attached it). A refused peer is told why, and logged."""
        options = self.options
        conn = self._connection(stream, False)
        keep = False
        failure: str | None = None
        with trio.CancelScope() as slot:
            under_way = self.under_way
            under_way[slot] = None
            if len(under_way) > options.max_handshakes:
                # Too many peers are in the handshake: the one in it longest goes, so
                # that slow or silent peers cannot keep the door shut for the others.
                oldest = next(iter(under_way))
                del under_way[oldest]
                oldest.cancel()
            try:
                with trio.fail_after(options.handshake_timeout):
                    if options.ssl_server is not None:
                        conn.stream = trio.SSLStream(stream, options.ssl_server, server_side=True)
                        await conn.stream.do_handshake()
                    keep = await conn.accept_handshake(
                        self.address, self.secret_for, self.decide, self.nonces
                    )
            except (ProtocolError, AuthenticationError) as exc:
                failure = str(exc)
                self.refusals.note(self.address, conn.address, failure)
                await conn.refuse(failure)
            except trio.TooSlowError:
                failure = "handshake timeout"
                self.refusals.note(self.address, conn.address, failure)
                await conn.refuse(failure)
            except BROKEN as exc:
                failure = f"{type(exc).__name__}: {exc}"
                log.debug("%s: an inbound connection failed: %s", self.address, failure)
            except Exception:
                failure = "internal error"
                log.exception("%s: an inbound handshake failed", self.address)
            finally:
                under_way.pop(slot, None)
        if slot.cancelled_caught:
            failure = "evicted: too many handshakes under way"
            self.refusals.note(self.address, conn.address, failure)
        if failure is None and not keep:
            failure = "declined: a duplicate connection"
        if failure is not None:
            await trio.aclose_forcefully(conn.stream)
        return conn, failure

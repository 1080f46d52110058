"""The NATS client: publish, subscribe, request/reply, and its connection's tasks
(see the package's docstring for what happens to publishes across a reconnection)."""

from __future__ import annotations

import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any, final

import trio

from ..sockets import SocketIO
from .connect import BROKEN, Link, NatsOptions, ServerPool, max_payload_of, reconnect
from .errors import NatsBufferFull, NatsClosedError, NatsProtocolError, NatsTimeout, NoResponders
from .events import (
    Closed,
    Disconnected,
    Discovered,
    LameDuck,
    Lost,
    NatsEvent,
    Reconnected,
    ServerError,
    SlowConsumer,
    lost_publishes,
)
from .handles import NatsStats, Subscription, Waiter
from .protocol import (
    HEADER_ALLOWANCE,
    PING,
    PONG,
    Err,
    Event,
    Info,
    Msg,
    Ping,
    Pong,
    encode_pub,
    encode_publish,
    encode_sub,
    encode_unsub,
    is_publish,
    publish_size,
)

__all__ = ["NatsClient"]

log = logging.getLogger("triomas.nats")

_READ_SIZE = 65536
_CHUNK = 256 * 1024
"""At most about this many bytes go into one ``send_all``: what is uncertain when a
write fails."""
_CONTROL_ALLOWANCE = 1024 * 1024
"""Control lines (SUB, PONG, ...) may go past ``max_pending_bytes`` by this much;
past it, the server is not reading and the connection is dropped."""


@final
class _Ended(Exception):
    """A connection task saw the connection end (its text says why)."""


@final
class NatsClient:
    """A client connected to one server of a NATS cluster; made by :func:`open_nats`.

    Nothing here blocks but :meth:`flush` and :meth:`request`: a publish is queued
    for the writer task, a subscription's callback runs in the reader task.
    """

    def __init__(
        self,
        servers: str | Sequence[str],
        options: NatsOptions,
        on_event: Callable[[NatsEvent], object] | None = None,
    ) -> None:
        self._options = options
        self.pool = ServerPool(servers, options.discover)
        self._on_event = on_event
        self._link: Link | None = None
        self._last: Link | None = None
        self._info: dict[str, Any] = {}
        self._max_payload = 0
        self._headers = False
        self._up = trio.Event()  # set while connected (and once closed, to wake waiters)
        self._subs: dict[int, Subscription] = {}
        self._next_sid = 0
        # Frames queued and not yet taken by the writer, and the writer's current
        # write: each frame is one protocol line (with its payload).
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._inflight: list[bytes] = []
        self._inflight_bytes = 0
        self._sent = 0  # bytes of the in-flight chunk a direct write got out already
        self._max_pending = options.max_pending_bytes
        self._wake: trio.Event | None = None
        self._corked = False  # a publish was written at once this turn (see _kick)
        # The connection's plain socket, written from the publishing task itself while
        # the writer is idle (None over TLS: then only the writer writes).
        self._sock: SocketIO | None = None
        self._pongs: deque[Waiter | None] = deque()
        self._pings_out = 0
        self._end: Callable[[str, BaseException | None], None] | None = None
        self._inbox: Subscription | None = None
        self._reply_prefix = ""
        self._replies: dict[str, Waiter] = {}
        self._next_token = 0
        self._closing = False
        self._closed = False
        self._run_scope = trio.CancelScope()
        self._msgs_in = 0
        self._bytes_in = 0
        self._msgs_out = 0
        self._bytes_out = 0
        self._reconnects = 0

    # ---- state ----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection is up (it may be broken without the client knowing yet)."""
        return self._link is not None

    @property
    def closed(self) -> bool:
        """Whether the client is closed (or closing): publishes are refused."""
        return self._closing

    @property
    def server_info(self) -> dict[str, Any]:
        """The last ``INFO`` of the server connected to (or last connected to)."""
        return self._info

    @property
    def max_payload(self) -> int:
        """The largest payload (headers included) the server accepts."""
        return self._max_payload

    @property
    def connected_url(self) -> str | None:
        """The URL of the server connected to, if any."""
        return self._link.server.url if self._link is not None else None

    @property
    def servers(self) -> list[str]:
        """The URLs of the servers the client would try, given and discovered."""
        return [server.url for server in self.pool.servers]

    def stats(self) -> NatsStats:
        """The client's counters now."""
        return NatsStats(
            self._msgs_in, self._bytes_in, self._msgs_out, self._bytes_out, self._reconnects
        )

    def _emit(self, event: NatsEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
        elif isinstance(event, Lost | ServerError | SlowConsumer):
            log.warning("NATS: %s", event)
        else:
            log.info("NATS: %s", event)

    # ---- publishing ----------------------------------------------------------------------

    def publish(
        self,
        subject: str,
        payload: bytes = b"",
        reply: str | None = None,
        headers: Mapping[str, str | Sequence[str]] | None = None,
    ) -> bool:
        """Queue a publish of ``payload`` to ``subject``; ``reply`` is where answers go.

        Never blocks. False when it was not queued: the pending buffer is full
        (``max_pending_bytes``) or the client is closed. Raises
        :exc:`NatsArgumentError` for a subject the protocol cannot carry and
        :exc:`NatsPayloadTooLarge` over the server's ``max_payload``.
        """
        if headers is None and len(payload) <= self._max_payload:
            data = encode_pub(subject, payload, reply)  # PERF: the common case, inline
        else:
            data = encode_publish(
                subject, payload, reply, headers, self._max_payload, self._headers
            )
        size = len(data)
        if self._closing or self._pending_bytes + self._inflight_bytes + size > self._max_pending:
            return False
        self._pending.append(data)
        self._pending_bytes += size
        self._msgs_out += 1
        if self._wake is not None:
            self._kick()
        return True

    def _kick(self) -> None:
        """Get what is pending going while the writer is idle: over a plain socket, the
        first of a turn is written from this task at once, as far as the socket takes it
        (PERF: no scheduler pass for the writer, nor trio's pass after a send: the round
        trips of net_nats_seq); the writer does the rest. Never blocks, never raises."""
        wake = self._wake
        assert wake is not None
        sock = self._sock
        if sock is not None and not self._inflight and not self._corked:
            pending = self._pending
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            try:
                written = sock.write(data)
            except (OSError, trio.ClosedResourceError):
                written = 0  # the writer meets the error and ends the connection
            if written == len(data):
                self._pending = []
                self._pending_bytes = 0
                self._bytes_out += written
                # Until the reader or the writer runs again, publishes wait for the
                # writer's one write: no system call (nor packet) per tell of a burst.
                self._corked = True
                return
            if written:
                # Part of it is out: in flight now (uncertain if the connection
                # breaks), for the writer to finish before anything else.
                self._inflight = pending
                self._inflight_bytes = len(data)
                self._sent = written
                self._pending = []
                self._pending_bytes = 0
        self._wake = None
        wake.set()

    def _send_control(self, data: bytes) -> None:
        """Queue a control line on the current connection; dropped when there is none
        (the next connection sends the subscriptions afresh)."""
        if self._link is None:
            return
        self._pending.append(data)
        self._pending_bytes += len(data)
        if self._pending_bytes + self._inflight_bytes > self._max_pending + _CONTROL_ALLOWANCE:
            if self._end is not None:
                self._end("the server does not read what the client sends", None)
            return
        if self._wake is not None:
            self._kick()

    # ---- subscribing ---------------------------------------------------------------------

    def subscribe(
        self, subject: str, callback: Callable[[Msg], object], queue: str | None = None
    ) -> Subscription:
        """Subscribe ``callback`` to ``subject`` (wildcards allowed), in queue group
        ``queue`` if given. ``await flush()`` to be sure the server has it.

        The callback runs in the reader task, synchronously, for every message: it
        must be quick and must not raise (an exception ends the client's block).
        """
        if self._closing:
            raise NatsClosedError("the client is closed")
        self._next_sid += 1
        frame = encode_sub(subject, self._next_sid, queue)
        sub = Subscription(self._next_sid, subject, queue, callback)
        self._subs[sub.sid] = sub
        self._send_control(frame)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """End ``sub``; messages already on their way are dropped."""
        if self._subs.pop(sub.sid, None) is not None:
            self._send_control(encode_unsub(sub.sid))

    # ---- request / reply -------------------------------------------------------------------

    def new_inbox(self) -> str:
        """A fresh, unique subject to receive replies on."""
        return f"{self._options.inbox_prefix}.{secrets.token_hex(11)}"

    def _on_reply(self, msg: Msg) -> None:
        waiter = self._replies.pop(msg.subject[len(self._reply_prefix) :], None)
        if waiter is not None:
            waiter.msg = msg
            waiter.event.set()

    async def request(
        self,
        subject: str,
        payload: bytes = b"",
        timeout: float = 1.0,
        headers: Mapping[str, str | Sequence[str]] | None = None,
    ) -> Msg:
        """Publish a request and return the first reply.

        All requests share one wildcard inbox subscription; each has its own token.
        Raises :exc:`NoResponders` at once if nobody subscribes to ``subject``,
        :exc:`NatsTimeout` if no reply comes within ``timeout`` seconds,
        :exc:`NatsBufferFull` if it cannot be queued and :exc:`NatsClosedError` if the
        client is or gets closed.
        """
        if self._closing:
            raise NatsClosedError("the client is closed")
        if self._inbox is None:
            inbox = self.new_inbox()
            self._reply_prefix = inbox + "."
            self._inbox = self.subscribe(inbox + ".*", self._on_reply)
        self._next_token += 1
        token = str(self._next_token)
        waiter = self._replies[token] = Waiter()
        try:
            if not self.publish(subject, payload, self._reply_prefix + token, headers):
                if self._closing:
                    raise NatsClosedError("the client is closed")
                raise NatsBufferFull(f"no room to queue a request to {subject!r}")
            with trio.move_on_after(timeout):
                await waiter.event.wait()
        finally:
            self._replies.pop(token, None)
        msg = waiter.msg
        if msg is None:
            if self._closing:
                raise NatsClosedError("the client closed before the reply came")
            raise NatsTimeout(f"no reply to a request to {subject!r} within {timeout} s")
        if msg.status == 503 and not msg.payload:
            raise NoResponders(subject)
        return msg

    # ---- flushing --------------------------------------------------------------------------

    async def _ping_pong(self) -> bool:
        """PING on the current connection and wait for its PONG; False if the
        connection ended first."""
        waiter = Waiter()
        self._pongs.append(waiter)
        self._send_control(PING)
        await waiter.event.wait()
        return waiter.ok

    async def flush(self) -> None:
        """Wait until the server has read everything queued before this call
        (a PING/PONG round trip). Across a reconnection, it pings the new server
        once the frames that waited are written.

        Raises :exc:`NatsClosedError` if the client is or gets closed first; wrap it
        in ``trio.fail_after`` to bound the wait.
        """
        while True:
            if self._closing:
                raise NatsClosedError("the client is closed")
            if self._link is None:
                await self._up.wait()
            elif await self._ping_pong():
                return

    # ---- the connection's tasks ------------------------------------------------------------

    async def _read_loop(self, link: Link) -> None:
        stream = link.stream
        sock = self._sock
        # PERF: a plain socket is read directly, yielding only when it must wait
        receive = stream.receive_some if sock is None else sock.read
        parser = link.parser
        subs = self._subs
        events: list[Event] = link.events
        while True:
            for event in events:
                if type(event) is Msg:
                    sub = subs.get(event.sid)
                    if sub is not None:
                        self._msgs_in += 1
                        sub.callback(event)
                else:
                    self._on_control(event, link)
            data = await receive(_READ_SIZE)
            if not data:
                raise _Ended("the server closed the connection")
            self._corked = False  # a new turn: the next publish may be written at once
            self._bytes_in += len(data)
            events = parser.feed(data)

    def _on_control(self, event: Event, link: Link) -> None:
        if isinstance(event, Ping):
            self._send_control(PONG)
        elif isinstance(event, Pong):
            self._pings_out = 0
            if self._pongs:
                waiter = self._pongs.popleft()
                if waiter is not None:
                    waiter.ok = True
                    waiter.event.set()
        elif isinstance(event, Info):
            self._apply_info(link, {**link.info, **event.data})
        elif isinstance(event, Err):
            if "slow consumer" in event.message.lower():
                self._emit(SlowConsumer(link.server.url, event.message))
            else:
                self._emit(ServerError(link.server.url, event.message))

    def _apply_info(self, link: Link, info: dict[str, Any]) -> None:
        limit = max_payload_of(info)
        link.info = self._info = info
        self._max_payload = limit
        link.parser.max_payload = limit + HEADER_ALLOWANCE
        self._headers = bool(info.get("headers"))
        if self.pool.learn(info.get("connect_urls"), link.server):
            self._emit(Discovered(tuple(self.servers)))
        if info.get("ldm"):
            self._emit(LameDuck(link.server.url))

    async def _write_loop(self, link: Link) -> None:
        stream = link.stream
        while True:
            if self._inflight:  # what a direct write left: its rest goes first
                data = b"".join(self._inflight)
                await stream.send_all(memoryview(data)[self._sent :])
                self._bytes_out += self._inflight_bytes
                self._inflight = []
                self._inflight_bytes = 0
                self._sent = 0
                continue
            pending = self._pending
            if not pending:
                self._corked = False
                wake = self._wake = trio.Event()
                await wake.wait()
                continue
            if self._pending_bytes <= _CHUNK:
                chunk = pending
                size = self._pending_bytes
                self._pending = []
            else:
                size = 0
                count = 0
                for frame in pending:
                    size += len(frame)
                    count += 1
                    if size >= _CHUNK:
                        break
                chunk = pending[:count]
                del pending[:count]
            self._pending_bytes -= size
            self._inflight = chunk
            self._inflight_bytes = size
            # If this raises or is cancelled, the chunk stays in flight: uncertain.
            await stream.send_all(chunk[0] if len(chunk) == 1 else b"".join(chunk))
            self._inflight = []
            self._inflight_bytes = 0
            self._bytes_out += size

    async def _ping_loop(self, link: Link) -> None:
        interval = self._options.ping_interval
        while True:
            await trio.sleep(interval)
            if self._pings_out >= self._options.max_pings_out:
                raise _Ended(f"stale connection: {self._pings_out} PINGs unanswered")
            self._pings_out += 1
            self._pongs.append(None)
            self._send_control(PING)

    async def _serve(self, link: Link) -> tuple[str, BaseException | None]:
        """Run the connection's tasks until one of them sees it end; say why."""
        ended: list[tuple[str, BaseException | None]] = []
        try:
            async with trio.open_nursery() as nursery:

                def end(reason: str, error: BaseException | None) -> None:
                    if not ended:
                        ended.append((reason, error))
                    nursery.cancel_scope.cancel()

                async def guarded(loop: Callable[[Link], Any]) -> None:
                    try:
                        await loop(link)
                    except _Ended as exc:
                        end(str(exc), None)
                    except NatsProtocolError as exc:
                        end(f"the server broke the protocol: {exc}", exc)
                    except BROKEN as exc:
                        end(f"{type(exc).__name__}: {exc}", exc)

                self._end = end
                for loop in (self._read_loop, self._write_loop, self._ping_loop):
                    nursery.start_soon(guarded, loop)
        finally:
            self._end = None
            await trio.aclose_forcefully(link.stream)
        return ended[0] if ended else ("closed", None)

    # ---- connecting ------------------------------------------------------------------------

    def attach(self, link: Link) -> None:
        """Make ``link`` the connection: subscriptions first, then what waited."""
        self._link = self._last = link
        self._sock = SocketIO.of(link.stream)
        old_limit = self._max_payload
        self._apply_info(link, link.info)
        self._pings_out = 0
        frames = [encode_sub(sub.subject, sub.sid, sub.queue) for sub in self._subs.values()]
        waiting = self._pending
        if self._max_payload < old_limit:
            limit = self._max_payload
            too_large = [f for f in waiting if publish_size(f) > limit]
            waiting = [f for f in waiting if publish_size(f) <= limit]
            if too_large:
                self._emit(
                    Lost(lost_publishes(too_large), "over the new server's max_payload", False)
                )
        self._pending = frames + waiting
        self._pending_bytes = sum(len(f) for f in self._pending)
        self._up.set()

    def _detach(self, link: Link, reason: str, error: BaseException | None) -> None:
        """The connection ended: what was being written is uncertain, the control
        lines queued for it are dropped, its PING waiters fail."""
        self._link = None
        self._sock = None
        self._up = trio.Event()
        self._wake = None
        uncertain = self._inflight
        self._inflight = []
        self._inflight_bytes = 0
        self._sent = 0
        self._pending = [frame for frame in self._pending if is_publish(frame)]
        self._pending_bytes = sum(len(frame) for frame in self._pending)
        pongs, self._pongs = self._pongs, deque()
        for waiter in pongs:
            if waiter is not None:
                waiter.event.set()
        self._emit(Disconnected(link.server.url, reason, error))
        lost = lost_publishes(uncertain)
        if lost:
            self._emit(Lost(lost, f"being written when the connection broke: {reason}", True))

    async def run(self, link: Link) -> None:
        """Serve ``link`` (attached already), then reconnect and serve again, until
        closed or given up."""
        with self._run_scope:
            while True:
                reason, error = await self._serve(link)
                self._detach(link, reason, error)
                if self._closing:
                    return
                if not self._options.reconnect:
                    self._finish(f"connection lost, not reconnecting: {reason}", error)
                    return
                last = self._last.server if self._last is not None else None
                found, error = await reconnect(self.pool, last, self._options)
                if found is None:
                    self._finish(
                        f"gave up reconnecting after {self._options.reconnect_timeout} s", error
                    )
                    return
                link = found
                self._reconnects += 1
                self.attach(link)
                self._emit(Reconnected(link.server.url))

    # ---- closing ---------------------------------------------------------------------------

    def _finish(self, reason: str, error: BaseException | None) -> None:
        """Closed for good: report what is still queued, wake every waiter, stop."""
        if self._closed:
            return
        self._closing = self._closed = True
        self._link = None
        uncertain, self._inflight = self._inflight, []
        unsent, self._pending = self._pending, []
        self._pending_bytes = self._inflight_bytes = 0
        lost = lost_publishes(uncertain)
        if lost:
            self._emit(Lost(lost, f"being written as the client closed: {reason}", True))
        lost = lost_publishes(unsent)
        if lost:
            self._emit(Lost(lost, f"not sent before the client closed: {reason}", False))
        for waiter in [*self._pongs, *self._replies.values()]:
            if waiter is not None:
                waiter.event.set()
        self._pongs.clear()
        self._up.set()
        self._run_scope.cancel()
        self._emit(Closed(reason, error))

    async def aclose(self, drain: bool = True) -> None:
        """Close: with ``drain``, first wait (up to ``drain_timeout``) until the server
        has read everything queued; report the rest as lost. Idempotent."""
        if self._closed:
            return
        self._closing = True  # nothing new is queued from here on
        try:
            if drain and self._link is not None:
                with trio.move_on_after(self._options.drain_timeout):
                    if await self._ping_pong():
                        # The server read everything before the PING, which is every
                        # publish (none was queued after it): the writer may not have
                        # come back from its last send yet, and nothing is lost.
                        self._inflight = []
                        self._pending = []
        finally:
            self._finish("closed", None)

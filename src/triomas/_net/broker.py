"""The ``nats://`` network: a container's way into a NATS cluster.

A broker is not a byte stream per pair of containers, so this is not a transport
under :class:`~.network.Network` but a :class:`~triomas._runtime.ports.Remote` of its
own, on one NATS connection per container. Payloads are triomas' own wire payloads
(:mod:`.wire`, without the length header: NATS frames them), so the codec, the tags
and the dead letters are the same as over TCP.

Subjects (``<c>`` is a container's name, a NATS token):

=====================  ==================================================================
``tm.c.<c>``            messages and ties for container ``c``; an ask or a tie carries the
                        NATS reply subject ``tm.r.<sender>.<token>``, which names the
                        sending container
``tm.r.<c>.<token>``    answers for ``c``: ``a<id>`` an ask's reply (or the server's "no
                        responders"), ``t.<peer>`` "no responders" to a tie, ``d<id>`` a
                        discovery answer, ``p`` a container's presence when ``c`` joined
``tm.t.<topic>``        publishes of a topic, subscribed by every container with subscribers
``tm.g.<name>``         ``@all/<name>``: every agent of the class or receiver group ``name``
``tm.q.<name>``         ``@any/<name>``: one of them (a queue group of the containers with
                        members; each container takes its members in turn)
``tm.p``                presence: join, beat (every heartbeat) and leave of every container,
                        with its topics
``tm.d``                discovery requests, answered by every container
=====================  ==================================================================

A container that misses ``missed_beats`` beats is declared down: the asks waiting on it
fail with :exc:`CalleeDown` (``noconnection``), and its ties break as when a TCP
connection ends. So do every container's when this one's NATS connection is lost.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, final

import attrs
import msgpack
import trio

from .._messages.envelope import Envelope
from .._messages.errors import CalleeDown, DecodeError, EncodeError, ProtocolError
from .._messages.events import DeadLetterReason, ExitReason, NoConnection, NoProc
from .._messages.ref import AgentRef
from .._runtime.ports import TieOp, no_direct_ask
from .outcomes import decode_tie, encode_tie
from .remote import answer, arrive, arrive_tell
from .subjects import ALL, ANY, PREFIX, TOKEN, container_name, topic_subject
from .wire import Kind, decode_message, message_payload, parse, plain_payload, raw_parse

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._messages.envelope import ReplySlot
    from .._runtime.ports import Inbound
    from .nats import Msg, NatsClient

log = logging.getLogger("triomas.network")

__all__ = ["NatsNetwork"]

_MAX_PEERS = 10_000
"""The most containers one container keeps presence records of."""
_MAX_TOPICS = 10_000


@final
class _Peer:
    """What this container knows of another from its presence."""

    __slots__ = ("address", "beat", "seen", "topics")

    def __init__(self, address: str, beat: float, seen: float) -> None:
        self.address = address
        self.beat = beat
        self.seen = seen
        self.topics: set[str] = set()


@final
class _Return:
    """Where the reply to an ask that came over NATS goes (a :class:`PeerLink`)."""

    __slots__ = ("address", "network", "subject")

    def __init__(self, network: NatsNetwork, address: str, subject: str) -> None:
        self.network = network
        self.address = address
        self.subject = subject

    @property
    def frame_limit(self) -> int:
        return self.network.max_payload

    def send_frame(self, data: bytes) -> bool:
        client = self.network.client
        return client is not None and client.publish(self.subject, data[4:])


@final
class NatsNetwork:
    """A container's NATS connection, its subscriptions, presence and discovery."""

    def __init__(
        self,
        inbound: Inbound,
        codec: Codec,
        name: str,
        server: str,
        *,
        heartbeat: float,
        missed_beats: int,
        discover_timeout: float = 1.0,
    ) -> None:
        self.inbound = inbound
        self.codec = codec
        self.name = name
        self.address = inbound.address
        self.server = server
        self.heartbeat = heartbeat
        self.missed_beats = missed_beats
        self.discover_timeout = discover_timeout
        self.client: NatsClient | None = None
        self.peers: dict[str, _Peer] = {}
        # Asks sent and not answered: reply id -> their slot and the container asked.
        self.pending: dict[str, tuple[ReplySlot, str]] = {}
        # Discoveries under way: each answer is the answering container and its agents.
        self._discoveries: dict[str, trio.MemorySendChannel[tuple[str, list[str]]]] = {}
        self._topic_subs: dict[str, Any] = {}
        # Classes and receiver groups with members here: how many ways (a class and a
        # group of one name), and their two subscriptions (all of them, one of them).
        self._groups: dict[str, tuple[int, Any, Any]] = {}
        self._turns: dict[str, int] = {}
        self._ids = 0
        self._closing = False
        self._inbox = f"{PREFIX}.c.{name}"
        self._targets: dict[str, tuple[str, str]] = {}  # see _target()
        self._no_return = _Return(self, "?", "")  # a tell's: never used
        self._replies = f"{PREFIX}.r.{name}"

    @property
    def max_payload(self) -> int:
        """The largest payload the server takes."""
        client = self.client
        return 1 << 20 if client is None else client.max_payload

    # ---- lifetime -----------------------------------------------------------------------

    async def run(
        self, client: NatsClient, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Subscribe, announce this container, and beat until :meth:`aclose`."""
        self.client = client
        client.subscribe(self._inbox, self._on_message)
        client.subscribe(f"{self._replies}.>", self._on_reply)
        client.subscribe(f"{PREFIX}.p", self._on_presence)
        client.subscribe(f"{PREFIX}.d", self._on_discover)
        for topic in self.inbound.topics():
            self.interest(topic, True)
        self._announce("join")
        await client.flush()  # subscribed everywhere before the container is used
        task_status.started()
        while not self._closing:
            await trio.sleep(self.heartbeat)
            self._announce("beat")
            self._check_peers(trio.current_time())

    async def aclose(self) -> None:
        """Say goodbye and stop; what is still queued goes out first."""
        if self._closing:
            return
        self._closing = True
        client = self.client
        if client is not None:
            self._announce("leave")
            with trio.move_on_after(2.0):
                await client.flush()
        await trio.lowlevel.checkpoint()

    # ---- the Remote interface -----------------------------------------------------------

    def reaches(self, container: str) -> bool:
        """Every ``nats://`` container, through the cluster, while this one is open."""
        return not self._closing and (
            container in self._targets or container_name(container) is not None
        )

    def forward(self, env: Envelope, to: AgentRef, reply: ReplySlot | None = None) -> None:
        """Publish ``env`` to ``to``'s container; an ask keeps its slot until answered."""
        # PERF: a container's subject is worked out once (net_nats_tells)
        peer, target = self._targets.get(to.container) or self._target(to.container)
        if peer[0] == "@":
            if peer == ALL and reply is not None:
                raise ValueError(f"{to}: an ask needs one agent; {ANY}/{to.name} asks one of them")
            target = topic_subject(to.name, "g" if peer == ALL else "q")
        client = self.client
        wire = None if reply is None else self._reply_id()
        data = message_payload(self.codec, env, to.name, wire, None)
        limit = self.max_payload
        if len(data) > limit:
            raise EncodeError(
                f"{type(env.body).__name__} takes {len(data)} bytes on the wire, over the "
                f"NATS server's max_payload of {limit}"
            )
        if wire is not None:
            assert reply is not None
            self.pending[wire] = (reply, peer)
        subject = None if wire is None else f"{self._replies}.a{wire}"
        if client is None or not client.publish(target, data, subject):
            if wire is not None:
                self.pending.pop(wire, None)
            self.inbound.dead(env, DeadLetterReason.SEND_BUFFER_FULL, NoProc(), reply)

    ask_direct = no_direct_ask  # every ask goes by forward()

    def tell_direct(self, sender: AgentRef | None, to: AgentRef, body: Any, now: float) -> bool:
        """Publish a plain tell from its parts, with no envelope, to a container that a
        message went to before (PERF: net_nats_tells); anything out of the ordinary
        (a class or group, a payload over the limit, a full buffer) goes by
        :meth:`forward`, which says why."""
        found = self._targets.get(to.container)
        client = self.client
        if found is None or found[0][0] == "@" or client is None:
            return False
        payload = plain_payload(
            self.codec,
            None if sender is None else sender.address,
            to.name,
            body,
            None,
            None,
            None,
            now,
        )
        return len(payload) <= client.max_payload and client.publish(found[1], payload)

    def _target(self, container: str) -> tuple[str, str]:
        # The container name in a nats:// address, and the subject of its inbox (a
        # class or group's subject depends on the name: see forward()).
        peer = container_name(container)
        assert peer is not None, container  # reaches() said yes
        found = (peer, f"{PREFIX}.c.{peer}")
        if len(self._targets) >= _MAX_PEERS:
            self._targets.clear()  # addresses made up by peers: bounded
        self._targets[container] = found
        return found

    async def flush(self, to: AgentRef) -> None:
        """Nothing to do: the client's writer sends what is queued at its next turn."""

    def publish(self, env: Envelope) -> int:
        """Publish ``env`` to its topic's subject if another container subscribes to it;
        how many containers do, by their presence."""
        topic = env.topic
        known = sum(1 for peer in self.peers.values() if topic in peer.topics)
        client = self.client
        if known and client is not None:
            data = message_payload(self.codec, env, None, None, None)
            if len(data) <= client.max_payload:
                client.publish(topic_subject(topic), data)
        return known

    def interest(self, topic: str, add: bool) -> None:
        """Subscribe to (or leave) the topic's subject, and say so at once."""
        client = self.client
        if client is None:
            return
        if add and topic not in self._topic_subs:
            self._topic_subs[topic] = client.subscribe(topic_subject(topic), self._on_message)
        elif not add and topic in self._topic_subs:
            client.unsubscribe(self._topic_subs.pop(topic))
        self._announce("beat")

    def group(self, name: str, add: bool) -> None:
        """Follow a class or receiver group of this container: while it has members, the
        container takes the messages for ``@all/<name>``, and is one of the queue group
        the server chooses from for ``@any/<name>``."""
        client = self.client
        if client is None:
            return
        ways, every, one = self._groups.get(name, (0, None, None))
        if add:
            if ways == 0:
                every = client.subscribe(topic_subject(name, "g"), self._on_message)
                one = client.subscribe(topic_subject(name, "q"), self._on_queue, queue="tm")
            self._groups[name] = (ways + 1, every, one)
        elif ways == 1:
            del self._groups[name]
            self._turns.pop(name, None)
            client.unsubscribe(every)
            client.unsubscribe(one)
        elif ways > 1:
            self._groups[name] = (ways - 1, every, one)

    def tie(
        self, container: str, op: TieOp, id: int, ours: str, theirs: str, reason: ExitReason | None
    ) -> str | None:
        """Publish a monitor or link frame to ``container``; one to a container that does
        not exist comes back from the server as "no responders" (the ties break)."""
        peer = container_name(container)
        client = self.client
        if peer is None or client is None or self._closing:
            return None
        data = encode_tie(self.codec, op, id, ours, theirs, reason, self.address)
        if not client.publish(f"{PREFIX}.c.{peer}", data[4:], f"{self._replies}.t.{peer}"):
            return None
        return self._canonical(peer)

    # ---- discovery ----------------------------------------------------------------------

    async def discover(
        self, name: str | None, cls: str | None, topic: str | None, timeout: float | None
    ) -> list[AgentRef]:
        """The agents of the cluster's other containers with that name, of that class
        (by name), or subscribing to that topic; waits for every container known to be
        alive to answer, or ``timeout`` seconds."""
        client = self.client
        if client is None:
            return []
        self._ids += 1
        token = f"d{self._ids}"
        send, receive = trio.open_memory_channel[tuple[str, list[str]]](_MAX_PEERS)
        self._discoveries[token] = send
        found: list[AgentRef] = []
        # Every container known to be there answers; knowing none, wait the timeout. Only
        # a known container's first answer counts down: anyone may publish an answer.
        waiting = set(self.peers) or None
        try:
            client.publish(
                f"{PREFIX}.d",
                msgpack.packb([name, cls, topic]),
                f"{self._replies}.{token}",
            )
            with trio.move_on_after(self.discover_timeout if timeout is None else timeout):
                while waiting is None or waiting:
                    container, answers = await receive.receive()
                    if waiting is not None:
                        waiting.discard(container)
                    for address in answers:
                        try:
                            found.append(AgentRef.parse(address))
                        except ValueError:
                            continue  # not an address: a container that answers nonsense
        finally:
            del self._discoveries[token]
        return sorted(found)

    # ---- receiving ----------------------------------------------------------------------

    def _sender(self, msg: Msg) -> str | None:
        """The container a message came from, as its reply subject names it."""
        reply = msg.reply
        if reply is None or not reply.startswith(f"{PREFIX}.r."):
            return None
        name = reply.split(".", 3)[2]
        return name if TOKEN.match(name) else None

    def _on_message(self, msg: Msg) -> None:
        """A message or tie for this container (or a publish of one of its topics)."""
        try:
            item = parse(self.codec, msg.payload)
            kind = item[0]
            if kind == Kind.MSG:
                # PERF: a plain tell to an agent here takes no envelope (net_nats_tells)
                if msg.reply is None and arrive_tell(self.inbound, self.codec, item):
                    return
                self._arrive(item, msg)
                return
            sender = self._sender(msg)
            if kind == Kind.TICK:
                client = self.client
                if msg.reply is not None and client is not None:
                    client.publish(msg.reply, b"")  # "this name is taken"
            elif kind == Kind.TIE and sender is not None:
                op, id, theirs, ours, reason = decode_tie(item)
                self.inbound.tie(self._canonical(sender), TieOp(op), id, theirs, ours, reason)
            else:
                raise ProtocolError(f"unexpected {Kind(kind).name} on {msg.subject}")
        except (ProtocolError, DecodeError) as exc:
            log.warning("%s: a bad payload on %s: %s", self.address, msg.subject, exc)

    def _arrive(self, item: list[Any], msg: Msg) -> None:
        """Hand a ``MSG`` (parsed) to the container, with the way back if it is an ask."""
        reply = msg.reply
        if reply is None:  # PERF: a tell needs no way back (net_nats_tells)
            arrive(self.inbound, self.codec, item, self._no_return)
        else:
            sender = self._sender(msg)
            origin = "?" if sender is None else self._canonical(sender)
            arrive(self.inbound, self.codec, item, _Return(self, origin, reply))

    def _on_queue(self, msg: Msg) -> None:
        """A message for one agent of a class or group: the server chose this container,
        and this container chooses the member, in turn."""
        try:
            item = parse(self.codec, msg.payload)
            if item[0] != Kind.MSG or len(item) < 3 or not isinstance(item[2], str):
                raise ProtocolError(f"unexpected payload on {msg.subject}")
            group = item[2]
            members = self.inbound.members(group)
            if members:
                turn = self._turns.get(group, 0)
                self._turns[group] = turn + 1
                item[2] = members[turn % len(members)]
            self._arrive(item, msg)
        except (ProtocolError, DecodeError) as exc:
            log.warning("%s: a bad payload on %s: %s", self.address, msg.subject, exc)

    def _on_reply(self, msg: Msg) -> None:
        """An answer for this container: a reply, a discovery answer, or "no responders"."""
        token = msg.subject[len(self._replies) + 1 :]
        if token.startswith("a"):
            found = self.pending.pop(token[1:], None)
            if found is None:
                return  # late: its asker stopped waiting
            slot, peer = found
            if msg.status == 503:
                slot.set_error(
                    CalleeDown(f"nats://{peer}", NoConnection("no such container in the cluster"))
                )
                return
            try:
                item = parse(self.codec, msg.payload)
                if item[0] != Kind.REPLY:
                    raise ProtocolError("expected a REPLY")
                answer(slot, item)
            except (ProtocolError, DecodeError) as exc:
                slot.set_error(exc)
        elif token == "p" and msg.status is None:
            self._on_presence(attrs.evolve(msg, reply=None))
        elif token.startswith("t.") and msg.status == 503:
            self.inbound.peer_down(self._canonical(token[2:]), "no such container in the cluster")
        elif token.startswith("d"):
            channel = self._discoveries.get(token)
            if channel is not None and msg.status is None:
                try:
                    container, answers = msgpack.unpackb(msg.payload)
                    name = container_name(container) if isinstance(container, str) else None
                    if name is not None and isinstance(answers, list):
                        channel.send_nowait((name, [a for a in answers if isinstance(a, str)]))
                except (ValueError, TypeError, trio.WouldBlock, msgpack.UnpackException):
                    pass

    def _on_discover(self, msg: Msg) -> None:
        """Answer a discovery request with this container's matching agents."""
        client = self.client
        if client is None or msg.reply is None or self._sender(msg) == self.name:
            return
        try:
            name, cls, topic = msgpack.unpackb(msg.payload)
        except (ValueError, TypeError, msgpack.UnpackException):
            return
        if not all(part is None or isinstance(part, str) for part in (name, cls, topic)):
            return  # not a discovery this container could have sent
        answers: list[str] = []
        room = self.max_payload - 16
        for match in self.inbound.matching(name, cls, topic):
            address = f"{self.address}/{match}"
            room -= len(address.encode()) + 5
            if room < 0:
                break  # as many as one payload carries
            answers.append(address)
        client.publish(msg.reply, msgpack.packb([self.address, answers]))

    def _on_presence(self, msg: Msg) -> None:
        """A container joined, beat or left."""
        client = self.client
        if msg.reply is not None and client is not None and not self._closing:
            client.publish(msg.reply, self._presence("beat"))  # a join: "here I am"
        try:
            kind, address, beat, topics = msgpack.unpackb(msg.payload)
            name = container_name(address)
            if name is None or name == self.name or not isinstance(beat, int):
                return
        except (ValueError, TypeError, msgpack.UnpackException):
            return
        if kind == "leave":
            self._declare_down(name, "it left the cluster")
            return
        peer = self.peers.get(name)
        now = trio.current_time()
        if peer is None:
            if len(self.peers) >= _MAX_PEERS:
                return
            peer = self.peers[name] = _Peer(address, beat / 1000, now)
        peer.seen = now
        peer.beat = beat / 1000
        if isinstance(topics, list):
            peer.topics = {t for t in topics[:_MAX_TOPICS] if isinstance(t, str)}

    # ---- presence -----------------------------------------------------------------------

    def _presence(self, kind: str) -> bytes:
        topics = list(self._topic_subs)[:_MAX_TOPICS]
        payload: bytes = msgpack.packb([kind, self.address, round(self.heartbeat * 1000), topics])
        return payload

    def _announce(self, kind: str) -> None:
        """Tell the cluster; a join asks every container to say it is there, to this
        container alone (it knows the cluster within a round trip)."""
        client = self.client
        if client is not None:
            reply = f"{self._replies}.p" if kind == "join" else None
            client.publish(f"{PREFIX}.p", self._presence(kind), reply)

    def on_reconnected(self) -> None:
        """Back on a server (subscribed again by the client): join again."""
        self._announce("join")

    def _check_peers(self, now: float) -> None:
        for name, peer in list(self.peers.items()):
            limit = self.missed_beats * max(peer.beat, self.heartbeat)
            if now - peer.seen > limit:
                self._declare_down(name, f"declared down: no presence beat for {limit:g} s")

    def _declare_down(self, name: str, detail: str) -> None:
        peer = self.peers.pop(name, None)
        address = self._canonical(name) if peer is None else peer.address
        reason = NoConnection(detail)
        for wire, (slot, asked) in list(self.pending.items()):
            if asked == name:
                del self.pending[wire]
                slot.set_error(CalleeDown(address, reason))
        self.inbound.peer_down(address, detail)

    # ---- the client's news -----------------------------------------------------------

    def on_lost(self, lost: list[tuple[str, str | None, bytes]], why: DeadLetterReason) -> None:
        """Publishes the client could not deliver: the messages among them are dead
        letters (``why``), and the asks they carried fail at once."""
        for subject, reply, payload in lost:
            if not subject.startswith(f"{PREFIX}.c."):
                continue
            item = raw_parse(payload)
            if item is None or item[0] != Kind.MSG:
                continue
            try:
                env, receiver = decode_message(self.codec, item)
            except (ProtocolError, DecodeError):
                continue
            peer = subject[len(PREFIX) + 3 :]
            env.receiver = None if receiver is None else AgentRef(self._canonical(peer), receiver)
            slot = None
            if reply is not None and reply.startswith(f"{self._replies}.a"):
                found = self.pending.pop(reply[len(self._replies) + 2 :], None)
                slot = None if found is None else found[0]
            if slot is None:
                env.reply_with = None
            self.inbound.dead(env, why, NoProc(), slot)

    def on_disconnected(self, detail: str) -> None:
        """The connection to the server is lost: what was on its way may be lost too, so
        every other container is as good as down until it is heard from again."""
        for name in list(self.peers):
            self._declare_down(name, f"lost the NATS server: {detail}")
        reason = NoConnection(f"lost the NATS server: {detail}")
        pending, self.pending = self.pending, {}
        for slot, peer in pending.values():
            slot.set_error(CalleeDown(self._canonical(peer), reason))

    def _canonical(self, name: str) -> str:
        """The address a container goes by here: as it announced itself, or as named on
        this container's server."""
        peer = self.peers.get(name)
        return peer.address if peer is not None else f"{self.server}/{name}"

    def _reply_id(self) -> str:
        self._ids += 1
        return f"{self._ids:x}"

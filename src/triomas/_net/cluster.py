"""Joining a NATS cluster: a container's connection, made and its name claimed before
the container runs (so that a refused name or credential fails the open as itself),
then its :class:`~.broker.NatsNetwork`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, final

import trio

from .._messages.errors import NameTaken
from .._messages.events import DeadLetterReason
from .broker import NatsNetwork
from .subjects import PREFIX, TICK

if TYPE_CHECKING:
    from .._messages.codec import Codec
    from .._runtime.ports import Inbound
    from .nats import NatsClient

log = logging.getLogger("triomas.network")

__all__ = ["Broker", "connect_broker"]


@final
class Broker:
    """A container's NATS connection, made before the container (so that a refused
    name or credential fails the open as itself); its news goes to ``network``."""

    def __init__(self, client: NatsClient) -> None:
        self.client = client
        self.network: NatsNetwork | None = None
        self._slow = False

    def on_event(self, event: object) -> None:
        """What the client reports: lost publishes (dead letters: ``LOST`` if they may
        have reached the server, ``SLOW_CONSUMER`` after the server called this
        container slow, ``UNREACHABLE`` if they never left), a lost server, errors."""
        from .nats import Disconnected, Lost, Reconnected, ServerError, SlowConsumer

        network = self.network
        if network is None:
            return
        if isinstance(event, Lost):
            why = (
                DeadLetterReason.SLOW_CONSUMER
                if self._slow
                else DeadLetterReason.LOST
                if event.uncertain
                else DeadLetterReason.UNREACHABLE
            )
            network.on_lost([(m.subject, m.reply, m.payload) for m in event.messages], why)
        elif isinstance(event, Disconnected):
            log.warning(
                "%s: lost the NATS server %s: %s", network.address, event.server, event.reason
            )
            network.on_disconnected(event.reason)
        elif isinstance(event, Reconnected):
            self._slow = False
            network.on_reconnected()
        elif isinstance(event, SlowConsumer):
            self._slow = True
            log.warning("%s: the NATS server calls it slow: %s", network.address, event.message)
        elif isinstance(event, ServerError):
            log.warning("%s: the NATS server says: %s", network.address, event.message)

    async def join(
        self,
        inbound: Inbound,
        codec: Codec,
        nursery: trio.Nursery,
        server: str,
        name: str,
        *,
        heartbeat: float,
        missed_beats: int,
    ) -> NatsNetwork:
        """The container's network, subscribed and announced, beating in ``nursery``."""
        network = self.network = NatsNetwork(
            inbound, codec, name, server, heartbeat=heartbeat or 5.0, missed_beats=missed_beats
        )
        await nursery.start(network.run, self.client)
        return network


@asynccontextmanager
async def connect_broker(
    servers: Sequence[str],
    name: str,
    *,
    ssl_context: Any,
    nkey_seed: str | None,
    reconnect_timeout: float,
    send_buffer: int,
    claim_timeout: float = 1.0,
) -> AsyncIterator[Broker]:
    """Connect to the first of ``servers`` that answers and claim ``name`` in the
    cluster: :exc:`NameTaken` if a container there has it (its inbox answers a
    ``TICK``, where nobody's is "no responders")."""
    from .nats import NatsTimeout, NoResponders, open_nats  # with the first nats container

    relay: list[Broker] = []
    async with open_nats(
        list(servers),
        name=name,
        nkey_seed=nkey_seed,
        ssl_context=ssl_context,
        reconnect_timeout=reconnect_timeout,
        max_pending_bytes=send_buffer,
        echo=False,
        on_event=lambda event: relay[0].on_event(event) if relay else None,
    ) as client:
        broker = Broker(client)
        relay.append(broker)
        await client.flush()
        try:
            await client.request(f"{PREFIX}.c.{name}", TICK, timeout=claim_timeout)
        except NoResponders:
            pass
        except NatsTimeout:
            log.warning("%s: a container of the cluster may be called %s", servers[0], name)
        else:
            raise NameTaken(f"a container of the NATS cluster is called {name} already")
        try:
            yield broker
        finally:
            if broker.network is not None:
                await broker.network.aclose()

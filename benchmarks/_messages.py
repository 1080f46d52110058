"""The message classes every implementation sends (peers get the same objects)."""

from __future__ import annotations

from triomas import message


@message
class Ping:
    """An ask: the reply is ``n + 1``."""

    n: int


@message
class Ball:
    """A tell bounced between two agents; ``n`` counts the hops so far."""

    n: int


@message
class Item:
    """One message of the fan-out."""

    n: int


@message
class Go:
    """Starts the sender of a fan-out, or the asker of a round-trip loop."""

    n: int


@message(tag="bench.Crash")
class Crash:
    """A request whose handler raises: it ends the incarnation that gets it."""

    n: int


@message(tag="bench.Reading")
class Reading:
    """A four-field message, for the codec benchmark."""

    sensor: str
    seq: int
    value: float
    raw: bytes

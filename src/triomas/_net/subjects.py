"""Names on a NATS cluster: a container's address and name, and the subjects of its
inbox, its answers, topics, classes and groups (see :mod:`.broker`)."""

from __future__ import annotations

import base64
import os
import re

import msgpack

from .wire import Kind

__all__ = [
    "ALL",
    "ANY",
    "PREFIX",
    "TICK",
    "TOKEN",
    "container_name",
    "split_nats_address",
    "topic_subject",
]

PREFIX = "tm"
TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,200}$")
_SAFE_TOPIC = re.compile(r"^[A-Za-z0-9_\-:]{1,200}$")
TICK = msgpack.packb([int(Kind.TICK)])
"""A ``TICK`` payload: asks a container's inbox whether anyone is there."""


def split_nats_address(address: str, name: str | None) -> tuple[str, str]:
    """The server URL and the container name of ``nats://host:port[/name]``; a name in
    the address and ``name`` must agree. Raises :exc:`ValueError` if either is bad."""
    if not address.startswith("nats://") and not address.startswith("tls://"):
        raise ValueError(f"{address!r} is not a nats:// address")
    scheme, _, rest = address.partition("://")
    server, slash, named = rest.partition("/")
    if slash and named:
        if name is not None and name != named:
            raise ValueError(f"{address!r} names the container {named!r}, and name= {name!r}")
        name = named
    if name is None:
        name = f"c{os.urandom(6).hex()}"
    if not TOKEN.match(name):
        raise ValueError(
            f"a nats container's name is letters, digits, '-' and '_' (it is a subject "
            f"token), not {name!r}"
        )
    if not server:
        raise ValueError(f"{address!r} has no server")
    return f"{scheme}://{server}", name


def container_name(address: str) -> str | None:
    """The container name of a ``nats://…/name`` container address, whatever server it
    names (a cluster reaches a container through any of its servers)."""
    known = _NAMES.get(address, _NO_NAME)
    if known is not _NO_NAME:
        return known
    name: str | None = None
    if address.startswith("nats://"):
        name = address.rpartition("/")[2]
        ok = TOKEN.match(name) is not None or name in (ALL, ANY)
        name = name if ok and address.count("/") >= 3 else None
    if len(_NAMES) >= 4096:
        _NAMES.clear()
    _NAMES[address] = name
    return name


_NAMES: dict[str, str | None] = {}
_NO_NAME = ""


def topic_subject(topic: str, kind: str = "t") -> str:
    """The subject of a topic (or, ``kind`` "g" and "q", of a class or group): the name
    itself if it is one safe token, else its UTF-8 in base32 (a topic may hold dots,
    spaces or wildcards, which subjects cannot)."""
    if _SAFE_TOPIC.match(topic):
        return f"{PREFIX}.{kind}.{topic}"
    coded = base64.b32encode(topic.encode()).decode().rstrip("=").lower()
    return f"{PREFIX}.{kind}.~{coded}"


ALL = "@all"
"""The container part of an address for every agent of a class or group in the cluster
(``nats://host:4222/@all/Worker``)."""
ANY = "@any"
"""The container part of an address for one agent of a class or group in the cluster,
the server choosing the container (a NATS queue group) and it the agent."""

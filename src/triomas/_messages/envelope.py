"""The envelope every message travels in."""

from __future__ import annotations

from typing import Any, final

import attrs

from .ref import AgentRef


@final
@attrs.define(slots=True, eq=True)
class Envelope:
    """A message with its routing and conversation fields.

    One envelope is shared by every recipient of a send (a group, a topic, the
    trackers), so treat it as read-only. It is not frozen only because building
    frozen attrs instances costs about three times as much on the hot path.

    ``receiver`` is what the sender addressed: a reference, a name, a class or
    group name, or ``None`` for a publish. ``sent_at`` is clock time.

    ``performative`` names a speech act (``"tell"``, ``"cfp"``, ...) and is None
    for plain messages. ``conversation_id``, ``reply_with``, ``in_reply_to`` and
    ``reply_by`` (clock time) thread conversations; ``protocol`` (such as
    ``"fipa-contract-net"``), ``ontology`` and ``language`` are FIPA-ACL's fields,
    carried for the agents and never read by the runtime.
    """

    body: Any
    sender: AgentRef | None = None
    receiver: AgentRef | str | None = None
    topic: str = ""
    performative: str | None = None
    conversation_id: str | None = None
    reply_with: str | None = None
    in_reply_to: str | None = None
    reply_by: float | None = None
    sent_at: float = 0.0
    protocol: str | None = None
    ontology: str | None = None
    language: str | None = None
    # Where the answer to an ask from another container goes in the reply table,
    # when ``reply_with`` keeps the id the asker chose.
    _reply_key: str | None = attrs.field(default=None, eq=False, repr=False)

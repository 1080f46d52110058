"""Who hears what: topic subscribers, sender trackers and receiver groups."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal, final

import attrs

from .._messages.ref import AgentRef

if TYPE_CHECKING:
    from .._messages.envelope import Envelope
    from .cell import Cell

Kind = Literal["topic", "sender", "receiver", "inbox"]


def topic_name(topic: str | type) -> str:
    """A topic given as a class stands for the class name."""
    return topic.__name__ if isinstance(topic, type) else topic


@final
class Subscriptions:
    """Ordered sets of cells per topic, per tracked sender name and per receiver group.

    Insertion order is kept (dicts used as ordered sets) so that fan-out order,
    and with it every virtual-time trace, is deterministic.
    """

    __slots__ = (
        "_by_cell",
        "filters",
        "inboxes",
        "on_group",
        "on_topic",
        "receivers",
        "topics",
        "trackers",
    )

    def __init__(self) -> None:
        self.topics: dict[str, dict[Cell, None]] = {}
        self.trackers: dict[str, dict[Cell, None]] = {}
        self.receivers: dict[str, dict[Cell, None]] = {}
        self.filters: dict[tuple[str, Cell], tuple[str | None, str | None]] = {}
        """For a sender tracking made with ``topic=`` or ``receiver=`` too: the topic and
        the receiver a copy must have (one filter, both must match: MASlite's)."""
        self.inboxes: dict[str, dict[Cell, None]] = {}
        """Per agent name, the cells that get a copy of its mail (MASlite's receiver
        tracking: ``subscribe(receiver=name)`` where an agent has that name)."""
        self._by_cell: dict[Cell, set[tuple[Kind, str]]] = {}
        self.on_group: Callable[[str, bool], object] | None = None
        """Called with ``(group, True)`` when a receiver group gets its first member and
        ``(group, False)`` when it loses its last (a broker network subscribes)."""
        self.on_topic: Callable[[str, bool], object] | None = None
        """Called with ``(topic, True)`` when a topic gets its first subscriber and
        ``(topic, False)`` when it loses its last (the network tells peers)."""

    def _table(self, kind: Kind) -> dict[str, dict[Cell, None]]:
        return (
            self.topics
            if kind == "topic"
            else self.trackers
            if kind == "sender"
            else self.receivers
            if kind == "receiver"
            else self.inboxes
        )

    def change(
        self,
        cell: Cell,
        topic: str | type | None,
        sender: AgentRef | str | None,
        receiver: str | None,
        *,
        add: bool,
        receiver_is_agent: bool = False,
    ) -> None:
        """Add or remove the subscriptions named by the non-None arguments; a receiver
        that is an agent's name tracks that agent's mail rather than join a group."""
        keys: list[tuple[Kind, str]] = []
        if sender is not None and (topic is not None or receiver is not None):
            # one filtered tracking, not a topic, a tracking and a group
            name = sender.name if isinstance(sender, AgentRef) else sender
            if add:
                self.filters[(name, cell)] = (
                    None if topic is None else topic_name(topic),
                    receiver,
                )
            keys.append(("sender", name))
            topic = receiver = None
        elif sender is not None:
            name = sender.name if isinstance(sender, AgentRef) else sender
            if add:  # the later subscription wins: a filter made before is dropped
                self.filters.pop((name, cell), None)
            keys.append(("sender", name))
        if topic is not None:
            keys.append(("topic", topic_name(topic)))
        if receiver is not None:
            if add:
                keys.append(("inbox" if receiver_is_agent else "receiver", receiver))
            else:  # whichever it was
                keys.extend([("inbox", receiver), ("receiver", receiver)])
        if not keys:
            raise TypeError("name a topic=, sender= or receiver=")
        for kind, key in keys:
            if add:
                table = self._table(kind)
                members = table.get(key)
                if members is None:
                    members = table[key] = {}
                    if kind == "topic" and self.on_topic is not None:
                        self.on_topic(key, True)
                    elif kind == "receiver" and self.on_group is not None:
                        self.on_group(key, True)
                members[cell] = None
                self._by_cell.setdefault(cell, set()).add((kind, key))
            else:
                self._remove(cell, kind, key)

    def passes(self, sender: str, tracker: Cell, topic: str, receiver: object) -> bool:
        """Whether a copy of a message (``topic``, to ``receiver``) from ``sender`` is for
        ``tracker``: always, unless its tracking has a filter that it does not meet."""
        wanted = self.filters.get((sender, tracker)) if self.filters else None
        if wanted is None:
            return True
        want_topic, want_receiver = wanted
        if want_topic is not None and topic != want_topic:
            return False
        if want_receiver is None:
            return True
        name = receiver.name if isinstance(receiver, AgentRef) else receiver
        return name == want_receiver

    def copy_to_trackers(self, sender: str, trackers: dict[Cell, None], env: Envelope) -> None:
        """Copies of ``env``, sent by ``sender``, for the ``trackers`` of its mail whose
        filters it passes (a copy is never an ask: it carries no ``reply_with``)."""
        copy = env if env.reply_with is None else attrs.evolve(env, reply_with=None)
        for tracker in trackers:
            if self.passes(sender, tracker, env.topic, env.receiver):
                tracker.deliver(tracker, copy)

    def copy_to_inboxes(self, target: Cell | list[Cell], env: Envelope) -> None:
        """Copies of ``env`` for the agents that track the mail of its recipients."""
        copy = env if env.reply_with is None else attrs.evolve(env, reply_with=None)
        for member in target if isinstance(target, list) else (target,):
            for tracker in self.inboxes.get(member.name, ()):
                if tracker is not member:
                    tracker.deliver(tracker, copy)

    def _remove(self, cell: Cell, kind: Kind, key: str) -> None:
        if kind == "sender":
            self.filters.pop((key, cell), None)
        table = self._table(kind)
        members = table.get(key)
        if members is not None:
            members.pop(cell, None)
            if not members:
                del table[key]
                if kind == "topic" and self.on_topic is not None:
                    self.on_topic(key, False)
                elif kind == "receiver" and self.on_group is not None:
                    self.on_group(key, False)
        mine = self._by_cell.get(cell)
        if mine is not None:
            mine.discard((kind, key))
            if not mine:
                del self._by_cell[cell]

    def drop(self, cell: Cell) -> None:
        """Remove every subscription of ``cell``."""
        for kind, key in sorted(self._by_cell.get(cell, ())):
            self._remove(cell, kind, key)

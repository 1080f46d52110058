"""The belief base and the goal base: insertion-ordered sets indexed by name."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Generic, final

from ._terms import T, matches

if TYPE_CHECKING:
    from ._match import Matcher


@final
class Base(Generic[T]):
    """Beliefs (or goals) by name, each name's in the order they were added.

    Only the owning agent's tasks touch it, so it has no locks.
    """

    __slots__ = ("_by_name",)

    def __init__(self) -> None:
        self._by_name: dict[str, dict[T, None]] = {}

    def add(self, item: T) -> bool:
        """Add ``item``; False if the same one (name, arguments, source) is held."""
        same = self._by_name.get(item.name)
        if same is None:
            self._by_name[item.name] = {item: None}
            return True
        held = len(same)
        same[item] = None  # PERF: one hash of the item, not two; an equal one held stays
        return len(same) != held

    def discard(self, item: T) -> bool:
        """Remove exactly ``item``; False if it was not held."""
        same = self._by_name.get(item.name)
        if same is None or item not in same:
            return False
        del same[item]
        if not same:
            del self._by_name[item.name]
        return True

    def first(self, pattern: T) -> T | None:
        """The oldest item matching ``pattern``, or None."""
        same = self._by_name.get(pattern.name)
        if same:
            if pattern.source is not None and pattern in same:
                return pattern
            for item in same:
                if matches(pattern, item):
                    return item
        return None

    def find(self, pattern: T, match: Matcher) -> tuple[T, tuple[Any, ...]] | None:
        """As :meth:`first`, with ``match`` the pattern compiled (a plan's context): the
        oldest matching item and the values it binds, or None."""
        same = self._by_name.get(pattern.name)
        if same:
            if pattern.source is not None and pattern in same:
                values = match(pattern)
                if values is not None:
                    return pattern, values
            for item in same:
                values = match(item)
                if values is not None:
                    return item, values
        return None

    def all(self, pattern: T) -> list[T]:
        """Every item matching ``pattern``, oldest first."""
        same = self._by_name.get(pattern.name)
        if not same:
            return []
        return [item for item in same if matches(pattern, item)]

    def __contains__(self, item: object) -> bool:
        name = getattr(item, "name", None)
        same = self._by_name.get(name) if isinstance(name, str) else None
        return same is not None and item in same

    def __iter__(self) -> Iterator[T]:
        for same in list(self._by_name.values()):
            yield from list(same)

    def __len__(self) -> int:
        return sum(len(same) for same in self._by_name.values())

"""Agent references and addresses."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

import attrs

if TYPE_CHECKING:
    from .._runtime.cell import Cell as LocalTarget
else:
    LocalTarget = object  # the runtime's cell: opaque here, typed for the checker only


@final
@attrs.frozen(slots=True, cache_hash=True, order=True)
class AgentRef:
    """A stable reference to an agent: its container's address plus its name.

    The address reads ``local://container/name``, ``tcp://host:port/name`` or
    ``unix:///path/to.sock/name``. A reference stays valid across restarts;
    references compare equal by address, and sort by it (container, then name).
    """

    container: str
    name: str
    _cell: LocalTarget | None = attrs.field(default=None, eq=False, repr=False, alias="cell")

    @property
    def address(self) -> str:
        """The full address, ``<container address>/<name>``."""
        return f"{self.container}/{self.name}"

    def __str__(self) -> str:
        return self.address

    @classmethod
    def parse(cls, address: str) -> AgentRef:
        """Split an address into container address and agent name.

        Raises :exc:`ValueError` when ``address`` has no scheme or no name.
        """
        # PERF: the same few addresses are parsed again and again (a send by address
        # resolves, routes and names its receiver); a reference is immutable.
        ref = _PARSED.get(address)
        if ref is not None and cls is AgentRef:
            return ref
        scheme, sep, rest = address.partition("://")
        if not sep or not scheme:
            raise ValueError(f"{address!r} is not an agent address (no scheme://)")
        container, slash, name = rest.rpartition("/")
        if not slash or not name or not container:
            raise ValueError(f"{address!r} has no agent name after the container address")
        ref = cls(f"{scheme}://{container}", name)
        if cls is AgentRef:
            if len(_PARSED) >= _PARSED_MAX:
                _PARSED.clear()
            _PARSED[address] = ref
        return ref


_PARSED: dict[str, AgentRef] = {}
_PARSED_MAX = 4096


def check_address(to: str) -> None:
    """Refuse, with :exc:`ValueError`, a recipient written with a ``/`` that is not an
    agent address the runtime can route (an agent's name never has one): it would
    otherwise be a local name nobody has, and a dead letter."""
    if to in _CHECKED:
        return  # PERF: the same few addresses are sent to again and again
    scheme, sep, _ = to.partition("://")
    if not sep:
        raise ValueError(
            f"{to!r} is not an agent address: write scheme://container/name "
            f"(tcp://host:port/name, unix:///path/name, local://container/name); agent "
            f"names have no '/'"
        )
    if not scheme.isalpha() or not scheme.islower():
        raise ValueError(f"{to!r}: the scheme of an address is lowercase letters ({scheme!r})")
    ref = AgentRef.parse(to)  # ValueError if it has no name
    if scheme == "tcp":
        _, colon, port = ref.container[len("tcp://") :].rpartition(":")
        if not colon or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{to!r}: a tcp address needs a port from 0 to 65535")
    if len(_CHECKED) >= _PARSED_MAX:
        _CHECKED.clear()
    _CHECKED.add(to)


_CHECKED: set[str] = set()


def address_or_name(to: Any) -> AgentRef | str:
    """``to`` as a reference if it is written as an agent's address, else as written."""
    if isinstance(to, str) and "://" in to:
        try:
            return AgentRef.parse(to)
        except ValueError:
            return to
    return str(to)


def as_ref(to: AgentRef | str, home: str) -> AgentRef:
    """``to`` as a reference: a name is taken to live in container ``home``."""
    if isinstance(to, AgentRef):
        return to
    return AgentRef.parse(to) if is_address(to) else AgentRef(home, to)


def is_address(value: Any) -> bool:
    """Whether ``value`` is a string written as an address (it has a ``scheme://``)."""
    return isinstance(value, str) and "://" in value

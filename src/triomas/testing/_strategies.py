"""Hypothesis strategies for ``@message`` classes (needs hypothesis installed)."""

from __future__ import annotations

from typing import Any

import attrs
from hypothesis import strategies as st


def messages(cls: type, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Instances of the ``@message`` class ``cls``, each field drawn from its type (or
    from the strategy given for it by name, for fields whose type says too little).

    Integers are drawn within the wire's 64 bits, so that every instance travels."""
    if not attrs.has(cls):
        raise TypeError(f"{cls!r} is not a @message class")
    resolved = attrs.resolve_types(cls)
    drawn: dict[str, st.SearchStrategy[Any]] = {}
    for field in attrs.fields(resolved):
        if not field.init:
            continue
        if field.name in fields:
            drawn[field.alias or field.name] = fields[field.name]
        elif field.type is int:
            drawn[field.alias or field.name] = _WIRE_INTS
        elif field.type is not None:
            drawn[field.alias or field.name] = st.from_type(field.type)
    return st.builds(cls, **drawn)


_WIRE_INTS = st.integers(min_value=-(2**63), max_value=2**64 - 1)

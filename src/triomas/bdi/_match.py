"""Patterns compiled to matchers: one small function per pattern, made from its shape.

:func:`~triomas.bdi._terms.matches` and :func:`~triomas.bdi._terms.bindings` read a
pattern anew for every item. A plan's trigger and context patterns never change, so the
plan library compiles each one once, as the codec compiles each message class: the
generated function checks the source, the arity and each constant argument inline, and
returns the values the wildcards bind (PERF: a few hundred nanoseconds less per event
than ``matches`` then ``bindings``; bdi_tell_* in benchmarks/run.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from ._terms import Belief, Goal, Wildcard

Matcher = Callable[[Any], "tuple[Any, ...] | None"]
"""A compiled pattern: called with an item of the pattern's kind and name, it returns the
values the pattern's wildcards bind, in order, if the item matches, else None."""


def _has_wildcard(value: Any) -> bool:
    if type(value) is Wildcard:
        return True
    return type(value) is tuple and any(_has_wildcard(v) for v in value)


def compile_pattern(pattern: Belief | Goal) -> Matcher:
    """The matcher of ``pattern``, for items of its kind and name (the plan index and the
    belief base look those up first).

    It agrees with ``matches(pattern, item)`` and ``bindings(pattern, item)``: the same
    source unless the pattern's is None, the same arity, each argument equal to the
    pattern's (the pattern's ``==`` asked first) or bound by a wildcard, and a tuple with
    wildcards in it matching a tuple of its length element by element.
    """
    args = pattern.args
    if not any(_has_wildcard(arg) for arg in args):
        return _constant(pattern)
    scope: dict[str, Any] = {}
    lines = ["    a = item.args", f"    if len(a) != {len(args)}:", "        return None"]
    if pattern.source is not None:
        scope["source"] = pattern.source
        lines[1:1] = ["    if source != item.source:", "        return None"]
    bound: list[str] = []
    count = itertools.count()  # numbers the names of the constants and nested tuples

    def visit(value: Any, expr: str) -> None:
        if type(value) is Wildcard:
            bound.append(expr)
        elif _has_wildcard(value):
            name = f"t{next(count)}"
            lines.append(f"    {name} = {expr}")
            lines.append(f"    if type({name}) is not tuple or len({name}) != {len(value)}:")
            lines.append("        return None")
            for i, v in enumerate(value):
                visit(v, f"{name}[{i}]")
        else:
            name = f"c{next(count)}"
            scope[name] = value
            lines.append(f"    if not ({name} == {expr}):")
            lines.append("        return None")

    for i, arg in enumerate(args):
        visit(arg, f"a[{i}]")
    if bound == [f"a[{i}]" for i in range(len(args))]:
        lines.append("    return a")  # only wildcards: the values are the arguments
    else:
        lines.append(f"    return ({''.join(b + ', ' for b in bound)})")
    code = "def match(item):\n" + "\n".join(lines) + "\n"
    exec(compile(code, f"<triomas matcher for {pattern!r}>", "exec"), scope)
    match: Matcher = scope["match"]
    return match


def _constant(pattern: Belief | Goal) -> Matcher:
    """The matcher of a pattern with no wildcard: equal arguments, and the source."""
    args = pattern.args
    source = pattern.source
    none: tuple[Any, ...] = ()

    if source is None:

        def match(item: Any) -> tuple[Any, ...] | None:
            return none if args == item.args else None

    else:

        def match(item: Any) -> tuple[Any, ...] | None:
            return none if source == item.source and args == item.args else None

    return match

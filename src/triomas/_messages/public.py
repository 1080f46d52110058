"""How the public packages present their names: under the public module's name."""

from __future__ import annotations

import inspect
from typing import Any

import attrs


def fixup_module_metadata(
    module_name: str, namespace: dict[str, Any], also: tuple[str, ...] = ()
) -> None:
    """Make every name in ``namespace["__all__"]`` that a private module of
    ``module_name`` defines say it lives in ``module_name`` (``triomas.CalleeDown``,
    not ``triomas._messages.errors.CalleeDown``), with its methods; as trio does.

    Tracebacks, reprs and ``help()`` then show the import path users write. ``also``:
    other private modules whose names ``module_name`` re-exports as its own.
    """
    prefixes = (module_name + "._", *also)
    seen: set[int] = set()

    def fix(obj: Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if not getattr(obj, "__module__", "").startswith(prefixes):
            return
        if attrs.has(obj):
            # Resolve the string annotations while the defining module is still the
            # one they are read in (the codec resolves them lazily, by __module__).
            try:
                attrs.resolve_types(obj)
            except NameError:
                return  # an annotation only a type checker sees: keep the true module
        obj.__module__ = module_name
        if inspect.isclass(obj):
            for member in vars(obj).values():
                if inspect.isfunction(member) or inspect.isclass(member):
                    fix(member)

    for name in namespace["__all__"]:
        obj = namespace[name]
        if inspect.isclass(obj) or inspect.isfunction(obj):
            fix(obj)

"""RPC in aiomas' style: ``@expose`` methods, called through a :class:`Proxy`.

A call is an ask of a :class:`Call` message, so it queues in the callee's mailbox
like any message and runs one at a time. An exception in an exposed method is the
caller's: it comes back as :exc:`RemoteError` and the callee carries on.
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, final

from .._messages.errors import NoHandler, NotExposed, RemoteError
from .._messages.message import message
from .._messages.ref import AgentRef
from .handlers import Handler, can_suspend

F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__triomas_expose__"


def expose(fn: F) -> F:
    """Make a method callable over RPC, through a proxy from :meth:`Agent.connect`.

    It may be sync or async; its arguments and return value must be able to travel
    (msgpack types, ``@message`` instances, aware datetimes, UUIDs).
    """
    setattr(fn, _MARK, True)
    return fn


@message(tag="triomas.Call")
class Call:
    """An RPC request: call ``method(*args, **kwargs)``."""

    method: str
    args: Any
    kwargs: Any


@message(tag="triomas.Describe")
class Describe:
    """Asks an agent for the names of its exposed methods."""


@message(tag="triomas.CallFailed")
class CallFailed:
    """The answer to a :class:`Call` whose method raised."""

    type_name: str
    text: str
    origin: str
    traceback: str


@message(tag="triomas.CallRefused")
class CallRefused:
    """The answer to a :class:`Call` that named no exposed method, or bad arguments."""

    reason: str


def exposed_methods(cls: type) -> dict[str, Callable[..., Any]]:
    """The exposed methods of an agent class, by name (inherited ones included)."""
    found: dict[str, Callable[..., Any]] = {}
    for klass in reversed(cls.__mro__):
        for name, value in vars(klass).items():
            if getattr(value, _MARK, False):
                found[name] = value
            elif name in found:
                del found[name]  # overridden without @expose: no longer exposed
    return found


def rpc_handlers(cls: type) -> dict[type, Handler]:
    """The handlers of :class:`Call` and :class:`Describe` for a class that exposes
    methods (none if it exposes nothing)."""
    methods = exposed_methods(cls)
    if not methods:
        return {}
    names = sorted(methods)
    suspends = any(can_suspend(fn) for fn in methods.values())
    any_async = any(inspect.iscoroutinefunction(fn) for fn in methods.values())

    def prepare(agent: Any, msg: Call) -> Callable[..., Any] | CallRefused:
        fn = methods.get(msg.method)
        if fn is None:
            return CallRefused(
                f"{cls.__qualname__} does not expose {msg.method!r}; it exposes {names}"
            )
        if not isinstance(msg.args, (list, tuple)) or not isinstance(msg.kwargs, dict):
            return CallRefused(f"malformed call of {msg.method!r}")
        return fn

    def failed(agent: Any, exc: Exception) -> CallFailed:
        text = "".join(traceback.format_exception(exc))
        return CallFailed(type(exc).__qualname__, str(exc), agent.ref.address, text)

    def call(agent: Any, msg: Call) -> Any:
        fn = prepare(agent, msg)
        if isinstance(fn, CallRefused):
            return fn
        try:
            return fn(agent, *msg.args, **msg.kwargs)
        except Exception as exc:
            return failed(agent, exc)

    async def call_async(agent: Any, msg: Call) -> Any:
        fn = prepare(agent, msg)
        if isinstance(fn, CallRefused):
            return fn
        try:
            result = fn(agent, *msg.args, **msg.kwargs)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            return failed(agent, exc)
        return result

    def describe(agent: Any, msg: Describe) -> list[str]:
        return names

    return {
        Call: Handler(call_async if any_async else call, any_async, False, False, suspends),
        Describe: Handler(describe, False, False, False, False),
    }


Asker = Callable[..., Awaitable[Any]]


@final
class Proxy:
    """Calls an agent's exposed methods: ``await proxy.spam(3)``.

    Get one from :meth:`Agent.connect` or :meth:`Container.connect`. Each call is an
    ask with the proxy's ``timeout`` (clock seconds): it fails with
    :exc:`AskTimeout`, with :exc:`CalleeDown` at once if the agent stopped or
    crashed, with :exc:`RemoteError` if the method raised, and with
    :exc:`NotExposed` for a method the agent does not expose.
    """

    __slots__ = ("_ask", "_methods", "ref", "timeout")

    def __init__(self, ask: Asker, ref: AgentRef, methods: list[str], timeout: float) -> None:
        self._ask = ask
        self.ref = ref
        self._methods = frozenset(methods)
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"<Proxy {self.ref.address} exposing {sorted(self._methods)}>"

    def __dir__(self) -> list[str]:
        return sorted(self._methods)

    def __getattr__(self, name: str) -> Callable[..., Awaitable[Any]]:
        if name not in self._methods:
            raise NotExposed(
                f"{self.ref.address} does not expose {name!r}; it exposes {sorted(self._methods)}"
            )

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await self._ask(self.ref, Call(name, list(args), kwargs), timeout=self.timeout)
            if isinstance(result, CallFailed):
                raise RemoteError(result.type_name, result.text, result.origin, result.traceback)
            if isinstance(result, CallRefused):
                raise NotExposed(result.reason)
            return result

        call.__name__ = name
        return call


async def connect(ask: Asker, ref: AgentRef, timeout: float) -> Proxy:
    """A proxy for ``ref``, after asking it which methods it exposes."""
    try:
        names = await ask(ref, Describe(), timeout=timeout)
    except NoHandler:
        raise NotExposed(f"{ref.address} exposes no methods") from None
    return Proxy(ask, ref, list(names), timeout)

"""The port an instrumentation plugs into: :class:`Observer` (``Container.observe``).

The runtime calls an observer, when one is set, around each ask it makes and each
message it hands to a handler, and asks it for the trace context to carry in each
envelope it builds. ``triomas.otel`` implements it with OpenTelemetry; nothing here
knows of that. With no observer the message paths pay one attribute test per send or
batch and nothing else (live fan-out in ``benchmarks/run.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from .._messages.envelope import Envelope
    from .._messages.ref import AgentRef

__all__ = ["Finish", "Observer"]

Finish = Callable[[BaseException | None], None]
"""Ends what an observer began: called once, with the exception that ended it or None."""


class Observer(Protocol):
    """What a container tells an instrumentation; see :meth:`Container.observe`.

    Each method is called in the task that does the work (the asker's, the handler's),
    so a context variable set in one (OpenTelemetry's current span, say) is seen by
    the sends made inside it. An observer must not raise: an exception from it
    reaches the agent (or the asker) as if its own code had raised it.
    """

    def sending(self, sender: AgentRef | None, env: Envelope) -> str | None:
        """``sender`` (None: code outside the agents) sends ``env`` (a tell, an ask or a
        publish): the trace context it is to carry (a W3C ``traceparent``), or None. It
        travels to other containers with the message."""
        ...

    def asking(self, sender: AgentRef | None, receiver: Any, body: Any) -> Finish:
        """An ask of ``body`` to ``receiver`` begins (``sender`` None: from outside the
        agents); the result is called when the answer, an error or a timeout ends it."""
        ...

    def handling(self, agent: AgentRef, cls: type, env: Envelope) -> Finish:
        """The agent ``agent`` (of class ``cls``) begins to handle ``env``; the result is
        called when its handler returns or raises (an ``await`` inside it included)."""
        ...

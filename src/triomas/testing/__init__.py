"""Helpers for testing agents: trace recording, and the conformance suites
``check_engine`` and ``check_transport`` that other engines and transports reuse."""

from .._messages.public import fixup_module_metadata
from ._conformance import ContainerFactory, check_engine, check_transport
from ._trace import TraceRecorder

__all__ = ["ContainerFactory", "TraceRecorder", "check_engine", "check_transport"]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata

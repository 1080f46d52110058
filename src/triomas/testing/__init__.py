"""Helpers for testing agents: trace recording."""

from .._messages.public import fixup_module_metadata
from ._trace import TraceRecorder

__all__ = ["TraceRecorder"]

fixup_module_metadata(__name__, globals())
del fixup_module_metadata

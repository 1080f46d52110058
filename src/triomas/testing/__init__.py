"""Helpers for testing agents: trace recording."""

from ._trace import TraceRecorder

__all__ = ["TraceRecorder"]

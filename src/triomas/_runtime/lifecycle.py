"""Where an incarnation is in its lifecycle, and who ended it."""

from __future__ import annotations

import enum

__all__ = ["Life", "StopKind"]


class Life(enum.Enum):
    """Where the incarnation is in its lifecycle."""

    NEW = enum.auto()
    RUNNING = enum.auto()
    STOPPING = enum.auto()
    RESTARTING = enum.auto()
    """Between incarnations: the mailbox keeps what arrives for the next one."""
    STOPPED = enum.auto()


class StopKind(enum.Enum):
    """Who ended the incarnation, when it was not the agent's own doing."""

    OWN = enum.auto()
    """The agent stopped itself or failed: its restart type decides."""
    FINAL = enum.auto()
    """Its supervisor, ``remove``, the container's stop or passivation: never restarted."""
    GROUP = enum.auto()
    """Stopped for a group restart, which starts it again (unless it is temporary)."""
    STOP = enum.auto()
    """Its supervisor's decider said to stop it for good."""
    ESCALATE = enum.auto()
    """Its supervisor's decider said to escalate this failure."""

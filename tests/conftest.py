"""Shared fixtures: virtual-time containers and trace recording."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

import triomas
from triomas.testing import TraceRecorder


@pytest.fixture
def recorder() -> TraceRecorder:
    """A fresh trace recorder."""
    return TraceRecorder()


@pytest.fixture
async def vc(recorder: TraceRecorder) -> AsyncIterator[triomas.Container]:
    """A container in virtual time (jumping clock), seed 1, traced into ``recorder``."""
    async with triomas.open_container(
        clock=triomas.VirtualClock(), seed=1, trace=recorder
    ) as container:
        yield container

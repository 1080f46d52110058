"""Shared fixtures: virtual-time containers and trace recording."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

import triomas
from triomas.testing import TraceRecorder

# In CI, property tests use a fixed sequence of examples, so a run is repeatable;
# locally they keep exploring.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")


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

"""Waiting for state that changes in a simulator, a thread or another process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def until(predicate: Callable[[], object], interval: float = 0.01) -> None:
    """Return once ``predicate()`` is truthy; callers bound the wait with ``asyncio.timeout``."""
    # The state lives outside this loop's control (device thread, subprocess): poll it.
    while not predicate():
        await asyncio.sleep(interval)

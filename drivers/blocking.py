"""Running a blocking device call in a worker thread without losing track of it on cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """Run ``fn(*args)`` in a worker thread; if the caller is cancelled, still wait for the thread.

    Callers hold a per-device lock around this: the lock must stay held until the thread is
    off the device, or the next command would run concurrently with it. The device's own
    read/write timeouts bound that wait.
    """
    future = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the caller is gone, the outcome is moot
        raise

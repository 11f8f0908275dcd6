"""
An attempt's timeout. An async task is cancelled on its event loop when its time is up.
A sync task is stopped by its backend where the backend can do so safely (RQ raises in
its work-horse's main thread, from a signal, which also interrupts a blocking call);
elsewhere (Immediate runs in the caller's thread, which nothing should interrupt) the
attempt is checked when it returns, and fails if it took too long.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .exceptions import TaskTimeout

T = TypeVar("T")


def timed_out(what: str, seconds: float) -> TaskTimeout:
    return TaskTimeout(f"{what} ran past its timeout of {seconds:g} s.")


def call_with_timeout(call: Callable[[], T], seconds: float | None, what: str) -> T:
    """`call()`, then TaskTimeout instead of its value if it ran past `seconds`."""
    if seconds is None:
        return call()
    started = time.monotonic()
    value = call()
    if time.monotonic() - started > seconds:
        raise timed_out(what, seconds)
    return value


async def await_with_timeout(awaitable: Awaitable[T], seconds: float | None, what: str) -> T:
    """Await it, cancelled with TaskTimeout once it runs past `seconds`."""
    if seconds is None:
        return await awaitable
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as e:
        if isinstance(e, TaskTimeout):
            raise  # The task's own.
        raise timed_out(what, seconds) from None

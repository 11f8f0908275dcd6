"""
Stopping an attempt that runs past its timeout, in whichever thread runs it.

A sync task gets TaskTimeout raised in its own thread (CPython's asynchronous
exceptions), so that it works the same when a worker runs several tasks in threads; it
arrives at the next Python instruction the thread runs, so a call into C that never
returns (a blocking read without a timeout, say) cannot be interrupted. An async task is
cancelled on its event loop.
"""

from __future__ import annotations

import asyncio
import ctypes
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .exceptions import TaskTimeout

T = TypeVar("T")


def call_with_timeout(call: Callable[[], T], seconds: float | None, what: str) -> T:
    """`call()` in this thread, raising TaskTimeout if it runs past `seconds`."""
    if seconds is None:
        return call()
    deadline = _Deadline(threading.get_ident())
    timer = threading.Timer(seconds, deadline.expire)
    timer.daemon = True
    timer.start()
    try:
        try:
            return call()
        finally:
            timer.cancel()
            deadline.finish()
    except TaskTimeout:
        deadline.finish()  # In case it arrived before the first finish() ran.
        if not deadline.expired:
            raise  # The task's own TaskTimeout.
        raise TaskTimeout(f"{what} ran past its timeout of {seconds:g} s.") from None


async def await_with_timeout(awaitable: Awaitable[T], seconds: float | None, what: str) -> T:
    if seconds is None:
        return await awaitable
    try:
        async with asyncio.timeout(seconds):
            return await awaitable
    except TimeoutError as e:
        if isinstance(e, TaskTimeout):
            raise
        raise TaskTimeout(f"{what} ran past its timeout of {seconds:g} s.") from None


class _Deadline:
    """Raises TaskTimeout in one thread, unless that thread has finished first."""

    def __init__(self, thread_id: int) -> None:
        self._thread_id = thread_id
        self._lock = threading.Lock()
        self._finished = False
        self.expired = False

    def expire(self) -> None:
        with self._lock:
            if not self._finished and not self.expired:
                self.expired = True
                _raise_in_thread(self._thread_id, TaskTimeout)

    def finish(self) -> None:
        with self._lock:
            if self.expired and not self._finished:
                _raise_in_thread(self._thread_id, None)  # Withdraw it if not raised yet.
            self._finished = True


def _raise_in_thread(thread_id: int, exception: type[BaseException] | None) -> None:
    # None is passed as NULL, which withdraws an exception not raised yet.
    argument: Any = None if exception is None else ctypes.py_object(exception)
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), argument)

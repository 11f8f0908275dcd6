"""
How the worker waits: for an enqueue's notification (PostgreSQL), a commit (SQLite),
its interval, a periodic tick, or stop(). Only the thread running the worker waits here;
any thread may wake it.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import time
from collections.abc import Callable

from django.db import DatabaseError

from .listener import DataVersionWatch, EnqueueListener

logger = logging.getLogger("django_tasks.backends.database")

# How often an idle worker on SQLite looks for a commit (DataVersionWatch): a new task
# waits half this on average. Each look wakes the process, which costs more than the
# look itself: at 25 a second an idle worker uses under 1% of a core.
CHANGE_CHECK_INTERVAL = 0.04


class Waiter:
    """The waits of one worker, and the wake-up that ends any of them."""

    def __init__(
        self,
        *,
        worker_id: str,
        using: str,
        interval: float,
        batch: bool,
        should_stop: Callable[[], bool],
    ) -> None:
        self.worker_id = worker_id
        self.interval = interval
        self.should_stop = should_stop
        self._listener = EnqueueListener.for_database(using)
        # A worker with --batch never waits for work: it only sleeps.
        self._watch = None if batch else DataVersionWatch.for_database(using)
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)

    def start(self) -> None:
        """Listen, before the first claim, so that no enqueue goes unnoticed."""
        self._listen()

    def close(self) -> None:
        self._close_listener()
        self._wake_reader.close()
        self._wake_writer.close()

    def wake(self) -> None:
        """End the current sleep (from any thread)."""
        with contextlib.suppress(OSError):  # Full: it is awake already.
            self._wake_writer.send(b"\0")

    def sleep(self, seconds: float, *also: int, ignore_stop: bool = False) -> None:
        """
        Sleep, waking early for stop() (or wake()), or when a file descriptor in `also`
        is readable.
        """
        if not ignore_stop and self.should_stop():
            return
        select.select([self._wake_reader.fileno(), *also], [], [], seconds)
        with contextlib.suppress(BlockingIOError):
            while self._wake_reader.recv(512):
                pass

    def before_claim(self) -> None:
        """
        Take in what has been noticed so far: a notification or commit after this wakes
        the next wait_for_work, whatever the claim finds.
        """
        if self._listener is not None:
            try:
                self._listener.consume()
            except Exception as exc:
                self._listener_broke(exc)
        if self._watch is not None:
            # The claim that follows meets the same trouble, and deals with it.
            with contextlib.suppress(DatabaseError):
                self._watch.mark()

    def wait_for_work(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for new work (or stop())."""
        listener = self._listener
        timeout = min(self.interval, timeout)
        if self._watch is not None:
            self._wait_for_commit(self._watch, timeout)
        elif listener is None:
            self.sleep(timeout)
        elif not listener.connected:
            # Listen first; what was enqueued before sent no notification to wait for,
            # so do not wait: the next claim looks for it.
            if not self._listen():
                self.sleep(timeout)
        else:
            try:
                self.sleep(timeout, listener.fileno())
            except Exception as exc:
                self._listener_broke(exc)

    def _wait_for_commit(self, watch: DataVersionWatch, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.should_stop():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sleep(min(CHANGE_CHECK_INTERVAL, left))
            try:
                if watch.changed():
                    return
            except DatabaseError:
                return  # The claim reconnects, or reports what is wrong.

    def _listen(self) -> bool:
        """Connect the listener; False (and poll meanwhile) if that fails."""
        if self._listener is None:
            return False
        try:
            self._listener.connect()
        except Exception as exc:
            logger.warning(
                "Worker %s: cannot listen for new tasks (%s); polling every %ss.",
                self.worker_id,
                exc,
                self.interval,
            )
            return False
        return True

    def _listener_broke(self, exc: Exception) -> None:
        # The next wait listens again (on a new connection) before it waits.
        logger.warning(
            "Worker %s: lost the connection that waits for new tasks: %s", self.worker_id, exc
        )
        self._close_listener()

    def _close_listener(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(Exception):
                self._listener.close()

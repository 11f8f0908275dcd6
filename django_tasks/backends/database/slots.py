"""
The slot threads of a worker with --concurrency above 1: each runs the tasks handed to
it (and those it claims itself as it stores an outcome) on a database connection of its
own, closed when it ends. They are started from the worker's event loop, where the
coroutines of async tasks then run, each one's sync calls (sync_to_async) back in its
slot's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from queue import SimpleQueue

from asgiref.sync import sync_to_async
from django.db import connections

from .records import Claimed

logger = logging.getLogger("django_tasks.backends.database")


class Slots:
    """A worker's slot threads, and the event loop of its async tasks."""

    def __init__(
        self,
        count: int,
        *,
        worker_id: str,
        lock: threading.Lock,
        process: Callable[[Claimed], Claimed | None],
        stop: Callable[[], None],
        freed: Callable[[], None],
    ) -> None:
        """
        `count` slots, each running `process` on what it is handed, and on what that
        returns, until it returns None; then `freed()`. A slot that fails calls `stop()`.
        `lock` is the worker's, which guards the count of idle slots.
        """
        self.count = count
        self.worker_id = worker_id
        self.lock = lock
        self.process = process
        self.stop = stop
        self.freed = freed
        self.idle = count
        self._inboxes: list[SimpleQueue[Claimed | None]] = [SimpleQueue() for _ in range(count)]
        self._free = list(range(count))
        self._loop = asyncio.new_event_loop()
        self._loop_thread = threading.Thread(
            target=self._loop.run_forever, name=f"async tasks {worker_id}", daemon=True
        )
        self._loop_thread.start()
        self._pool = ThreadPoolExecutor(count, thread_name_prefix=f"slot {worker_id}")
        self._done: list[Future[None]] = [
            asyncio.run_coroutine_threadsafe(
                sync_to_async(self._run, thread_sensitive=False, executor=self._pool)(slot),
                self._loop,
            )
            for slot in range(count)
        ]

    @property
    def busy(self) -> int:
        return self.count - self.idle

    def hand(self, claimed: Claimed) -> None:
        """Give a claimed task to an idle slot."""
        with self.lock:
            self.idle -= 1
            slot = self._free.pop()
        self._inboxes[slot].put(claimed)

    def close(self) -> None:
        """Let each slot finish its tasks, then end its thread, and the event loop."""
        for inbox in self._inboxes:
            inbox.put(None)
        for done in self._done:
            done.result()
        self._pool.shutdown()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._loop_thread.join()
        self._loop.close()

    def _run(self, slot: int) -> None:
        inbox = self._inboxes[slot]
        try:
            while (claimed := inbox.get()) is not None:
                try:
                    while claimed is not None:
                        claimed = self.process(claimed)
                except Exception:
                    logger.exception("Worker %s: a task slot failed; stopping.", self.worker_id)
                    self.stop()
                with self.lock:
                    self._free.append(slot)
                    self.idle += 1
                self.freed()
        finally:
            connections.close_all()

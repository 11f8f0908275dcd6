"""
The worker's heartbeat: a thread that renews the leases of the worker's running tasks
(one UPDATE for all of them) on a database connection of its own, and wakes the
timeouts' last resort for attempts that run TIMEOUT_GRACE past their timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, connections

from ...base import TaskResult
from .models import DBTaskResult
from .records import Claimant

logger = logging.getLogger("django_tasks.backends.database")


@dataclass(frozen=True)
class Watched:
    """An attempt with a timeout, and when to give up on it."""

    result: TaskResult[Any]
    thread_id: int  # The thread running it.
    give_up_at: float  # time.monotonic()


class Heartbeat(threading.Thread):
    """A worker's heartbeat, on a database connection of its own."""

    def __init__(
        self,
        *,
        claimant: Claimant,
        using: str,
        interval: float,
        running: Callable[[], list[str]],
        on_overdue: Callable[[list[Watched]], None],
    ) -> None:
        """
        Every `interval` seconds, renew the leases of the tasks `running()` lists; call
        `on_overdue` with the watched attempts whose time to give up has come.
        """
        super().__init__(name=f"heartbeat {claimant.worker_id}", daemon=True)
        self.claimant = claimant
        self.using = using
        self.interval = interval
        self.running = running
        self.on_overdue = on_overdue
        self._changed = threading.Condition()
        self._stopped = False
        self._watched: dict[str, Watched] = {}

    def watch(self, result: TaskResult[Any], give_up_at: float) -> None:
        """Give up on this attempt (in this thread) if it still runs at `give_up_at`."""
        with self._changed:
            self._watched[result.id] = Watched(result, threading.get_ident(), give_up_at)
            self._changed.notify()

    def unwatch(self, result: TaskResult[Any]) -> None:
        with self._changed:
            del self._watched[result.id]

    def run(self) -> None:
        renew_at = time.monotonic() + self.interval
        try:
            while True:
                with self._changed:
                    now = time.monotonic()
                    wake_at = min([renew_at, *(w.give_up_at for w in self._watched.values())])
                    if not self._stopped and wake_at > now:
                        self._changed.wait(wake_at - now)
                    if self._stopped:
                        return
                    now = time.monotonic()
                    overdue = [w for w in self._watched.values() if w.give_up_at <= now]
                if overdue:
                    self.on_overdue(overdue)
                if now >= renew_at:
                    renew_at = now + self.interval
                    self._renew()
        finally:
            connections[self.using].close()

    def _renew(self) -> None:
        running = self.running()
        if not running:
            return
        try:
            DBTaskResult.objects.renew_leases(running, self.claimant)
        except DatabaseError as exc:
            logger.warning(
                "Worker %s: could not renew its leases: %s", self.claimant.worker_id, exc
            )
            connections[self.using].close()

    def stop(self) -> None:
        with self._changed:
            self._stopped = True
            self._changed.notify()
        self.join()

"""
The periodic side of `db_worker`: every worker enqueues the ticks of the declared
schedules (django_tasks.periodic) as they come due, and each tick is enqueued once,
however many workers run: the tick is recorded with a compare-and-set on the schedule's
row (DBScheduleManager.take_tick) in the transaction that enqueues its task.

The worker calls `run_due()` in its loop, which costs a clock reading until a tick is
due, and waits no longer than `seconds_until_due()`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DatabaseError, connections, router
from django.utils import timezone

from ...base import Task
from ...periodic import Schedule
from .schedule_models import DBSchedule
from .sql import write_transaction

logger = logging.getLogger(__name__)

# After a database error, look again this much later (seconds).
RETRY_DELAY = 1.0


class Scheduler:
    """
    Enqueues the due ticks of `schedules` (the same schedule given twice counts once).
    Raises ImproperlyConfigured, listing every problem, if any schedule has one.
    """

    def __init__(
        self, schedules: Iterable[Schedule], *, worker_id: str, started: datetime | None = None
    ) -> None:
        unique = {declared.key: declared for declared in schedules}
        problems = [
            f"{declared.task.module_path} ({declared.description}): {problem}"
            for declared in unique.values()
            for problem in declared.problems()
        ]
        if problems:
            raise ImproperlyConfigured(
                "Periodic schedules that workers cannot run: " + " ".join(problems)
            )
        self.worker_id = worker_id
        self.using = router.db_for_write(DBSchedule)
        self._schedules = list(unique.values())
        # Each tick is enqueued on the task's own backend inside the schedule's
        # transaction: not after its commit, which could lose the tick in between.
        self._tasks: dict[str, Task[..., Any]] = {
            declared.key: replace(declared.task, enqueue_on_commit=False)
            for declared in self._schedules
        }
        self._rows_added = False
        self._failures = 0  # Database errors in a row: the first one is a warning.
        # Each schedule's first tick not yet dealt with. Ticks from before this worker
        # started are not enqueued by it: missed ticks are not made up for.
        started = started or timezone.now()
        self._next: dict[str, datetime | None] = {
            declared.key: declared.next_tick(started) for declared in self._schedules
        }
        self._look_at = self._earliest()

    def seconds_until_due(self) -> float:
        """How long the worker may wait before the next call to run_due() has work."""
        return max(0.0, self._look_at - time.time())

    def run_due(self, now: datetime | None = None) -> None:
        """Enqueue the ticks that have come due, if any; cheap when none has."""
        if self._rows_added and (now.timestamp() if now else time.time()) < self._look_at:
            return  # The usual case, once per task: a clock reading.
        now = now or timezone.now()
        try:
            if not self._rows_added:  # The first call: each schedule gets its row.
                self._add_rows()
            for declared in self._schedules:
                first = self._next[declared.key]
                if first is not None and first <= now:
                    self._run_tick(declared, first, now)
        except DatabaseError as exc:
            # An outage would log every second: the first error warns, the rest are debug.
            logger.log(
                logging.DEBUG if self._failures else logging.WARNING,
                "Worker %s: could not enqueue periodic tasks: %s: %s; trying again every "
                "%ss, logged at DEBUG until it works again.",
                self.worker_id,
                type(exc).__name__,
                exc,
                RETRY_DELAY,
            )
            self._failures += 1
            self._reset_connection()
            self._look_at = now.timestamp() + RETRY_DELAY
            return
        if self._failures:
            logger.warning(
                "Worker %s: enqueues periodic tasks again, after %d failed tries.",
                self.worker_id,
                self._failures,
            )
            self._failures = 0
        self._look_at = self._earliest()

    def _add_rows(self) -> None:
        DBSchedule.objects.db_manager(self.using).add_missing(
            [
                (declared.key, declared.task.module_path, declared.description)
                for declared in self._schedules
            ]
        )
        self._rows_added = True

    def _run_tick(self, declared: Schedule, first: datetime, now: datetime) -> None:
        tick = declared.latest_tick(first, now)
        assert tick is not None  # first <= now
        if tick != first:
            logger.debug(
                "Schedule %s (%s): the ticks from %s until %s passed while this worker was "
                "busy; only the latest is enqueued.",
                declared.task.module_path,
                declared.description,
                first.isoformat(),
                tick.isoformat(),
            )
        result_id: str | None = None  # Another worker's, if it stays None.
        try:
            with write_transaction(self.using):
                rows = DBSchedule.objects.db_manager(self.using)
                if rows.take_tick(declared.key, tick, now):
                    result = self._tasks[declared.key].enqueue(*declared.args, **declared.kwargs)
                    rows.note_result(declared.key, result.id)
                    result_id = result.id
        except DatabaseError:
            raise  # The same tick is tried again (see run_due).
        except Exception:
            # Its backend refused the task: trying again would fail again.
            logger.exception(
                "Schedule %s (%s): could not enqueue the tick of %s; it is skipped.",
                declared.task.module_path,
                declared.description,
                tick.isoformat(),
            )
        if result_id is not None:  # Committed.
            logger.debug(
                "Schedule %s (%s): enqueued the tick of %s as task result id=%s.",
                declared.task.module_path,
                declared.description,
                tick.isoformat(),
                result_id,
            )
        self._next[declared.key] = declared.next_tick(now)

    def _earliest(self) -> float:
        ticks = [tick.timestamp() for tick in self._next.values() if tick is not None]
        return min(ticks, default=math.inf)

    def _reset_connection(self) -> None:
        connection = connections[self.using]
        if connection.in_atomic_block:
            return
        with contextlib.suppress(DatabaseError):
            connection.close()

"""
What the database backend's layers hand each other: the worker's identity as a claimant,
a new task, a claimed task (a TaskResult, or a row that cannot run), an attempt's
outcome, a task taken back from a lost worker. Plain values, no database: the backend,
the manager, the SQL and the worker all speak them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from ...base import TaskResult, TaskResultStatus
from ...exceptions import InvalidTask

MAX_NAME_LENGTH = 64  # Of queue, backend and worker names: the columns' size.


@dataclass(frozen=True, kw_only=True)
class Claimant:
    """A worker asking for tasks: who it is, what it runs, and how long its claims last."""

    worker_id: str
    backend_name: str
    queue_names: frozenset[str] | None  # None: every queue.
    lease: timedelta


# One stored error: {"exception_class_path": ..., "traceback": ...}, as a TaskError's fields.
StoredError = dict[str, str]


@dataclass(frozen=True, kw_only=True)
class Unrunnable:
    """
    A claimed row that cannot run here (corrupt, naming no task, or holding arguments
    that no longer fit its task): the worker fails it.
    """

    id: str
    task_path: str
    errors: list[StoredError]  # What could be read of the row's errors.
    problem: InvalidTask


# What a claim hands the worker.
Claimed: TypeAlias = TaskResult[Any] | Unrunnable


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """How one attempt at a claimed task ended."""

    id: uuid.UUID
    # SUCCESSFUL, FAILED, or READY: failed, to be retried at `retry_at`.
    status: TaskResultStatus
    finished_at: datetime  # When the attempt ended (the row's finished_at unless READY).
    return_value: Any = None
    # Every attempt's error, oldest first, if this one failed; None (a success) leaves
    # the row's.
    errors: list[StoredError] | None = None
    retry_at: datetime | None = None  # When the next attempt is due, if READY.

    @property
    def finished(self) -> bool:
        return self.status != TaskResultStatus.READY


@dataclass(frozen=True, kw_only=True)
class NewTask:
    """A task to insert (READY, never attempted)."""

    id: uuid.UUID
    task_path: str
    queue_name: str
    backend_name: str
    priority: int
    args: list[Any]
    kwargs: dict[str, Any]
    enqueued_at: datetime
    run_after: datetime | None


@dataclass(frozen=True, kw_only=True)
class StaleTask:
    id: uuid.UUID
    task_path: str
    worker_id: str  # The worker that lost it.
    outcome: Outcome  # What became of it: READY again, or FAILED.

"""
DatabaseBackend: enqueue and get_result through the manager, and what becomes of the
tasks of lost workers (lost_outcome). The translation to and from rows is in rows.py.

Models are imported where they are used, not at the top: the TASKS handler imports
this module even when the app is missing from INSTALLED_APPS, and check() must then
be able to say so.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from django.apps import apps
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.db import router
from django.utils import timezone

from ...backoff import delay_seconds
from ...base import Task, TaskError, TaskResult, TaskResultStatus
from ...durations import seconds_of
from ...exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, WorkerLost
from ...signals import task_enqueued
from ...utils import get_module_path
from ..base import BaseTaskBackend
from .exceptions import AttemptTimedOut
from .records import MAX_NAME_LENGTH, Outcome, StaleTask, Unrunnable
from .rows import claimed_from_row, failed_outcome, new_task, result_from_row

if TYPE_CHECKING:
    from .models import DBTaskResult

T = TypeVar("T")

APP_NAME = "django_tasks.backends.database"
ON_WORKER_LOST_CHOICES = ("retry", "fail")
DEFAULT_WORKER_TIMEOUT = 60.0
WORKER_LOST_PATH = get_module_path(WorkerLost)
INVALID_TASK_PATH = get_module_path(InvalidTask)


class DatabaseBackend(BaseTaskBackend):
    """Stores tasks in a table of the project's database; `db_worker` runs them."""

    supports_defer = True
    supports_async_task = True
    supports_get_result = True
    supports_priority = True
    runs_schedules = True
    supports_retries = True
    supports_timeout = True
    timeout_exceptions = (AttemptTimedOut,)

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        super().__init__(alias, params)
        if len(alias) > MAX_NAME_LENGTH:
            raise InvalidTaskBackend(
                f"Task backend alias {alias!r} is longer than {MAX_NAME_LENGTH} characters."
            )
        options = dict(self.options)
        timeout = options.pop("WORKER_TIMEOUT", DEFAULT_WORKER_TIMEOUT)
        on_worker_lost = options.pop("ON_WORKER_LOST", "retry")
        if options:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS'] has unknown keys: {', '.join(sorted(options))}. "
                "DatabaseBackend takes WORKER_TIMEOUT and ON_WORKER_LOST."
            )
        seconds = seconds_of(timeout, timedeltas=False)
        if seconds is None:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS']['WORKER_TIMEOUT'] must be a positive number of "
                f"seconds, not {timeout!r}."
            )
        if on_worker_lost not in ON_WORKER_LOST_CHOICES:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}]['OPTIONS']['ON_WORKER_LOST'] must be 'retry' or 'fail', "
                f"not {on_worker_lost!r}."
            )
        # How long a worker may go without renewing its lease on a task (it renews it
        # four times as often) before other workers take the task back.
        self.worker_timeout = timedelta(seconds=seconds)
        # Whether a task taken back from a lost worker is FAILED rather than retried.
        self.fail_lost_tasks: bool = on_worker_lost == "fail"

    def validate_task(self, task: Task[..., object]) -> None:
        super().validate_task(task)
        if len(task.queue_name) > MAX_NAME_LENGTH:
            raise InvalidTask(
                f"Queue name {task.queue_name!r} is longer than {MAX_NAME_LENGTH} characters."
            )

    def enqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        result = self.new_result(task, args, kwargs, result_id=str(uuid.uuid4()))
        self.enqueue_result(result)
        return result

    def store_results(self, results: Sequence[TaskResult[Any]]) -> None:
        """Insert READY results with one INSERT, mark them enqueued, send task_enqueued."""
        from .models import DBTaskResult

        now = timezone.now()
        DBTaskResult.objects.insert(
            [new_task(result, now) for result in results], using=self.transaction_db()
        )
        for result in results:
            object.__setattr__(result, "enqueued_at", now)
            task_enqueued.send(type(self), task_result=result)

    def transaction_db(self) -> str:
        from .models import DBTaskResult

        return router.db_for_write(DBTaskResult)

    def get_result(self, result_id: str) -> TaskResult[Any]:
        from .models import DBTaskResult

        try:
            row = DBTaskResult.objects.get(pk=_parse_id(result_id))
        except DBTaskResult.DoesNotExist:
            raise TaskResultDoesNotExist(result_id) from None
        return result_from_row(row)

    def reclaim_lost_tasks(self) -> list[StaleTask]:
        """Take back the tasks of workers that let their lease expire (see lost_outcome)."""
        from .models import DBTaskResult

        return DBTaskResult.objects.reclaim_stale(
            self.alias, lambda row, now: lost_outcome(row, self, now)
        )

    def check(self, **kwargs: Any) -> Iterable[CheckMessage]:
        yield from super().check(**kwargs)
        if not apps.is_installed(APP_NAME):
            yield CheckError(
                f"TASKS[{self.alias!r}] uses DatabaseBackend, but its app is not installed.",
                hint=f"Add {APP_NAME!r} to INSTALLED_APPS.",
                obj=f"TASKS[{self.alias!r}]",
                id="django_tasks_database.E001",
            )


def lost_outcome(row: DBTaskResult, backend: DatabaseBackend, now: datetime) -> Outcome:
    """
    What becomes of a RUNNING task whose worker let its lease expire. That attempt
    failed with WorkerLost, and counts (as on RQ, see rq.fail_lost_job): the task is
    READY again after the backoff's delay for that error if ON_WORKER_LOST is "retry",
    attempts are left and the backoff gives a delay; else FAILED, the reason told in
    the error.
    """
    lost = WorkerLost(
        f"Worker {row.claimed_by or '?'} stopped renewing its lease on this task (it was "
        "killed, crashed or lost the database) and the lease expired."
    )
    claimed = claimed_from_row(row)
    retry_in: float | None = None
    if backend.fail_lost_tasks:
        then = "The task was marked FAILED (ON_WORKER_LOST is 'fail')."
    elif isinstance(claimed, Unrunnable):
        then = f"The task was marked FAILED: {INVALID_TASK_PATH}: {claimed.problem}"
    else:
        try:
            policy = backend.attempt_policy(claimed.task)
            if claimed.attempts >= policy.max_attempts:
                then = (
                    f"That was attempt {claimed.attempts} of {policy.max_attempts} "
                    "(max_attempts): the task was marked FAILED."
                )
            else:
                retry_in = delay_seconds(policy.backoff(lost, claimed))
                then = (
                    "Its backoff gives no delay for this error: the task was marked FAILED."
                    if retry_in is None
                    else "The task was made READY to run again."
                )
        except Exception as e:  # A backoff that fails.
            then = f"The task was marked FAILED: {get_module_path(type(e))}: {e}"
    error = TaskError(
        exception_class_path=WORKER_LOST_PATH, traceback=f"{WORKER_LOST_PATH}: {lost} {then}\n"
    )
    failed = failed_outcome(claimed, error, now)
    if retry_in is None:
        return failed
    return replace(
        failed,
        status=TaskResultStatus.READY,
        # Without a delay it keeps its place in line: a crash does not send a task to
        # the back of a backlog.
        retry_at=now + timedelta(seconds=retry_in) if retry_in > 0 else row.available_at,
    )


def _parse_id(result_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(result_id))
    except ValueError:
        raise TaskResultDoesNotExist(result_id) from None

"""
DatabaseBackend, and the translation between TaskResults and rows of DBTaskResult.

Models are imported where they are used, not at the top: the TASKS handler imports
this module even when the app is missing from INSTALLED_APPS, and check() must then
be able to say so.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar, cast

from django.apps import apps
from django.core.checks import CheckMessage
from django.core.checks import Error as CheckError
from django.db import router
from django.utils import timezone

from ...backoff import delay_seconds
from ...base import Task, TaskError, TaskResult, TaskResultStatus
from ...exceptions import InvalidTask, InvalidTaskBackend, TaskResultDoesNotExist, WorkerLost
from ...execution import resolve_task
from ...signals import task_enqueued
from ...utils import get_module_path
from ..base import BaseTaskBackend
from .exceptions import AttemptTimedOut
from .records import MAX_NAME_LENGTH, NewTask, Outcome, StaleTask, StoredError

if TYPE_CHECKING:
    from .models import DBTaskResult

T = TypeVar("T")

APP_NAME = "django_tasks.backends.database"
ON_WORKER_LOST_CHOICES = ("retry", "fail")
DEFAULT_WORKER_TIMEOUT = 60.0
WORKER_LOST_PATH = get_module_path(WorkerLost)


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
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not math.isfinite(timeout)
            or timeout <= 0
        ):
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
        self.worker_timeout = timedelta(seconds=timeout)
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


def new_task(result: TaskResult[Any], enqueued_at: datetime) -> NewTask:
    task = result.task
    return NewTask(
        id=uuid.UUID(result.id),
        task_path=task.module_path,
        queue_name=task.queue_name,
        backend_name=result.backend,
        priority=task.priority,
        args=result.args,
        kwargs=result.kwargs,
        enqueued_at=enqueued_at,
        run_after=task.run_after,
    )


def result_from_row(row: DBTaskResult) -> TaskResult[Any]:
    """The row as a TaskResult; InvalidTask if it names no task or holds broken arguments."""
    args, kwargs = _json_list(row.args), _json_object(row.kwargs)
    if args is None:
        raise InvalidTask(
            f"Task result {row.id} is corrupt: its args column holds {_shown(row.args)}, not a "
            "JSON list."
        )
    if kwargs is None:
        raise InvalidTask(
            f"Task result {row.id} is corrupt: its kwargs column holds {_shown(row.kwargs)}, "
            "not a JSON object."
        )
    errors = _stored_errors(row.errors)
    if errors is None:
        raise InvalidTask(
            f"Task result {row.id} is corrupt: its errors column holds {_shown(row.errors)}, "
            "not a JSON list of errors."
        )
    task = _task_of(row)
    try:
        result: TaskResult[Any] = TaskResult(
            task=task,
            id=str(row.id),
            status=TaskResultStatus(row.status),
            enqueued_at=row.enqueued_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            last_attempted_at=row.last_attempted_at,
            args=args,
            kwargs=kwargs,
            backend=row.backend_name,
            errors=errors,
            worker_ids=[str(worker_id) for worker_id in _json_list(row.worker_ids) or []],
        )
    except TypeError as e:  # Arguments beyond the JSON boundary (nested too deep, say).
        raise InvalidTask(f"Task result {row.id} is corrupt: {e}") from e
    object.__setattr__(result, "_return_value", row.return_value)
    return result


def _shown(value: object) -> str:
    """A column's value for an error message: text that did not decode is cut short."""
    if not isinstance(value, str):
        return repr(value)
    if len(value) <= 80:
        return f"the text {value!r}"
    return (
        f"{len(value)} characters of text that do not decode as JSON (malformed, or "
        f"nested too deep), beginning {value[:40]!r}"
    )


def outcome_of(result: TaskResult[Any]) -> Outcome:
    """
    What to store for a result that run_task has just dealt with: SUCCESSFUL, FAILED, or
    READY (failed, and due again at its task's run_after).
    """
    status = TaskResultStatus(result.status)
    succeeded = status == TaskResultStatus.SUCCESSFUL
    return Outcome(
        id=uuid.UUID(result.id),
        status=status,
        finished_at=result.finished_at or timezone.now(),
        return_value=result.return_value if succeeded else None,
        errors=None if succeeded else [_error_of(error) for error in result.errors],
        retry_at=(result.task.run_after or timezone.now())
        if status == TaskResultStatus.READY
        else None,
    )


def failed_outcome(row: DBTaskResult, error: TaskError, now: datetime) -> Outcome:
    """The row's attempt FAILED with `error`, added to the errors it holds."""
    return Outcome(
        id=row.id,
        status=TaskResultStatus.FAILED,
        finished_at=now,
        errors=[*stored_errors_of(row), _error_of(error)],
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
    retry_in: float | None = None
    if backend.fail_lost_tasks:
        then = "The task was marked FAILED (ON_WORKER_LOST is 'fail')."
    else:
        try:
            result = result_from_row(row)
            policy = backend.attempt_policy(result.task)
            if result.attempts >= policy.max_attempts:
                then = (
                    f"That was attempt {result.attempts} of {policy.max_attempts} "
                    "(max_attempts): the task was marked FAILED."
                )
            else:
                retry_in = delay_seconds(policy.backoff(lost, result))
                then = (
                    "Its backoff gives no delay for this error: the task was marked FAILED."
                    if retry_in is None
                    else "The task was made READY to run again."
                )
        except Exception as e:  # A row that names no task here, or a backoff that fails.
            then = f"The task was marked FAILED: {get_module_path(type(e))}: {e}"
    error = TaskError(
        exception_class_path=WORKER_LOST_PATH, traceback=f"{WORKER_LOST_PATH}: {lost} {then}\n"
    )
    if retry_in is None:
        return failed_outcome(row, error, now)
    return Outcome(
        id=row.id,
        status=TaskResultStatus.READY,
        finished_at=now,
        errors=[*stored_errors_of(row), _error_of(error)],
        # Without a delay it keeps its place in line: a crash does not send a task to
        # the back of a backlog.
        retry_at=now + timedelta(seconds=retry_in) if retry_in > 0 else row.available_at,
    )


def stored_errors_of(row: DBTaskResult) -> list[StoredError]:
    """The row's errors, for a failure to add to; of a corrupt column, what can be read."""
    return [_error_of(error) for error in _stored_errors(row.errors, skip_corrupt=True) or []]


def _stored_errors(value: object, *, skip_corrupt: bool = False) -> list[TaskError] | None:
    """The TaskErrors of an errors column; None if it holds anything else."""
    if not isinstance(value, list):
        return None
    errors: list[TaskError] = []
    for entry in cast(list[object], value):
        fields = _json_object(entry)
        path = fields.get("exception_class_path") if fields else None
        traceback = fields.get("traceback") if fields else None
        if isinstance(path, str) and isinstance(traceback, str):
            errors.append(TaskError(exception_class_path=path, traceback=traceback))
        elif not skip_corrupt:
            return None
    return errors


def _error_of(error: TaskError) -> StoredError:
    return {"exception_class_path": error.exception_class_path, "traceback": error.traceback}


def _task_of(row: DBTaskResult) -> Task[..., Any]:
    try:
        task = resolve_task(row.task_path)
    except InvalidTask as e:
        raise InvalidTask(f"Task result {row.id} cannot run: {e}") from e
    if (task.priority, task.queue_name, task.run_after, task.backend) == (
        row.priority,
        row.queue_name,
        row.run_after,
        row.backend_name,
    ):
        return task  # The usual case; using() would check the task all over again.
    return task.using(
        priority=row.priority,
        queue_name=row.queue_name,
        run_after=row.run_after,
        backend=row.backend_name,
    )


def _json_list(value: object) -> list[Any] | None:
    return cast(list[object], value) if isinstance(value, list) else None


def _json_object(value: object) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    mapping = cast(dict[object, Any], value)
    return (
        {key: item for key, item in mapping.items() if isinstance(key, str)}
        if all(isinstance(key, str) for key in mapping)
        else None
    )


def _parse_id(result_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(result_id))
    except ValueError:
        raise TaskResultDoesNotExist(result_id) from None

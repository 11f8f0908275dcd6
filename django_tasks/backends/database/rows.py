"""
The translation between TaskResults and rows of DBTaskResult, both ways: a new task to
insert, a row as a TaskResult (or, claimed, as Unrunnable), an attempt's outcome to
store. Every layer above the SQL uses it; it runs no query.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from django.utils import timezone

from ...base import Task, TaskError, TaskResult, TaskResultStatus
from ...exceptions import InvalidTask
from ...execution import check_arguments_fit, resolve_task
from ...utils import get_module_path
from .records import Claimed, NewTask, Outcome, StoredError, Unrunnable

if TYPE_CHECKING:
    from .models import DBTaskResult


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


def failed_outcome(claimed: Claimed, error: TaskError, now: datetime) -> Outcome:
    """The claimed task's attempt FAILED with `error`, added to the errors it holds."""
    if isinstance(claimed, Unrunnable):
        errors = list(claimed.errors)
    else:
        errors = [_error_of(stored) for stored in claimed.errors]
    return Outcome(
        id=uuid.UUID(claimed.id),
        status=TaskResultStatus.FAILED,
        finished_at=now,
        errors=[*errors, _error_of(error)],
    )


def claimed_from_row(row: DBTaskResult) -> Claimed:
    """
    A claimed row as the worker runs it: its TaskResult, or Unrunnable if the row is
    corrupt, names no task, or holds arguments that no longer fit the task's function.
    """
    try:
        result = result_from_row(row)
        check_arguments_fit(result)
    except InvalidTask as e:
        problem = e
    except Exception as e:  # Whatever else a row written by another program holds.
        problem = InvalidTask(f"Task result {row.id} is corrupt: {get_module_path(type(e))}: {e}")
    else:
        return result
    return Unrunnable(
        id=str(row.id), task_path=row.task_path, errors=stored_errors_of(row), problem=problem
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

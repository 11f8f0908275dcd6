"""Enqueueing, calling and reading results keep the task's types."""

from datetime import datetime, timedelta
from typing import Any, TypeVar, assert_type

from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from django_tasks import Task, TaskResult, TaskResultStatus
from django_tasks.base import TaskError
from django_tasks.exceptions import (
    InvalidTask,
    InvalidTaskBackend,
    InvalidTaskBackendError,
    InvalidTaskError,
    TaskException,
    TaskResultDoesNotExist,
    TaskResultMismatch,
)
from typing_tests.tasks_fixture import add, forget, ratio, send_welcome

# enqueue and call take the function's parameters, defaults and keyword-only ones too.
result = add.enqueue(1, 2)
assert_type(result, TaskResult[int])
assert_type(add.enqueue(a=1, b=2), TaskResult[int])
assert_type(add.call(1, b=2), int)
assert_type(send_welcome.enqueue(42), TaskResult[bool])
assert_type(send_welcome.enqueue(42, locale="fr"), TaskResult[bool])
assert_type(send_welcome.enqueue(user_id=42, locale="fr").return_value, bool)
assert_type(forget.enqueue(), TaskResult[None])

# using() gives a task of the same type.
assert_type(ratio.using(priority=5), Task[[int, int], float])
assert_type(
    ratio.using(queue_name="q", run_after=timezone.now() + timedelta(hours=1), backend="b"),
    Task[[int, int], float],
)
assert_type(add.using(priority=1).enqueue(1, 2), TaskResult[int])
assert_type(send_welcome.using(queue_name="emails").call(1, locale="de"), bool)

# Fetching a result by id gives the task's own result type.
assert_type(add.get_result(result.id), TaskResult[int])
assert_type(ratio.get_result("some-id").return_value, float)

# Every field of a result.
assert_type(result.task, Task[..., int])
assert_type(result.id, str)
assert_type(result.status, TaskResultStatus)
assert_type(result.return_value, int)
assert_type(result.enqueued_at, datetime | None)
assert_type(result.started_at, datetime | None)
assert_type(result.finished_at, datetime | None)
assert_type(result.last_attempted_at, datetime | None)
assert_type(result.args, list[Any])
assert_type(result.kwargs, dict[str, Any])
assert_type(result.backend, str)
assert_type(result.errors, list[TaskError])
assert_type(result.worker_ids, list[str])
assert_type(result.attempts, int)
assert_type(result.is_finished, bool)
assert_type(result.refresh(), None)

# Errors name the exception class and keep the traceback.
error = result.errors[0]
assert_type(error.exception_class, type[BaseException])
assert_type(error.exception_class_path, str)
assert_type(error.traceback, str)

# Status is a TextChoices, whose values are strings.
assert_type(result.status.value, str)

# A result of a task with a narrower return type is a result of a wider one.
any_result: TaskResult[object] = result
unknown_result: TaskResult[Any] = result

# The exceptions, under their Django 6 names and the older ...Error aliases.
assert_type(InvalidTaskError("bad"), InvalidTask)
assert_type(InvalidTaskBackendError("bad"), InvalidTaskBackend)
task_errors: list[TaskException] = [
    InvalidTask(),
    TaskResultDoesNotExist(),
    TaskResultMismatch(),
]
configuration_error: ImproperlyConfigured = InvalidTaskBackend()


# The annotations a user writes for tasks and results in their own functions.
def total(results: list[TaskResult[int]]) -> int:
    return sum(r.return_value for r in results if r.status == TaskResultStatus.SUCCESSFUL)


def enqueue_for_one(one_int_task: Task[[int], int]) -> TaskResult[int]:
    return one_int_task.enqueue(1)


def enqueue_any(any_task: Task[..., int], *args: Any) -> TaskResult[int]:
    return any_task.enqueue(*args)


T = TypeVar("T")


def latest_value(any_task: Task[..., T], result_id: str) -> T:
    return any_task.get_result(result_id).return_value


assert_type(total([add.enqueue(1, 2)]), int)
assert_type(enqueue_any(add, 1, 2), TaskResult[int])
assert_type(latest_value(ratio, "id"), float)
assert_type(latest_value(send_welcome, "id"), bool)

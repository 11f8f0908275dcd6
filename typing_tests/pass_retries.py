"""Retries, backoff and timeouts: the decorator's keywords and django_tasks.backoff."""

from datetime import timedelta
from typing import Any, assert_type

from django_tasks import Task, TaskResult, task
from django_tasks.backoff import Backoff, constant, exponential
from django_tasks.exceptions import TaskTimeout


@task(max_attempts=5, backoff=exponential(initial=2, cap=600), timeout=30)
def sync_account(account_id: int) -> None: ...


@task(
    max_attempts=3, backoff=constant(10, retry_on=(ConnectionError,)), timeout=timedelta(minutes=1)
)
async def fetch(url: str) -> bytes:
    return url.encode()


def give_up_on_value_errors(exc: BaseException, result: TaskResult[Any]) -> float | None:
    return None if isinstance(exc, ValueError) else 5.0


@task(backoff=give_up_on_value_errors)
def custom(n: int) -> int:
    return n


assert_type(sync_account.enqueue(1), TaskResult[None])
assert_type(fetch.enqueue("https://example.com"), TaskResult[bytes])
declared: Task[[int], None] = sync_account
assert_type(custom.enqueue(1), TaskResult[int])
assert_type(sync_account.max_attempts, int | None)
assert_type(sync_account.backoff, Backoff | None)
assert_type(sync_account.timeout, float | None)
backoff: Backoff = exponential(jitter=False)
also: Backoff = give_up_on_value_errors
timeout_error: TimeoutError = TaskTimeout("late")

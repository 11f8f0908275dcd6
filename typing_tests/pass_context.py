"""`takes_context=True`: the task receives a TaskContext, its callers never pass one."""

from typing import assert_type

from django_tasks import TaskContext, TaskResult, task
from typing_tests.tasks_fixture import count_attempts, report_progress


# `context: TaskContext` needs no type parameters, even under strict checkers.
@task(takes_context=True)
def log_attempt(context: TaskContext) -> str:
    assert_type(context.task_result, TaskResult[object])
    assert_type(context.task_result.id, str)
    assert_type(context.attempt, int)
    return f"{context.task_result.id}: attempt {context.attempt}"


# The context is removed from the parameters of enqueue, call and friends.
assert_type(log_attempt.enqueue(), TaskResult[str])
assert_type(log_attempt.call(), str)
assert_type(count_attempts.enqueue("retries"), TaskResult[int])
assert_type(count_attempts.enqueue(label="retries"), TaskResult[int])
assert_type(count_attempts.call("retries"), int)
assert_type(count_attempts.using(priority=1).enqueue("x").return_value, int)


# It works with async functions and the other keywords too.
@task(takes_context=True, priority=3, queue_name="q", backend="default", enqueue_on_commit=True)
async def fetch_with_context(context: TaskContext, url: str, *, retries: int = 3) -> bytes:
    return f"{url} {retries} {context.attempt}".encode()


assert_type(fetch_with_context.enqueue("https://example.com"), TaskResult[bytes])
assert_type(fetch_with_context.enqueue("https://example.com", retries=1), TaskResult[bytes])
assert_type(fetch_with_context.call("https://example.com"), bytes)
assert_type(report_progress.enqueue([1, 2]).return_value, dict[str, int])


async def use_async_context_task() -> None:
    assert_type(await report_progress.aenqueue(steps=[3]), TaskResult[dict[str, int]])
    assert_type(await report_progress.acall([3]), dict[str, int])
    assert_type(await fetch_with_context.acall("u", retries=0), bytes)


# A context can be built from any result, and is usable wherever it is passed.
def describe(context: TaskContext) -> str:
    return f"{context.task_result.status} after {context.attempt} attempt(s)"


assert_type(describe(TaskContext(task_result=count_attempts.enqueue("x"))), str)

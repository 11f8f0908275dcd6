"""Every form of `@task` gives a Task typed by the function's parameters and result."""

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import assert_type

from django_tasks import Task, TaskContext, TaskResult, task
from django_tasks.base import ContextTaskDecorator, TaskDecorator


# Bare @task, sync and async: an async task is typed by its awaited value.
@task
def bare(n: int) -> str:
    return str(n)


@task
async def bare_async(n: int) -> str:
    return str(n)


assert_type(bare.enqueue(1), TaskResult[str])
assert_type(bare.call(1), str)
assert_type(bare_async.enqueue(1), TaskResult[str])
assert_type(bare_async.call(1), str)
assert_type(bare_async.enqueue(1).return_value, str)


# @task() with no arguments.
@task()
def empty_parens(n: int) -> list[int]:
    return [n]


@task()
async def empty_parens_async(n: int) -> list[int]:
    return [n]


assert_type(empty_parens.enqueue(1), TaskResult[list[int]])
assert_type(empty_parens_async.enqueue(1), TaskResult[list[int]])
assert_type(empty_parens_async.call(1), list[int])


# Every decorator keyword; none of them changes the task's type.
@task(priority=10, queue_name="reports", backend="default", enqueue_on_commit=False)
def configured(n: int) -> float:
    return n / 2


@task(priority=-5, queue_name="reports", backend="default", enqueue_on_commit=None)
async def configured_async(n: int) -> float:
    return n / 2


@task(takes_context=False)
def without_context(n: int) -> bool:
    return n > 0


assert_type(configured.enqueue(1), TaskResult[float])
assert_type(configured_async.enqueue(1), TaskResult[float])
assert_type(configured_async.call(1), float)
assert_type(without_context.enqueue(1), TaskResult[bool])


# A function returning nothing gives a TaskResult[None].
@task
def nothing() -> None:
    pass


assert_type(nothing.enqueue(), TaskResult[None])
assert_type(nothing.enqueue().return_value, None)


# The decorator objects themselves.
assert_type(task(), TaskDecorator)
assert_type(task(priority=1, queue_name="q"), TaskDecorator)
assert_type(task(takes_context=True), ContextTaskDecorator)


# Positional-only parameters make the whole Task type writable by hand ...
@task
def scale(value: int, factor: float, /) -> float:
    return value * factor


assert_type(scale, Task[[int, float], float])

# ... and any task fits the annotations a user would write for it.
any_float_task: Task[..., float] = scale
exact_task: Task[[int, float], float] = scale
wider_result: Task[[int, float], object] = scale
named_parameters: Task[[int], str] = bare


# Task attributes.
assert_type(bare.func, Callable[..., str | Awaitable[str]])
assert_type(bare.priority, int)
assert_type(bare.queue_name, str)
assert_type(bare.backend, str)
assert_type(bare.run_after, datetime | None)
assert_type(bare.takes_context, bool)
assert_type(bare.enqueue_on_commit, bool | None)
assert_type(bare.name, str)
assert_type(bare.module_path, str)
assert_type(bare.is_async, bool)


# The decorator can be applied as a call too; the context form drops the context.
def label(context: TaskContext, n: int) -> str:
    return f"{n} (attempt {context.attempt})"


context_task: Task[[int], str] = task(takes_context=True)(label)
assert_type(context_task.enqueue(1), TaskResult[str])


# Without takes_context=True, a TaskContext parameter is an ordinary parameter.
def call_plainly(context: TaskContext) -> None:
    assert_type(task(label).call(context, 1), str)

"""Misusing `takes_context=True` is a type error."""

from django_tasks import TaskContext, task
from typing_tests.tasks_fixture import count_attempts, report_progress


@task(takes_context=True)  # expect-error: the first parameter must be a TaskContext
def no_context_parameter(label: str) -> str:
    return label


@task(takes_context=True)  # expect-error: a context task takes at least the context
def no_parameters() -> None:
    pass


@task(takes_context=True)  # expect-error: the context comes first
def context_last(label: str, context: TaskContext) -> str:
    return label


@task(takes_context=True)  # expect-error: the context is positional, not keyword-only
def keyword_only_context(*, context: TaskContext) -> None:
    pass


@task(takes_context=True)  # expect-error: an int is not a TaskContext
async def wrong_context_type(context: int) -> None:
    pass


context = TaskContext(task_result=count_attempts.enqueue("x"))

# The worker passes the context: callers never do.
count_attempts.enqueue(context, "label")  # expect-error: context passed
count_attempts.call(context, "label")  # expect-error: context passed
count_attempts.enqueue(context=context, label="x")  # expect-error: context passed


async def aenqueue_with_context() -> None:
    await report_progress.aenqueue(context, [1])  # expect-error: context passed
    await report_progress.acall(context, [1])  # expect-error: context passed


# The context is removed, the other parameters are still checked.
count_attempts.enqueue()  # expect-error: label is missing
count_attempts.enqueue(1)  # expect-error: label is a str
report_progress.enqueue(["1"])  # expect-error: steps is a list[int]

# The context itself is typed, and immutable.
attempt: str = context.attempt  # expect-error: attempt is an int
context.retry()  # expect-error: no such method
context.task_result = count_attempts.enqueue("x")  # expect-error: frozen

"""Tasks the tests enqueue. Tasks are validated against their backend when they are
declared, so they use the aliases of tests/settings.py: "default" (Immediate) and
"dummy" (Dummy), both with QUEUES = [] (any queue name is accepted)."""

import threading
from collections.abc import Sequence

from django_tasks import TaskContext, task


class TaskFailure(Exception):
    """Raised by `fail`, so tests can tell it from errors of the framework."""


@task
def add(a: int, b: int) -> int:
    return a + b


@task()
def subtract(a: int, b: int) -> int:
    return a - b


@task
async def async_add(a: int, b: int) -> int:
    return a + b


@task
def echo(value: object) -> object:
    return value


@task
def echo_kwargs(**kwargs: object) -> dict[str, object]:
    return kwargs


@task
def fail(message: str) -> None:
    raise TaskFailure(message)


@task
async def async_fail(message: str) -> None:
    raise TaskFailure(message)


@task
def interrupt() -> None:
    raise KeyboardInterrupt


@task
def exit_process() -> None:
    raise SystemExit(3)


@task
def current_thread_id() -> int:
    return threading.get_ident()


@task
def returns_tuple() -> Sequence[int]:
    return (1, 2)


@task
def returns_set() -> object:
    return {1, 2}


@task
def returns_nested(levels: int) -> object:
    """`levels` lists, each in the next."""
    value: list[object] = []
    for _ in range(levels - 1):
        value = [value]
    return value


@task(takes_context=True)
def describe_context(context: TaskContext, label: str) -> dict[str, object]:
    result = context.task_result
    return {
        "label": label,
        "attempt": context.attempt,
        "result_id": result.id,
        "status": result.status.value,
        "task": result.task.module_path,
        "worker_ids": list(result.worker_ids),
    }


@task(takes_context=True)
async def async_describe_context(context: TaskContext, label: str) -> dict[str, object]:
    return {"label": label, "attempt": context.attempt, "result_id": context.task_result.id}


@task(priority=10, queue_name="emails", backend="dummy")
def send_email(to: str) -> str:
    return f"sent to {to}"


@task(backend="dummy", enqueue_on_commit=True)
def store_on_commit(value: int) -> int:
    return value


@task(backend="dummy", enqueue_on_commit=False)
def store_at_once(value: int) -> int:
    return value

"""Module-level tasks for the RQ backend's tests, on the TASKS alias "rq"."""

import os
import time
from pathlib import Path

from django_tasks import TaskContext, task


@task(backend="rq")
def add(a: int, b: int) -> int:
    return a + b


@task(backend="rq")
def echo(value: object) -> object:
    return value


@task(backend="rq", queue_name="emails")
def send(address: str) -> str:
    return f"sent to {address}"


@task(backend="rq")
def fail(message: str) -> None:
    raise ValueError(message)


@task(backend="rq")
async def async_add(a: int, b: int) -> int:
    return a + b


@task(backend="rq", takes_context=True)
def attempt_info(context: TaskContext) -> dict[str, object]:
    result = context.task_result
    return {"id": result.id, "attempt": context.attempt, "worker_ids": result.worker_ids}


@task(backend="rq")
def write_pid_then_sleep(path: str, seconds: float) -> None:
    """Says which process runs it, then takes a while (for the tests that kill it)."""
    Path(path).write_text(str(os.getpid()))
    time.sleep(seconds)


@task(backend="rq", enqueue_on_commit=True)
def add_on_commit(a: int, b: int) -> int:
    return a + b

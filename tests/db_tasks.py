"""Module-level tasks for the database backend's tests, on the TASKS alias "database"."""

import os
import time
from pathlib import Path

from django.db import connection, connections

from django_tasks import TaskContext, task
from django_tasks.backends.database.models import DBTaskResult
from django_tasks.backoff import constant


@task(backend="database")
def add(a: int, b: int) -> int:
    return a + b


@task(backend="database", enqueue_on_commit=False)
def add_at_once(a: int, b: int) -> int:
    return a + b


@task(backend="database")
def echo(value: object) -> object:
    return value


@task(backend="database")
def fail(message: str) -> None:
    raise ValueError(message)


@task(backend="database")
async def async_add(a: int, b: int) -> int:
    return a + b


# Two attempts, the second at once: a test may lose the first with its worker.
@task(backend="database", takes_context=True, max_attempts=2, backoff=constant(0))
def attempt_info(context: TaskContext) -> dict[str, object]:
    result = context.task_result
    return {"attempt": context.attempt, "worker_ids": result.worker_ids, "status": result.status}


@task(backend="database")
def touch_then_sleep(marker: str, seconds: float) -> str:
    """Create the file `marker` (so a test knows the function started), then sleep."""
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"


@task(backend="database", takes_context=True, max_attempts=2, backoff=constant(0))
def hang_on_first_attempt(context: TaskContext, marker: str) -> int:
    """The first attempt announces itself in `marker` and hangs; later ones return."""
    if context.attempt == 1:
        Path(marker).write_text(str(os.getpid()))
        time.sleep(600)
    return context.attempt


@task(backend="database")
def append_line(path: str, line: str) -> None:
    # One short O_APPEND write is atomic, so concurrent workers can share the file.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{line}\n".encode())
    finally:
        os.close(fd)


@task(backend="database")
def database_connection_id() -> int:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_backend_pid()")
        elif connection.vendor == "mysql":
            cursor.execute("SELECT CONNECTION_ID()")
        else:
            return 0
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def not_a_task(value: int) -> int:
    return value


@task(backend="database")
def returns_a_set() -> object:
    return {1, 2}


@task(backend="database")
def returns_nul() -> str:
    return "\x00"


@task(backend="database", takes_context=True)
def lose_lease(context: TaskContext) -> str:
    """Act as if this task's lease expired and another worker took it back."""
    DBTaskResult.objects.filter(pk=context.task_result.id).update(claimed_by="another-worker")
    return "too late"


@task(backend="database", takes_context=True)
def watch_lease(context: TaskContext, seconds: float) -> list[str]:
    """The task's lease expiry when it starts and after `seconds`."""

    def lease() -> str:
        expiry = DBTaskResult.objects.get(pk=context.task_result.id).lease_expires_at
        return expiry.isoformat() if expiry else ""

    first = lease()
    time.sleep(seconds)
    return [first, lease()]


@task(backend="database")
def drop_connection() -> str:
    """Have another connection kill this thread's database connection; then succeed."""
    kill_connection(database_connection_id.call())
    return "survived"


def kill_connection(connection_id: int) -> None:
    """Kill a PostgreSQL or MariaDB connection, from a connection of its own."""
    wrapper = connections["default"]
    raw = wrapper.get_new_connection(wrapper.get_connection_params())
    try:
        cursor = raw.cursor()
        if wrapper.vendor == "postgresql":
            raw.autocommit = True
            cursor.execute("SELECT pg_terminate_backend(%s)", [connection_id])
        else:
            cursor.execute(f"KILL {int(connection_id)}")
    finally:
        raw.close()

"""Module-level tasks for the database backend's tests, on the TASKS alias "database"."""

import asyncio
import os
import signal
import time
from pathlib import Path

from asgiref.sync import sync_to_async
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


# --- timeouts and concurrency --------------------------------------------------------


@task(backend="database", timeout=0.5)
def sleep_with_timeout(marker: str, seconds: float) -> str:
    """touch_then_sleep, with a timeout of 0.5 s."""
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"


@task(backend="database", timeout=0.5)
async def async_sleep_with_timeout(marker: str, seconds: float) -> str:
    Path(marker).touch()
    await asyncio.sleep(seconds)
    return "slept"


@task(backend="database", timeout=0.5)
def sleep_deaf_to_the_alarm(marker: str, seconds: float) -> str:
    """
    Sleep with SIGALRM blocked in this thread: as a C call that never returns to Python
    until it is done, the alarm cannot interrupt it.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"


@task(backend="database", timeout=30)
def within_timeout(value: int) -> int:
    return value


@task(backend="database")
def meet_peers(directory: str, name: str, peers: int) -> bool:
    """
    Sign in `directory`, then wait (at most a minute) until `peers` tasks have signed:
    True only if that many ran at the same time.
    """
    Path(directory, name).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(directory)) < peers:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@task(backend="database")
async def async_meet_peers(directory: str, name: str, peers: int) -> bool:
    """meet_peers, waiting on the event loop."""
    Path(directory, name).touch()
    deadline = time.monotonic() + 60
    while len(os.listdir(directory)) < peers:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


@task(backend="database")
async def async_database_connection_id() -> int:
    """The connection a sync_to_async call of an async task uses."""
    return await sync_to_async(database_connection_id.call)()


@task(backend="database", takes_context=True, timeout=0.5, max_attempts=2, backoff=constant(0))
def slow_on_first_attempt(context: TaskContext, seconds: float) -> int:
    """Runs past its timeout on the first attempt; the second returns its number."""
    if context.attempt == 1:
        time.sleep(seconds)
    return context.attempt


@task(backend="database", timeout=0.5, max_attempts=2, backoff=constant(0))
def deaf_to_the_alarm_twice(marker: str, seconds: float) -> str:
    """sleep_deaf_to_the_alarm, with a second attempt."""
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    Path(marker).touch()
    time.sleep(seconds)
    return "slept"

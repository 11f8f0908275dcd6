"""The soak's task: it records each execution, so that run.py can count them by pid."""

import os
import time
from datetime import timedelta

from django_tasks import TaskContext, task
from django_tasks.backoff import constant
from django_tasks.periodic import schedule

_log_fd: int | None = None


def _log(event: str, result_id: str) -> None:
    # One short write to an O_APPEND file is atomic: every worker shares the log.
    global _log_fd
    if _log_fd is None:
        path = os.environ["SOAK_EXEC_LOG"]
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_log_fd, f"{event} {result_id} {os.getpid()} {time.time():.6f}\n".encode())


def _run(context: TaskContext, seconds: float) -> None:
    """Log "start", sleep `seconds`, log "end": a task that was cut short has no "end"."""
    result_id = context.task_result.id
    _log("start", result_id)
    time.sleep(seconds)
    _log("end", result_id)


# A task lost with a killed worker is an attempt: it is retried while attempts are left,
# at once (on RQ, a retry with a delay is a scheduled job, and the scheduler may have
# been in the worker that was killed: see the README on RQ and lost workers).
@task(takes_context=True, max_attempts=5, backoff=constant(0))
def record(context: TaskContext, seconds: float) -> None:
    _run(context, seconds)


@task(takes_context=True, backend="rq", max_attempts=5, backoff=constant(0))
def record_rq(context: TaskContext, seconds: float) -> None:
    _run(context, seconds)


class Flake(ConnectionError):
    """What the flaky tasks raise: a transient error, worth retrying."""


@task(takes_context=True, max_attempts=4, backoff=constant(1))
def flaky(context: TaskContext, failures: int) -> int:
    """Fail the first `failures` attempts, then succeed; each retry waits a second."""
    if context.attempt <= failures:
        raise Flake(f"attempt {context.attempt} of {failures} planned failures")
    return context.attempt


@task(takes_context=True, max_attempts=3, backoff=constant(1))
def doomed(context: TaskContext) -> None:
    """Fail every attempt: FAILED after exactly max_attempts."""
    raise Flake(f"attempt {context.attempt}: always")


@task(takes_context=True, max_attempts=2, backoff=constant(0), timeout=1)
def hang(context: TaskContext) -> None:
    """Run far past the timeout: each attempt is stopped, the last one FAILED."""
    time.sleep(60)


@task
def tick() -> None:
    """What the one-second schedule enqueues (scenario 6); db_worker -v 2 logs each tick."""


# Declared only in the workers of the periodic scenario, so no other scenario gets ticks.
if os.environ.get("SOAK_PERIODIC") == "1":
    schedule(timedelta(seconds=1), tick)

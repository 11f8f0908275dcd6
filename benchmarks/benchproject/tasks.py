"""The benchmark's no-op task, importable by both sides: each names its package django_tasks."""

import os
import time

from django_tasks import TaskContext, task

_log_fd: int | None = None


@task(takes_context=True)
def noop(context: TaskContext) -> None:
    """Do nothing but append "<result id> <start time>" to BENCH_EXEC_LOG, if set.

    One short write to an O_APPEND file is atomic, so concurrent workers can share the log,
    and it costs microseconds, not a database round trip.
    """
    _log_start(context)


@task(takes_context=True)
def nap(context: TaskContext) -> None:
    """Log as noop does, then sleep 100 ms: a task that waits (on I/O, say), not computes."""
    _log_start(context)
    time.sleep(0.1)


def _log_start(context: TaskContext) -> None:
    global _log_fd
    started = time.time()
    path = os.environ.get("BENCH_EXEC_LOG")
    if not path:
        return
    if _log_fd is None:
        _log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(_log_fd, f"{context.task_result.id} {started:.6f}\n".encode())

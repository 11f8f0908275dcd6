"""What the database backend records when a task's attempt ends without an outcome."""

from ...exceptions import WorkerLost

__all__ = ["WorkerInterrupted", "WorkerLost"]


class WorkerInterrupted(BaseException):
    """
    The worker was told to stop at once (a second SIGTERM or SIGINT) while it ran the
    task. A BaseException, like KeyboardInterrupt, so that the task's own
    `except Exception` does not swallow it.
    """

"""What the database backend records when a task's attempt ends without an outcome."""

from ...exceptions import TaskException


class WorkerLost(TaskException):
    """The worker running the task stopped renewing its lease (it died, or lost the database)."""


class WorkerInterrupted(BaseException):
    """
    The worker was told to stop at once (a second SIGTERM or SIGINT) while it ran the
    task. A BaseException, like KeyboardInterrupt, so that the task's own
    `except Exception` does not swallow it.
    """

"""What the database backend records when a task's attempt ends without an outcome."""

from ...exceptions import WorkerLost

__all__ = ["AttemptTimedOut", "WorkerInterrupted", "WorkerLost"]


class WorkerInterrupted(BaseException):
    """
    The worker was told to stop at once (a second SIGTERM or SIGINT) while it ran the
    task. A BaseException, like KeyboardInterrupt, so that the task's own
    `except Exception` does not swallow it.
    """


class AttemptTimedOut(BaseException):
    """
    Raised in a sync task's frame, from SIGALRM, when its attempt reaches its timeout
    (a worker of --concurrency 1; see attempt_timeouts.py). The runner records TaskTimeout in its
    place. A BaseException, so that the task's own `except Exception` does not swallow it.
    """

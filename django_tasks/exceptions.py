from django.core.exceptions import ImproperlyConfigured


class TaskException(Exception):
    """Base class for task-related exceptions. Do not raise directly."""


class InvalidTask(TaskException):
    """The task, or the way it is being enqueued, is invalid."""


class InvalidTaskBackend(ImproperlyConfigured):
    """The task backend is unknown or misconfigured."""


class TaskResultDoesNotExist(TaskException):
    """The requested task result does not exist."""


class TaskResultMismatch(TaskException):
    """The requested task result belongs to another task."""


class TaskTimeout(TaskException, TimeoutError):
    """An attempt of the task ran past its timeout."""


class WorkerLost(TaskException):
    """The worker running the task died (or lost its store) before recording an outcome."""


# Names used by upstream django-tasks before Django 6 adopted the framework.
InvalidTaskError = InvalidTask
InvalidTaskBackendError = InvalidTaskBackend

__all__ = [
    "InvalidTask",
    "InvalidTaskBackend",
    "InvalidTaskBackendError",
    "InvalidTaskError",
    "TaskException",
    "TaskResultDoesNotExist",
    "TaskResultMismatch",
    "TaskTimeout",
    "WorkerLost",
]

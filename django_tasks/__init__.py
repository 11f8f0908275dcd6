"""A typed implementation of Django's Tasks framework (DEP 0014)."""

from typing import TYPE_CHECKING, Any, cast

from asgiref.local import Local
from django.conf import global_settings
from django.conf import settings as django_settings
from django.utils.connection import BaseConnectionHandler, ConnectionProxy
from django.utils.module_loading import import_string

from . import checks, signals
from .backends.base import BaseTaskBackend
from .base import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_QUEUE_NAME,
    Task,
    TaskContext,
    TaskResult,
    TaskResultStatus,
    task,
)
from .bulk import BulkEnqueue, bulk_enqueue
from .exceptions import InvalidTaskBackend

__all__ = [
    "DEFAULT_TASK_BACKEND_ALIAS",
    "DEFAULT_TASK_QUEUE_NAME",
    "BulkEnqueue",
    "Task",
    "TaskContext",
    "TaskResult",
    "TaskResultStatus",
    "bulk_enqueue",
    "checks",
    "default_task_backend",
    "signals",
    "task",
    "task_backends",
]

DEFAULT_TASKS_SETTING = {
    DEFAULT_TASK_BACKEND_ALIAS: {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}
}


if TYPE_CHECKING:
    _BackendHandler = BaseConnectionHandler[BaseTaskBackend]
else:  # Generic only in django-stubs.
    _BackendHandler = BaseConnectionHandler


class TaskBackendHandler(_BackendHandler):
    """The TASKS setting's backends, one instance per alias and thread."""

    settings_name = "TASKS"
    exception_class = InvalidTaskBackend
    _settings: dict[str, Any] | None
    _connections: Local

    def reset(self) -> None:
        """Forget built backends and re-read TASKS (for tests that override it)."""
        self.__dict__.pop("settings", None)  # The cached_property.
        self._settings = None
        self._connections = Local(self.thread_critical)

    def configure_settings(self, settings: dict[str, Any] | None) -> dict[str, Any]:
        if settings is None:
            settings = getattr(django_settings, "TASKS", None)
        # Only the project's own TASKS counts: Django 6's global default names
        # django.tasks' ImmediateBackend. An explicit TASKS = {} means no backends.
        if settings is None or settings is getattr(global_settings, "TASKS", None):
            return DEFAULT_TASKS_SETTING
        return settings

    def __getitem__(self, alias: str) -> BaseTaskBackend:
        if alias not in self.settings:
            raise InvalidTaskBackend(
                f"The connection '{alias}' doesn't exist. No task backend has that alias; "
                f"TASKS has {', '.join(repr(name) for name in self.settings) or 'no backends'}."
            )
        return super().__getitem__(alias)

    def create_connection(self, alias: str) -> BaseTaskBackend:
        params = self.settings[alias]
        path = params.get("BACKEND")
        if not path:
            raise InvalidTaskBackend(f"TASKS[{alias!r}] has no BACKEND.")
        try:
            backend_class = import_string(path)
        except ImportError as e:
            raise InvalidTaskBackend(f"Could not find backend '{path}': {e}") from e
        return cast(BaseTaskBackend, backend_class(alias=alias, params=params))


task_backends = TaskBackendHandler()

default_task_backend = cast(
    BaseTaskBackend, ConnectionProxy(task_backends, DEFAULT_TASK_BACKEND_ALIAS)
)

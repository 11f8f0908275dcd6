"""The typed core: tasks, their results and the `@task` decorator."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from inspect import isclass, iscoroutinefunction
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    Literal,
    ParamSpec,
    Protocol,
    cast,
    overload,
)

from asgiref.sync import async_to_sync, sync_to_async
from django.db.models import TextChoices
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import pgettext_lazy
from typing_extensions import TypeVar

from .backoff import Backoff
from .exceptions import TaskResultMismatch
from .serialization import normalize_arguments
from .utils import get_module_path, get_random_id

if TYPE_CHECKING:
    from .backends.base import BaseTaskBackend

DEFAULT_TASK_BACKEND_ALIAS = "default"
DEFAULT_TASK_QUEUE_NAME = "default"
DEFAULT_TASK_PRIORITY = 0
TASK_MIN_PRIORITY = -100
TASK_MAX_PRIORITY = 100

P = ParamSpec("P")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# What `refresh()` copies from the backend's fresh copy of a result.
TASK_REFRESH_ATTRS = (
    "status",
    "enqueued_at",
    "started_at",
    "finished_at",
    "last_attempted_at",
    "errors",
    "worker_ids",
    "_return_value",
)


class TaskResultStatus(TextChoices):
    # Enqueued, or ready to be run again.
    READY = ("READY", pgettext_lazy("Task", "Ready"))
    # A worker is running it.
    RUNNING = ("RUNNING", pgettext_lazy("Task", "Running"))
    # It raised an exception, or could not be started.
    FAILED = ("FAILED", pgettext_lazy("Task", "Failed"))
    # It returned; `return_value` holds what it returned.
    SUCCESSFUL = ("SUCCESSFUL", pgettext_lazy("Task", "Successful"))


# Not slots=True: on Python 3.11 that breaks calling a subscripted class, Task[..., int](...).
@dataclass(frozen=True, kw_only=True)
class Task(Generic[P, T_co]):
    """
    A function that can run in the background. `P` is its parameters (without
    the context parameter of a `takes_context` task), `T_co` what it returns
    (for an `async def`, the awaited value).
    """

    func: Callable[..., T_co | Awaitable[T_co]]
    priority: int = DEFAULT_TASK_PRIORITY
    backend: str = DEFAULT_TASK_BACKEND_ALIAS
    queue_name: str = DEFAULT_TASK_QUEUE_NAME
    run_after: datetime | None = None  # The earliest time it may run.
    takes_context: bool = False  # Whether it receives a TaskContext first.
    enqueue_on_commit: bool | None = None  # None: the backend's ENQUEUE_ON_COMMIT.
    # How many times a worker may start it (failures retried), how long to wait between
    # attempts, and how many seconds one may run. None: the backend's MAX_ATTEMPTS,
    # BACKOFF and TIMEOUT (by default 1, exponential() and no limit). using() keeps them.
    max_attempts: int | None = None
    backoff: Backoff | None = None
    timeout: float | None = None

    def __post_init__(self) -> None:
        self.get_backend().validate_task(self)

    @property
    def name(self) -> str:
        return self.func.__name__

    @property
    def module_path(self) -> str:
        return get_module_path(self.func)

    @property
    def is_async(self) -> bool:
        return iscoroutinefunction(self.func)

    def using(
        self,
        *,
        priority: int | None = None,
        queue_name: str | None = None,
        run_after: datetime | None = None,
        backend: str | None = None,
    ) -> Task[P, T_co]:
        """A copy of this task with other defaults; the task itself never changes."""
        return replace(
            self,
            priority=self.priority if priority is None else priority,
            queue_name=self.queue_name if queue_name is None else queue_name,
            run_after=self.run_after if run_after is None else run_after,
            backend=self.backend if backend is None else backend,
        )

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[T_co]:
        return self.get_backend().enqueue(self, args, kwargs)

    async def aenqueue(self, *args: P.args, **kwargs: P.kwargs) -> TaskResult[T_co]:
        return await self.get_backend().aenqueue(self, args, kwargs)

    def get_result(self, result_id: str) -> TaskResult[T_co]:
        """Raise TaskResultDoesNotExist, or TaskResultMismatch if it is another task's."""
        return self._check_owns(self.get_backend().get_result(result_id))

    async def aget_result(self, result_id: str) -> TaskResult[T_co]:
        return self._check_owns(await self.get_backend().aget_result(result_id))

    def call(self, *args: P.args, **kwargs: P.kwargs) -> T_co:
        """Run the function now, in this thread, as a worker would."""
        call_args = self._with_context(args)
        if self.is_async:
            return async_to_sync(self._coroutine_function)(*call_args, **kwargs)
        return cast(Callable[..., T_co], self.func)(*call_args, **kwargs)

    async def acall(self, *args: P.args, **kwargs: P.kwargs) -> T_co:
        call_args = self._with_context(args)
        if self.is_async:
            return await self._coroutine_function(*call_args, **kwargs)
        return await sync_to_async(cast(Callable[..., T_co], self.func))(*call_args, **kwargs)

    def get_backend(self) -> BaseTaskBackend:
        from . import task_backends

        return task_backends[self.backend]

    @property
    def _coroutine_function(self) -> Callable[..., Coroutine[Any, Any, T_co]]:
        return cast(Callable[..., Coroutine[Any, Any, T_co]], self.func)

    def _with_context(self, args: tuple[object, ...]) -> tuple[object, ...]:
        # Workers (ours and Django's) pass the context themselves; a direct
        # call() gets a fresh one, as callers never pass it.
        if not self.takes_context or (args and _is_task_context(args[0])):
            return args
        now = timezone.now()
        result: TaskResult[T_co] = TaskResult(
            task=self,
            id=get_random_id(),
            status=TaskResultStatus.RUNNING,
            started_at=now,
            last_attempted_at=now,
            args=[],
            kwargs={},
            backend=self.backend,
            worker_ids=[get_random_id()],  # This call is the first attempt.
        )
        # A direct call crosses no JSON boundary: the arguments stay as given.
        object.__setattr__(result, "args", list(args))
        return (TaskContext(task_result=result), *args)

    def _check_owns(self, result: TaskResult[Any]) -> TaskResult[T_co]:
        if result.task.func != self.func:
            raise TaskResultMismatch(
                f"Task does not match (received {result.task.module_path!r}): result "
                f"{result.id!r} belongs to that task, not to {self.module_path!r}."
            )
        return result


def _is_task_context(value: object) -> bool:
    # Django 6's own backends pass django.tasks.TaskContext, which has the same shape.
    return isinstance(value, TaskContext) or type(value).__name__ == "TaskContext"


class TaskDecorator(Protocol):
    @overload
    def __call__(self, function: Callable[P, Coroutine[Any, Any, T]], /) -> Task[P, T]: ...
    @overload
    def __call__(self, function: Callable[P, T], /) -> Task[P, T]: ...


class ContextTaskDecorator(Protocol):
    @overload
    def __call__(
        self, function: Callable[Concatenate[TaskContext, P], Coroutine[Any, Any, T]], /
    ) -> Task[P, T]: ...
    @overload
    def __call__(self, function: Callable[Concatenate[TaskContext, P], T], /) -> Task[P, T]: ...


@overload
def task(function: Callable[P, Coroutine[Any, Any, T]], /) -> Task[P, T]: ...
@overload
def task(function: Callable[P, T], /) -> Task[P, T]: ...
@overload
def task(
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    enqueue_on_commit: bool | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    timeout: float | timedelta | None = None,
    takes_context: Literal[False] = False,
) -> TaskDecorator: ...
@overload
def task(
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    enqueue_on_commit: bool | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    timeout: float | timedelta | None = None,
    takes_context: Literal[True],
) -> ContextTaskDecorator: ...
def task(
    function: Callable[..., Any] | None = None,
    /,
    *,
    priority: int = DEFAULT_TASK_PRIORITY,
    queue_name: str = DEFAULT_TASK_QUEUE_NAME,
    backend: str = DEFAULT_TASK_BACKEND_ALIAS,
    enqueue_on_commit: bool | None = None,
    max_attempts: int | None = None,
    backoff: Backoff | None = None,
    timeout: float | timedelta | None = None,
    takes_context: bool = False,
) -> Task[..., Any] | TaskDecorator | ContextTaskDecorator:
    """Make a module-level function a Task: `@task` or `@task(priority=..., ...)`."""

    def wrapper(f: Callable[..., Any]) -> Task[..., Any]:
        declared = _task_class_of(backend)(
            func=f,
            priority=priority,
            queue_name=queue_name,
            backend=backend,
            takes_context=takes_context,
            enqueue_on_commit=enqueue_on_commit,
            max_attempts=max_attempts,
            backoff=backoff,
            timeout=timeout.total_seconds() if isinstance(timeout, timedelta) else timeout,
        )
        declared_tasks.append(declared)
        return declared

    if function is not None:
        return wrapper(function)
    return cast(TaskDecorator | ContextTaskDecorator, wrapper)


def _task_class_of(alias: str) -> type[Task[..., Any]]:
    """The backend's `task_class`, as Django's decorator builds: a backend may have its own."""
    from . import task_backends

    task_class: object = getattr(task_backends[alias], "task_class", Task)
    # Django 6's own backends name Django's Task, which has none of our fields and
    # checks: our Task runs on them (see the Django 6 interop tests).
    if isclass(task_class) and issubclass(task_class, Task):
        return cast(type[Task[..., Any]], task_class)
    return Task


# Every task made by the decorator, for the system checks.
declared_tasks: list[Task[..., Any]] = []


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskError:
    exception_class_path: str
    traceback: str

    @property
    def exception_class(self) -> type[BaseException]:
        exception_class = import_string(self.exception_class_path)
        if not isclass(exception_class) or not issubclass(exception_class, BaseException):
            raise ValueError(
                f"{self.exception_class_path!r} does not reference a valid exception. "
                f"It names {exception_class!r}."
            )
        return exception_class


@dataclass(frozen=True, kw_only=True)
class TaskResult(Generic[T_co]):
    # The defaults describe a result that was never enqueued nor attempted.
    task: Task[..., T_co]
    id: str  # Opaque and unique; at most 64 characters.
    status: TaskResultStatus = TaskResultStatus.READY
    enqueued_at: datetime | None = None
    started_at: datetime | None = None  # When the first attempt started.
    finished_at: datetime | None = None
    last_attempted_at: datetime | None = None
    args: list[Any]  # As they came back from JSON: tuples are lists.
    kwargs: dict[str, Any]
    backend: str
    # One per failed attempt, oldest first.
    errors: list[TaskError] = field(default_factory=list[TaskError])
    worker_ids: list[str] = field(default_factory=list[str])  # One per attempt.
    _return_value: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        # As Django's: whichever backend built it (from a tuple, say), the arguments
        # look as JSON gives them back. Raises TypeError naming one that is not JSON.
        args, kwargs = normalize_arguments(self.args, self.kwargs)
        object.__setattr__(self, "args", args)
        object.__setattr__(self, "kwargs", kwargs)

    @property
    def return_value(self) -> T_co:
        """What the task returned, after JSON; raises ValueError unless SUCCESSFUL."""
        if self.status == TaskResultStatus.SUCCESSFUL:
            return cast(T_co, self._return_value)
        if self.status == TaskResultStatus.FAILED:
            raise ValueError(
                f"Task failed: {self.task.module_path} (result {self.id}) has no return "
                "value; see .errors."
            )
        raise ValueError(
            f"Task has not finished yet: {self.task.module_path} (result {self.id}) is "
            f"{self.status}; call .refresh() later."
        )

    @property
    def is_finished(self) -> bool:
        return self.status in (TaskResultStatus.FAILED, TaskResultStatus.SUCCESSFUL)

    @property
    def attempts(self) -> int:
        return len(self.worker_ids)

    def refresh(self) -> None:
        """Reload this result from the backend's store."""
        self._update_from(self.task.get_backend().get_result(self.id))

    async def arefresh(self) -> None:
        self._update_from(await self.task.get_backend().aget_result(self.id))

    def _update_from(self, fresh: TaskResult[Any]) -> None:
        for attr in TASK_REFRESH_ATTRS:
            object.__setattr__(self, attr, getattr(fresh, attr))


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskContext:
    """What a `takes_context` task receives as its first argument."""

    task_result: TaskResult[object]

    @property
    def attempt(self) -> int:
        """1 on the first attempt, 2 on the first retry, and so on."""
        return self.task_result.attempts

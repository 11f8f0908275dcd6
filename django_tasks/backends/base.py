from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.checks import CheckMessage
from django.db import transaction
from django.utils import timezone
from django.utils.inspect import get_func_args

from .. import bulk
from ..base import (
    DEFAULT_TASK_PRIORITY,
    DEFAULT_TASK_QUEUE_NAME,
    TASK_MAX_PRIORITY,
    TASK_MIN_PRIORITY,
    Task,
    TaskResult,
)
from ..exceptions import InvalidTask, InvalidTaskBackend
from ..retries import (
    AttemptPolicy,
    check_backoff,
    check_count,
    check_timeout,
    policy_from_settings,
)
from ..utils import get_random_id, is_module_level_function

T = TypeVar("T")


class BaseTaskBackend(metaclass=ABCMeta):
    # The class @task (ours, and Django 6's) builds for this backend's tasks.
    task_class: type[Task[..., Any]] = Task

    # Can a task be enqueued with run_after?
    supports_defer = False
    # Can an `async def` task be enqueued?
    supports_async_task = False
    # Can a result be fetched by id, from any thread or process?
    supports_get_result = False
    # Are ready tasks run highest priority first?
    supports_priority = False
    # Does its worker run a failed task again (max_attempts > 1, backoff)?
    supports_retries = False
    # Does its worker fail an attempt that runs past the task's timeout?
    supports_timeout = False
    # Do its workers enqueue the ticks of periodic schedules (django_tasks.periodic)?
    runs_schedules = False
    # What its worker raises in a task to stop it at its timeout (see timeouts.py).
    timeout_exceptions: tuple[type[BaseException], ...] = ()

    def __init__(self, alias: str, params: Mapping[str, Any]) -> None:
        self.alias = alias
        self.queues: frozenset[str] = frozenset(params.get("QUEUES", [DEFAULT_TASK_QUEUE_NAME]))
        self.enqueue_on_commit: bool = bool(params.get("ENQUEUE_ON_COMMIT", True))
        self.options: dict[str, Any] = dict(params.get("OPTIONS", {}))
        try:
            # What a task's own max_attempts, backoff and timeout default to.
            self.default_attempt_policy = policy_from_settings(alias, params)
        except ValueError as e:
            raise InvalidTaskBackend(str(e)) from e
        if self.default_attempt_policy.max_attempts > 1 and not self.supports_retries:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}] sets MAX_ATTEMPTS, but its backend does not retry tasks."
            )
        if self.default_attempt_policy.timeout is not None and not self.supports_timeout:
            raise InvalidTaskBackend(
                f"TASKS[{alias!r}] sets TIMEOUT, but its backend does not stop tasks that "
                "run past one."
            )

    def validate_task(self, task: Task[..., object]) -> None:
        """Raise InvalidTask unless this backend can run `task`."""
        if not is_module_level_function(task.func):
            raise InvalidTask(
                f"Task function must be defined at a module level. {task.func!r} is not, "
                "so a worker could not import it."
            )
        if task.is_async and not self.supports_async_task:
            raise InvalidTask(f"Backend does not support async tasks. (backend {self.alias!r})")
        if task.takes_context and get_func_args(task.func)[:1] != ["context"]:
            raise InvalidTask(
                "Task takes context but does not have a first argument of 'context'. "
                f"{task.module_path}'s first parameter must be `context: TaskContext`."
            )
        if type(task.priority) is not int or not (
            TASK_MIN_PRIORITY <= task.priority <= TASK_MAX_PRIORITY
        ):
            raise InvalidTask(
                f"priority must be a whole number between {TASK_MIN_PRIORITY} and "
                f"{TASK_MAX_PRIORITY}. It is {task.priority!r}."
            )
        if task.priority != DEFAULT_TASK_PRIORITY and not self.supports_priority:
            raise InvalidTask(
                f"Backend does not support setting priority of tasks. (backend {self.alias!r})"
            )
        if task.run_after is not None:
            if not self.supports_defer:
                raise InvalidTask(f"Backend does not support run_after. (backend {self.alias!r})")
            if settings.USE_TZ and timezone.is_naive(task.run_after):
                raise InvalidTask(
                    f"run_after must be an aware datetime. USE_TZ is on, and "
                    f"{task.run_after!r} is naive."
                )
        self._validate_attempts(task)
        if self.queues and task.queue_name not in self.queues:
            raise InvalidTask(
                f"Queue '{task.queue_name}' is not valid for backend. Backend {self.alias!r} "
                f"has QUEUES {', '.join(sorted(self.queues))}."
            )

    def _validate_attempts(self, task: Task[..., object]) -> None:
        try:
            if task.max_attempts is not None:
                check_count(task.max_attempts, "max_attempts")
            if task.backoff is not None:
                check_backoff(task.backoff, "backoff")
            if task.timeout is not None:
                check_timeout(task.timeout, "timeout")
        except ValueError as e:
            raise InvalidTask(f"{e} (task {task.module_path})") from e
        if (task.max_attempts or 1) > 1 and not self.supports_retries:
            raise InvalidTask(
                f"Backend does not support retrying tasks (max_attempts). (backend {self.alias!r})"
            )
        if task.timeout is not None and not self.supports_timeout:
            raise InvalidTask(f"Backend does not support task timeouts. (backend {self.alias!r})")

    def attempt_policy(self, task: Task[..., object]) -> AttemptPolicy:
        """The task's max_attempts, backoff and timeout, or this backend's defaults."""
        default = self.default_attempt_policy
        if task.max_attempts is None and task.backoff is None and task.timeout is None:
            return default
        return AttemptPolicy(
            max_attempts=default.max_attempts if task.max_attempts is None else task.max_attempts,
            backoff=default.backoff if task.backoff is None else task.backoff,
            timeout=default.timeout if task.timeout is None else task.timeout,
        )

    @abstractmethod
    def enqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        """Queue `task` to run with these arguments."""

    async def aenqueue(
        self, task: Task[..., T], args: Sequence[object], kwargs: Mapping[str, object]
    ) -> TaskResult[T]:
        return await sync_to_async(self.enqueue, thread_sensitive=True)(task, args, kwargs)

    def get_result(self, result_id: str) -> TaskResult[Any]:
        """Raise TaskResultDoesNotExist if there is no such result."""
        raise NotImplementedError(
            "This backend does not support retrieving or refreshing results. "
            f"(backend {self.alias!r})"
        )

    async def aget_result(self, result_id: str) -> TaskResult[Any]:
        return await sync_to_async(self.get_result, thread_sensitive=True)(result_id)

    def check(self, **kwargs: Any) -> Iterable[CheckMessage]:
        """Problems with this backend's configuration, for Django's system checks."""
        return []

    def new_result(
        self,
        task: Task[..., T],
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        result_id: str | None = None,
    ) -> TaskResult[T]:
        """
        Check `task` and its arguments, and return its READY result. Raises
        before anything is stored, so a refused enqueue changes nothing.
        """
        self.validate_task(task)
        # The result checks and normalises the arguments itself.
        result: TaskResult[T] = TaskResult(
            task=task,
            id=result_id or get_random_id(),
            args=list(args),
            kwargs=dict(kwargs),
            backend=self.alias,
        )
        return result

    def enqueue_result(self, result: TaskResult[Any]) -> None:
        """
        Store a result from new_result(): into the open bulk_enqueue() block if any, else
        now or when the transaction commits. Backends that use it implement store_results.
        """
        if not bulk.collect(result):
            self.when_committed(result.task, partial(self.store_results, [result]))

    def store_results(self, results: Sequence[TaskResult[Any]]) -> None:
        """Store READY results, mark them enqueued and send task_enqueued for each."""
        raise NotImplementedError(f"Backend {self.alias!r} does not store results in batches.")

    def transaction_db(self) -> str | None:
        """The database whose transaction ENQUEUE_ON_COMMIT waits for (None: default)."""
        return None

    def should_enqueue_on_commit(self, task: Task[..., object]) -> bool:
        if task.enqueue_on_commit is not None:
            return task.enqueue_on_commit
        return self.enqueue_on_commit

    def when_committed(
        self, task: Task[..., object], action: Callable[[], None], using: str | None = None
    ) -> None:
        """
        Run `action` when the transaction open on database `using` (by default
        transaction_db()) commits, if the task enqueues on commit; otherwise, or
        outside a transaction, now.
        """
        if using is None:
            using = self.transaction_db()
        # Checking in_atomic_block needs no connection, so tests without database
        # access can enqueue outside transactions.
        if (
            self.should_enqueue_on_commit(task)
            and transaction.get_connection(using).in_atomic_block
        ):
            transaction.on_commit(action, using=using)
        else:
            action()

"""Running one task and recording its outcome: every backend's worker uses this."""

import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from copy import copy
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar, cast

from asgiref.sync import async_to_sync
from django.utils import timezone

from .backoff import delay_seconds
from .base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
from .exceptions import InvalidTask
from .retries import AttemptPolicy
from .serialization import normalize_json
from .signals import task_finished, task_started
from .timeouts import await_with_timeout, call_with_timeout, timed_out
from .utils import get_exception_traceback, get_module_path

T = TypeVar("T")


def resolve_task(path: str) -> Task[..., Any]:
    """
    The task that a stored `path` names, among the tasks of the modules already loaded:
    the apps' tasks modules (loaded at start-up, see DjangoTasksConfig.ready) and what
    they import. Nothing is imported, and no module attribute hook runs, for a path: a
    row written by another program cannot make a worker run a module's import-time
    code. InvalidTask says why a path is refused.
    """
    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise InvalidTask(f"{path!r} is not the dotted path of a task.")
    module = sys.modules.get(module_name)
    if module is None:
        raise InvalidTask(
            f"{path!r} is not a declared task: no loaded module is called {module_name!r}, "
            "and a stored path is never imported. Declare tasks in an installed app's "
            "tasks.py, or in a module it imports."
        )
    found: object = vars(module).get(attribute)
    if found is None:
        raise InvalidTask(f"{path!r} is not a declared task: {module_name} has no {attribute!r}.")
    if not isinstance(found, Task):
        raise InvalidTask(
            f"{path!r} is a {type(found).__qualname__}, not a task (was its @task "
            "decorator removed?)."
        )
    return cast(Task[..., Any], found)


def check_arguments_fit(result: TaskResult[Any]) -> None:
    """
    InvalidTask if the result's stored arguments no longer fit its task's function (the
    task changed since it was enqueued): such a task fails at once, never retried.
    """
    task = result.task
    problem = arguments_problem(task, result.args, result.kwargs)
    if problem is not None:
        raise InvalidTask(
            f"The stored arguments of task result {result.id} no longer fit "
            f"{task.module_path}{signature_of(task)}: {problem} (args={result.args!r}, "
            f"kwargs={result.kwargs!r})."
        )


def arguments_problem(
    task: Task[..., Any], args: Sequence[object], kwargs: Mapping[str, object]
) -> str | None:
    """Why these arguments do not fit the task's function (a call's TypeError), or None."""
    context: list[object] = [None] if task.takes_context else []
    try:
        signature_of(task).bind(*context, *args, **kwargs)
    except TypeError as e:
        return str(e)
    return None


def signature_of(task: Task[..., Any]) -> inspect.Signature:
    return _signature(task.func)


@cache
def _signature(func: Callable[..., object]) -> inspect.Signature:
    return inspect.signature(func)


def start_attempt(
    task_result: TaskResult[Any], worker_id: str, now: datetime | None = None
) -> None:
    """Mark the result RUNNING for a new attempt by `worker_id`."""
    now = now or timezone.now()
    _set(task_result, status=TaskResultStatus.RUNNING, last_attempted_at=now)
    if task_result.started_at is None:
        _set(task_result, started_at=now)
    task_result.worker_ids.append(worker_id)


def run_task(
    task_result: TaskResult[Any],
    *,
    save_outcome: Callable[[TaskResult[Any]], None] | None = None,
    reraise: tuple[type[BaseException], ...] = (BaseException,),
    watch: Callable[[Callable[[], object], float], object] | None = None,
) -> None:
    """
    Run one attempt of the task of a RUNNING result, within the task's timeout, and
    record its outcome on the result: SUCCESSFUL with the return value; or, after an
    error, READY again and due after the backoff's delay when attempts are left and
    the backoff gives one, else FAILED. `save_outcome` persists that before
    task_finished is sent. An interruption (a BaseException that is not an Exception,
    such as KeyboardInterrupt or SystemExit) is never retried; one of a `reraise` class
    is recorded as a failure, then re-raised. `watch(call, seconds)`, if given, makes
    the call of an attempt that has a timeout: a worker's way to stop it or to notice
    that it did not stop (what it raises for that is one of the backend's
    `timeout_exceptions`).
    """
    task = task_result.task
    backend = task.get_backend()
    sender = type(backend)
    task_started.send(sender, task_result=task_result)
    interruption: BaseException | None = None
    policy = backend.attempt_policy(task)
    try:
        args: list[object] = list(task_result.args)
        if task.takes_context:
            args.insert(0, TaskContext(task_result=task_result))
        timeout = policy.timeout
        if watch is None or timeout is None:
            value = _call(task, args, task_result.kwargs, timeout)
        else:
            value = watch(lambda: _call(task, args, task_result.kwargs, timeout), timeout)
        return_value = normalize_json(value, f"The return value of {task.module_path}")
    except BaseException as raised:
        exc = raised
        if isinstance(raised, backend.timeout_exceptions) and policy.timeout is not None:
            # The backend stopped the attempt at its timeout.
            exc = timed_out(f"Task {task.module_path}", policy.timeout)
            exc.__cause__ = raised
        record_attempt_error(task_result, exc, policy)
        if not isinstance(exc, Exception) and isinstance(exc, reraise):
            interruption = exc
    else:
        _set(
            task_result,
            status=TaskResultStatus.SUCCESSFUL,
            finished_at=timezone.now(),
            _return_value=return_value,
        )
    if save_outcome is not None:
        save_outcome(task_result)
    task_finished.send(sender, task_result=task_result)
    if interruption is not None:
        raise interruption


def _call(
    task: Task[..., Any], args: list[object], kwargs: dict[str, Any], timeout: float | None
) -> object:
    what = f"Task {task.module_path}"
    if task.is_async:

        async def bounded() -> object:
            return await await_with_timeout(task.acall(*args, **kwargs), timeout, what)

        return async_to_sync(bounded)()
    return call_with_timeout(lambda: task.call(*args, **kwargs), timeout, what)


def record_attempt_error(
    task_result: TaskResult[Any], exc: BaseException, policy: AttemptPolicy
) -> None:
    """
    Record the error that ended an attempt: READY again after the backoff's delay when
    attempts are left (never after an interruption), else FAILED.
    """
    failure: BaseException = exc
    retry_in: float | None = None
    if isinstance(exc, Exception) and task_result.attempts < policy.max_attempts:
        try:
            retry_in = delay_seconds(policy.backoff(exc, task_result))
        except Exception as backoff_error:
            failure = backoff_error  # Its traceback tells of `exc` too.
    record_failure(task_result, failure, retry_in=retry_in)


def record_failure(
    task_result: TaskResult[Any], exc: BaseException, *, retry_in: float | None = None
) -> None:
    """Record the attempt's error: FAILED, or READY and due in `retry_in` seconds."""
    task_result.errors.append(
        TaskError(
            exception_class_path=get_module_path(type(exc)),
            traceback=get_exception_traceback(exc),
        )
    )
    now = timezone.now()
    if retry_in is None:
        _set(task_result, status=TaskResultStatus.FAILED, finished_at=now)
    else:
        _set(
            task_result,
            status=TaskResultStatus.READY,
            finished_at=None,
            task=due_at(task_result.task, now + timedelta(seconds=retry_in)),
        )


def detached(task_result: TaskResult[T]) -> TaskResult[T]:
    """
    A copy with a list of errors of its own: to record an outcome for a result that the
    thread running it may still change.
    """
    copied = copy(task_result)
    _set(copied, errors=list(task_result.errors))
    return copied


def due_at(task: Task[..., T], when: datetime) -> Task[..., T]:
    """The task, due at `when`: its next attempt's. Not using(), which checks the task."""
    due = copy(task)
    object.__setattr__(due, "run_after", when)
    return due


def _set(task_result: TaskResult[Any], **changes: object) -> None:
    # Results are frozen for users; the runner is the one writer.
    for name, value in changes.items():
        object.__setattr__(task_result, name, value)

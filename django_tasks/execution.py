"""Running one task and recording its outcome: every backend's worker uses this."""

import sys
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

from django.utils import timezone

from .base import Task, TaskContext, TaskError, TaskResult, TaskResultStatus
from .exceptions import InvalidTask
from .serialization import normalize_json
from .signals import task_finished, task_started
from .utils import get_exception_traceback, get_module_path


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
) -> None:
    """
    Run the task of a RUNNING result and record SUCCESSFUL with the return value,
    or FAILED with the error, on it. `save_outcome` persists that before
    task_finished is sent. An interruption (a BaseException that is not an
    Exception, such as KeyboardInterrupt or SystemExit) of a `reraise` class is
    recorded as a failure too, then re-raised.
    """
    task = task_result.task
    sender = type(task.get_backend())
    task_started.send(sender, task_result=task_result)
    interruption: BaseException | None = None
    try:
        args: list[object] = list(task_result.args)
        if task.takes_context:
            args.insert(0, TaskContext(task_result=task_result))
        value = task.call(*args, **task_result.kwargs)
        return_value = normalize_json(value, f"The return value of {task.module_path}")
    except BaseException as exc:
        record_failure(task_result, exc)
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


def record_failure(task_result: TaskResult[Any], exc: BaseException) -> None:
    task_result.errors.append(
        TaskError(
            exception_class_path=get_module_path(type(exc)),
            traceback=get_exception_traceback(exc),
        )
    )
    _set(task_result, status=TaskResultStatus.FAILED, finished_at=timezone.now())


def _set(task_result: TaskResult[Any], **changes: object) -> None:
    # Results are frozen for users; the runner is the one writer.
    for name, value in changes.items():
        object.__setattr__(task_result, name, value)

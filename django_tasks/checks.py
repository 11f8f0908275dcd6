import inspect
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register

from .base import Task, declared_tasks
from .exceptions import InvalidTaskBackend
from .periodic import schedules
from .serialization import json_round_trip_problem


@register("tasks")
def check_task_backends(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every configured backend loads, and passes its own checks."""
    from . import task_backends

    messages: list[CheckMessage] = []
    for alias in task_backends.settings:
        try:
            backend = task_backends[alias]
        except InvalidTaskBackend as e:
            messages.append(Error(str(e), obj=f"TASKS[{alias!r}]", id="django_tasks.E002"))
        else:
            messages.extend(backend.check(**kwargs))
    return messages


@register("tasks")
def check_task_json_types(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Warn about task annotations that promise types JSON cannot bring back."""
    checked: set[str] = set()
    messages: list[CheckMessage] = []
    for declared in declared_tasks:
        if declared.module_path not in checked:
            checked.add(declared.module_path)
            messages.extend(_json_type_warnings(declared))
    return messages


def _json_type_warnings(declared: Task[..., object]) -> Iterator[Warning]:
    try:
        hints = typing.get_type_hints(declared.func)
    except Exception:  # Unresolvable annotations: nothing reliable to say.
        return
    parameters = list(inspect.signature(declared.func).parameters)
    if declared.takes_context:
        parameters = parameters[1:]
    for name in [*parameters, "return"]:
        if name not in hints:
            continue
        problem = json_round_trip_problem(hints[name])
        if problem is None:
            continue
        what = "return value" if name == "return" else f"parameter {name!r}"
        yield Warning(
            f"Task {declared.module_path} {what} is annotated {_describe(hints[name])}, "
            f"which does not survive the JSON round trip: {problem}.",
            hint="Annotate with JSON types (str, int, float, bool, None, list, dict[str, ...]).",
            obj=declared.module_path,
            id="django_tasks.W001" if name != "return" else "django_tasks.W002",
        )


@register("tasks")
def check_schedules(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Each periodic schedule can be run: its `when`, its task and its arguments."""
    messages: list[CheckMessage] = []
    unique = {declared.key: declared for declared in schedules}
    for declared in unique.values():
        obj = f"{declared.task.module_path} ({declared.description})"
        messages.extend(
            Error(f"Periodic schedule {obj}: {problem}", obj=obj, id="django_tasks.E010")
            for problem in declared.problems()
        )
    if unique and not _some_backend_runs_schedules():
        messages.append(
            Warning(
                f"{len(unique)} periodic schedule(s) are declared, but no backend in TASKS "
                "runs schedules: nothing will enqueue their ticks.",
                hint="Configure a DatabaseBackend and run manage.py db_worker.",
                obj="TASKS",
                id="django_tasks.W010",
            )
        )
    return messages


def _some_backend_runs_schedules() -> bool:
    from . import task_backends

    for alias in task_backends.settings:
        try:
            if task_backends[alias].runs_schedules:
                return True
        except InvalidTaskBackend:  # Reported by check_task_backends.
            continue
    return False


def _describe(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")

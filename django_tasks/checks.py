import inspect
import typing
from collections.abc import Iterator, Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning, register

from .base import Task, declared_tasks
from .exceptions import InvalidTaskBackend
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


def _describe(annotation: object) -> str:
    if isinstance(annotation, type):
        return annotation.__qualname__
    return repr(annotation).replace("typing.", "")

"""Django 6's own django.tasks and this package work together, both ways:

* Django's `@task` on our backends: Django's decorator builds the backend's
  `task_class`, which for our backends is our Task.
* our `@task` on Django's backends: they run our Task through `Task.call`, passing
  Django's TaskContext first, which our Task passes through.

Both frameworks read settings.TASKS, so the aliases of both live in one setting.
"""

# django.tasks is in django-stubs, but at run time only from Django 6 on.
# pyright: reportMissingModuleSource=false

from typing import Any, cast

import django
import pytest

if django.VERSION < (6,):
    pytest.skip("needs Django 6 (django.tasks)", allow_module_level=True)

from asgiref.sync import async_to_sync
from django.conf import global_settings
from django.tasks import Task as DjangoTask
from django.tasks import TaskContext as DjangoTaskContext
from django.tasks import TaskResultStatus as DjangoTaskResultStatus
from django.tasks import task as django_task
from django.tasks import task_backends as django_task_backends
from django.tasks.backends.dummy import DummyBackend as DjangoDummyBackend
from django.tasks.backends.immediate import ImmediateBackend as DjangoImmediateBackend
from django.tasks.checks import check_tasks as django_check_tasks
from pytest_django import Settings

from django_tasks import Task, TaskContext, TaskResult, TaskResultStatus, task, task_backends
from django_tasks.backends.dummy import DummyBackend
from django_tasks.backends.immediate import ImmediateBackend
from django_tasks.checks import check_task_backends
from django_tasks.compat import TASK_CLASSES


class Refused(Exception):
    pass


def multiply(a: int, b: int) -> int:
    return a * b


async def async_multiply(a: int, b: int) -> int:
    return a * b


def refuse(reason: str) -> None:
    raise Refused(reason)


# Our runner passes our TaskContext, Django's passes its own: both have
# `task_result` and `attempt`. Each function is annotated for the decorator it is used with.
def describe_for_django(context: "DjangoTaskContext[Any, Any]", label: str) -> dict[str, object]:
    return {"label": label, "result_id": context.task_result.id, "attempt": context.attempt}


def describe(context: TaskContext, label: str) -> dict[str, object]:
    return {"label": label, "result_id": context.task_result.id, "attempt": context.attempt}


async def async_describe(context: TaskContext, label: str) -> dict[str, object]:
    return {"label": label, "result_id": context.task_result.id, "attempt": context.attempt}


@pytest.fixture(autouse=True)
def backends_of_both_frameworks(settings: Settings) -> None:
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "QUEUES": [],
            "ENQUEUE_ON_COMMIT": False,
        },
        "dummy": {
            "BACKEND": "django_tasks.backends.dummy.DummyBackend",
            "QUEUES": [],
            "ENQUEUE_ON_COMMIT": False,
        },
        "django_immediate": {
            "BACKEND": "django.tasks.backends.immediate.ImmediateBackend",
            "QUEUES": [],
        },
        "django_dummy": {"BACKEND": "django.tasks.backends.dummy.DummyBackend", "QUEUES": []},
    }


# --- Django's @task on our backends -------------------------------------------------


def test_djangos_handler_builds_our_backends() -> None:
    assert isinstance(django_task_backends["default"], ImmediateBackend)
    assert isinstance(django_task_backends["dummy"], DummyBackend)


def test_djangos_decorator_makes_our_task_for_our_backend() -> None:
    declared = django_task(multiply)

    assert isinstance(declared, Task)
    assert declared.backend == "default"


def test_djangos_task_on_our_immediate_backend_runs() -> None:
    result = django_task(multiply).enqueue(2, 3)

    assert result.status == DjangoTaskResultStatus.SUCCESSFUL
    assert result.return_value == 6


def test_djangos_task_on_our_dummy_backend_is_stored() -> None:
    declared = django_task(backend="dummy")(multiply)

    result = declared.enqueue(2, 3)

    assert [stored.id for stored in cast(DummyBackend, task_backends["dummy"]).results] == [
        result.id
    ]
    assert declared.get_result(result.id) == result


def test_djangos_task_keeps_its_priority_and_queue_on_our_backend() -> None:
    result = django_task(backend="dummy", priority=5, queue_name="emails")(multiply).enqueue(2, 3)

    assert result.task.priority == 5
    assert result.task.queue_name == "emails"


def test_djangos_async_task_on_our_immediate_backend_runs() -> None:
    result = django_task(async_multiply).enqueue(2, 3)

    # django-stubs types this as the coroutine; it is the awaited value.
    value: object = result.return_value
    assert value == 6


def test_djangos_context_task_on_our_immediate_backend_gets_the_context() -> None:
    result = django_task(takes_context=True)(describe_for_django).enqueue("ours")

    assert result.return_value == {"label": "ours", "result_id": result.id, "attempt": 1}


def test_djangos_failing_task_on_our_immediate_backend_is_recorded() -> None:
    result = django_task(refuse).enqueue("no")

    assert result.status == DjangoTaskResultStatus.FAILED
    assert result.errors[0].exception_class is Refused


def test_djangos_checks_run_our_backends_checks() -> None:
    assert list(django_check_tasks()) == []


# --- our @task on Django's backends -------------------------------------------------


def test_our_handler_builds_djangos_backends() -> None:
    assert isinstance(task_backends["django_immediate"], DjangoImmediateBackend)
    assert isinstance(task_backends["django_dummy"], DjangoDummyBackend)


def test_our_task_on_djangos_immediate_backend_runs() -> None:
    result = task(backend="django_immediate")(multiply).enqueue(2, 3)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 6


def test_our_task_on_djangos_immediate_backend_from_async_code_runs() -> None:
    declared = task(backend="django_immediate")(multiply)

    async def view() -> TaskResult[int]:
        return await declared.aenqueue(2, 3)

    assert async_to_sync(view)().return_value == 6


def test_our_async_task_on_djangos_immediate_backend_runs() -> None:
    result = task(backend="django_immediate")(async_multiply).enqueue(2, 3)

    assert result.return_value == 6


def test_our_context_task_on_djangos_immediate_backend_gets_djangos_context() -> None:
    result = task(backend="django_immediate", takes_context=True)(describe).enqueue("django's")

    assert result.return_value == {"label": "django's", "result_id": result.id, "attempt": 1}


def test_our_async_context_task_on_djangos_immediate_backend_gets_djangos_context() -> None:
    result = task(backend="django_immediate", takes_context=True)(async_describe).enqueue("async")

    assert result.return_value == {"label": "async", "result_id": result.id, "attempt": 1}


def test_our_failing_task_on_djangos_immediate_backend_is_recorded() -> None:
    result = task(backend="django_immediate")(refuse).enqueue("no")

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is Refused
    assert "Refused: no" in result.errors[0].traceback


def test_our_task_on_djangos_dummy_backend_is_stored_and_found_again() -> None:
    declared = task(backend="django_dummy")(multiply)

    result = declared.enqueue(2, 3)

    assert result.status == TaskResultStatus.READY
    assert declared.get_result(result.id).id == result.id
    assert [
        stored.id for stored in cast(DjangoDummyBackend, task_backends["django_dummy"]).results
    ] == [result.id]


def test_our_checks_run_djangos_backends_checks() -> None:
    assert check_task_backends() == []


def test_our_default_is_our_immediate_backend_even_with_djangos_global_default(
    settings: Settings,
) -> None:
    # What a project without TASKS sees: Django 6's default names its own backend.
    settings.TASKS = global_settings.TASKS

    assert isinstance(task_backends["default"], ImmediateBackend)
    assert isinstance(django_task_backends["default"], DjangoImmediateBackend)


def test_task_classes_of_the_compat_module_hold_djangos_task_class_too() -> None:
    assert (Task, DjangoTask) == TASK_CLASSES

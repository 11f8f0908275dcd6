"""
Each error begins with the words Django 6 and upstream django-tasks 0.12 use, so a
test written against either (`assertRaisesMessage` checks for a substring) passes;
our detail comes after.
"""

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskContext, task
from django_tasks.backends.dummy import DummyBackend
from django_tasks.base import TaskError

from . import tasks


class PlainBackend(DummyBackend):
    supports_defer = False
    supports_async_task = False
    supports_priority = False


@pytest.fixture(autouse=True)
def backends(settings: Settings) -> None:
    settings.TASKS = {
        "default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"},
        "dummy": {"BACKEND": "django_tasks.backends.dummy.DummyBackend", "QUEUES": []},
        "plain": {"BACKEND": "tests.test_upstream_messages.PlainBackend", "QUEUES": []},
        "broken": {"BACKEND": "tests.nowhere.Backend"},
    }


def message_of(action: Callable[[], object]) -> str:
    with pytest.raises(Exception) as info:
        action()
    return str(info.value)


async def async_function() -> None: ...


def misnamed_context(ctx: TaskContext) -> None: ...


def test_unfinished_result_says_task_has_not_finished_yet() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)

    assert message_of(lambda: result.return_value).startswith("Task has not finished yet")


def test_failed_result_says_task_failed() -> None:
    result = tasks.fail.enqueue("boom")

    assert message_of(lambda: result.return_value).startswith("Task failed")


def test_nested_function_says_it_must_be_defined_at_a_module_level() -> None:
    def nested() -> None: ...

    assert message_of(lambda: task(nested)).startswith(
        "Task function must be defined at a module level."
    )


def test_async_task_on_a_sync_backend_says_the_backend_does_not_support_it() -> None:
    assert message_of(lambda: task(backend="plain")(async_function)).startswith(
        "Backend does not support async tasks."
    )


def test_context_task_without_context_first_says_so() -> None:
    assert message_of(lambda: task(takes_context=True)(misnamed_context)).startswith(
        "Task takes context but does not have a first argument of 'context'."
    )


def test_priority_on_a_backend_without_priorities_says_it_is_not_supported() -> None:
    assert message_of(lambda: tasks.add.using(backend="plain", priority=5)).startswith(
        "Backend does not support setting priority of tasks."
    )


def test_priority_out_of_range_says_the_range() -> None:
    assert message_of(lambda: tasks.add.using(priority=101)).startswith(
        "priority must be a whole number between -100 and 100."
    )


def test_run_after_on_a_backend_without_defer_says_it_is_not_supported() -> None:
    run_after = timezone.now() + timedelta(hours=1)

    assert message_of(lambda: tasks.add.using(run_after=run_after)).startswith(
        "Backend does not support run_after."
    )


def test_naive_run_after_says_it_must_be_aware() -> None:
    naive = datetime(2030, 1, 1)

    assert message_of(lambda: tasks.add.using(backend="dummy", run_after=naive)).startswith(
        "run_after must be an aware datetime."
    )


def test_unknown_queue_says_it_is_not_valid_for_the_backend() -> None:
    assert message_of(lambda: tasks.add.using(queue_name="reports")).startswith(
        "Queue 'reports' is not valid for backend."
    )


def test_refresh_without_a_result_store_says_the_backend_cannot_retrieve_results() -> None:
    result = tasks.add.enqueue(1, 2)

    assert message_of(result.refresh).startswith(
        "This backend does not support retrieving or refreshing results."
    )


def test_result_of_another_task_says_the_task_does_not_match() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)

    assert message_of(
        lambda: tasks.subtract.using(backend="dummy").get_result(result.id)
    ).startswith("Task does not match (received 'tests.tasks.add')")


def test_unknown_backend_alias_says_the_connection_does_not_exist() -> None:
    assert message_of(lambda: tasks.add.using(backend="missing")).startswith(
        "The connection 'missing' doesn't exist."
    )


def test_backend_path_that_does_not_import_says_the_backend_could_not_be_found() -> None:
    assert message_of(lambda: tasks.add.using(backend="broken")).startswith(
        "Could not find backend 'tests.nowhere.Backend': "
    )


def test_error_naming_no_exception_says_it_does_not_reference_a_valid_exception() -> None:
    error = TaskError(exception_class_path="builtins.len", traceback="")

    assert message_of(lambda: error.exception_class).startswith(
        "'builtins.len' does not reference a valid exception."
    )

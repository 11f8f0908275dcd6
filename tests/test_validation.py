"""Every way to declare or enqueue a task wrongly gives a clear error and changes nothing."""

import functools
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from django.test import override_settings
from django.utils import timezone
from pytest_django import Settings

from django_tasks import TaskContext, TaskResult, task, task_backends
from django_tasks.backends.dummy import DummyBackend
from django_tasks.exceptions import InvalidTask, InvalidTaskBackend
from django_tasks.signals import task_enqueued

from . import tasks


class PlainBackend(DummyBackend):
    """A backend with none of the optional features."""

    supports_defer = False
    supports_async_task = False
    supports_priority = False


PLAIN_BACKEND = "tests.test_validation.PlainBackend"
DUMMY_BACKEND = "django_tasks.backends.dummy.DummyBackend"
IMMEDIATE_BACKEND = "django_tasks.backends.immediate.ImmediateBackend"


def backend(path: str, **params: object) -> dict[str, object]:
    return {"BACKEND": path, "ENQUEUE_ON_COMMIT": False, **params}


@pytest.fixture(autouse=True)
def backends(settings: Settings) -> None:
    settings.TASKS = {
        "default": backend(IMMEDIATE_BACKEND, QUEUES=[]),
        "dummy": backend(DUMMY_BACKEND, QUEUES=[]),
        "plain": backend(PLAIN_BACKEND, QUEUES=[]),
        "queues": backend(DUMMY_BACKEND, QUEUES=["default", "emails"]),
        "no_queues_setting": backend(DUMMY_BACKEND),
    }


@pytest.fixture
def enqueued() -> Iterator[list[TaskResult[Any]]]:
    """Every result a backend reports as enqueued during the test."""
    results: list[TaskResult[Any]] = []

    def record(sender: type[object], task_result: TaskResult[Any], **kwargs: object) -> None:
        results.append(task_result)

    task_enqueued.connect(record)
    yield results
    task_enqueued.disconnect(record)


def stored(alias: str) -> list[TaskResult[Any]]:
    return cast(DummyBackend, task_backends[alias]).results


def plain_function(value: int) -> int:
    return value


async def async_function(value: int) -> int:
    return value


module_level_lambda: Callable[[int], int] = lambda value: value  # noqa: E731


def misnamed_context(ctx: TaskContext, value: int) -> int:
    return value


# --- the function -------------------------------------------------------------------


def test_function_defined_inside_another_is_refused() -> None:
    def nested(value: int) -> int:
        return value

    with pytest.raises(InvalidTask, match=r"nested at .* is not, so a worker could not import it"):
        task(nested)


def test_lambda_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"<lambda>.* is not, so a worker could not import it"):
        task(module_level_lambda)


def test_partial_function_is_refused() -> None:
    with pytest.raises(
        InvalidTask, match=r"functools\.partial.* is not, so a worker could not import it"
    ):
        task(functools.partial(plain_function, 1))


def test_module_level_function_is_accepted() -> None:
    assert task(backend="plain")(plain_function).func is plain_function


def test_async_function_on_a_backend_without_async_support_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"does not support async tasks\. \(backend 'plain'\)"):
        task(backend="plain")(async_function)


def test_async_task_moved_to_a_backend_without_async_support_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"does not support async tasks\. \(backend 'plain'\)"):
        tasks.async_add.using(backend="plain")


def test_context_task_whose_first_parameter_is_not_context_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"first parameter must be `context: TaskContext`"):
        task(takes_context=True)(misnamed_context)


# --- priority -----------------------------------------------------------------------


@pytest.mark.parametrize("priority", [101, -101, 1000])
def test_priority_outside_minus_100_to_100_is_refused(priority: int) -> None:
    with pytest.raises(
        InvalidTask,
        match=rf"priority must be a whole number between -100 and 100\. It is {priority}\.",
    ):
        tasks.add.using(priority=priority)


@pytest.mark.parametrize("priority", [-100, 100])
def test_priority_at_the_limits_is_accepted(priority: int) -> None:
    assert tasks.add.using(priority=priority).priority == priority


@pytest.mark.parametrize("priority", [1.5, 2.0, "1", True])
def test_priority_that_is_not_an_int_is_refused(priority: object) -> None:
    with pytest.raises(InvalidTask, match=r"priority must be a whole number"):
        tasks.add.using(priority=cast(int, priority))


def test_priority_on_a_backend_without_priority_support_is_refused() -> None:
    with pytest.raises(
        InvalidTask, match=r"does not support setting priority of tasks\. \(backend 'plain'\)"
    ):
        task(backend="plain", priority=1)(plain_function)


def test_default_priority_on_a_backend_without_priority_support_is_accepted() -> None:
    assert task(backend="plain", priority=0)(plain_function).priority == 0


# --- run_after ----------------------------------------------------------------------


def test_run_after_on_a_backend_without_defer_support_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"does not support run_after\. \(backend 'default'\)"):
        tasks.add.using(run_after=timezone.now() + timedelta(hours=1))


def test_naive_run_after_with_use_tz_is_refused() -> None:
    with pytest.raises(InvalidTask, match=r"USE_TZ is on, and .* is naive"):
        tasks.add.using(backend="dummy", run_after=datetime(2030, 1, 1))


def test_aware_run_after_is_accepted() -> None:
    run_after = timezone.now() + timedelta(hours=1)

    assert tasks.add.using(backend="dummy", run_after=run_after).run_after == run_after


@override_settings(USE_TZ=False)
def test_naive_run_after_without_use_tz_is_accepted() -> None:
    run_after = datetime(2030, 1, 1)

    assert tasks.add.using(backend="dummy", run_after=run_after).run_after == run_after


# --- queues -------------------------------------------------------------------------


def test_queue_not_in_queues_is_refused() -> None:
    with pytest.raises(
        InvalidTask,
        match=r"Backend 'queues' has QUEUES default, emails\.",
    ):
        tasks.add.using(backend="queues", queue_name="reports")


def test_queue_in_queues_is_accepted() -> None:
    assert tasks.add.using(backend="queues", queue_name="emails").queue_name == "emails"


def test_empty_queues_accepts_any_queue_name() -> None:
    assert tasks.add.using(backend="dummy", queue_name="anything").queue_name == "anything"


def test_backend_without_queues_setting_accepts_only_the_default_queue() -> None:
    assert tasks.add.using(backend="no_queues_setting").queue_name == "default"
    with pytest.raises(InvalidTask, match=r"Queue 'emails' is not valid for backend"):
        tasks.add.using(backend="no_queues_setting", queue_name="emails")


# --- backends -----------------------------------------------------------------------


def test_unknown_backend_alias_is_refused() -> None:
    with pytest.raises(InvalidTaskBackend, match=r"No task backend has that alias"):
        tasks.add.using(backend="missing")


def test_unknown_backend_alias_on_the_decorator_is_refused() -> None:
    with pytest.raises(InvalidTaskBackend, match=r"TASKS has 'default', 'dummy'"):
        task(backend="missing")(plain_function)


def test_backend_path_that_cannot_be_imported_is_refused(settings: Settings) -> None:
    settings.TASKS = {**settings.TASKS, "broken": backend("tests.nowhere.Backend")}

    with pytest.raises(
        InvalidTaskBackend, match=r"Could not find backend 'tests\.nowhere\.Backend'"
    ):
        tasks.add.using(backend="broken")


def test_backend_without_backend_path_is_refused(settings: Settings) -> None:
    settings.TASKS = {**settings.TASKS, "broken": {"QUEUES": []}}

    with pytest.raises(InvalidTaskBackend, match=r"TASKS\['broken'\] has no BACKEND"):
        tasks.add.using(backend="broken")


# --- checked again at enqueue -------------------------------------------------------


def test_enqueue_to_a_queue_no_longer_configured_is_refused_and_stores_nothing(
    settings: Settings, enqueued: list[TaskResult[Any]]
) -> None:
    on_reports = tasks.add.using(backend="dummy", queue_name="reports")
    settings.TASKS = {**settings.TASKS, "dummy": backend(DUMMY_BACKEND, QUEUES=["default"])}

    with pytest.raises(InvalidTask, match=r"Queue 'reports' is not valid for backend"):
        on_reports.enqueue(1, 2)

    assert stored("dummy") == []
    assert enqueued == []


def test_enqueue_with_priority_to_a_backend_that_lost_priority_support_stores_nothing(
    settings: Settings, enqueued: list[TaskResult[Any]]
) -> None:
    urgent = tasks.add.using(backend="dummy", priority=50)
    settings.TASKS = {**settings.TASKS, "dummy": backend(PLAIN_BACKEND, QUEUES=[])}

    with pytest.raises(InvalidTask, match=r"does not support setting priority of tasks"):
        urgent.enqueue(1, 2)

    assert stored("dummy") == []
    assert enqueued == []


def test_enqueue_with_an_argument_json_cannot_carry_stores_nothing(
    enqueued: list[TaskResult[Any]],
) -> None:
    with pytest.raises(TypeError, match=r"Task argument args\[0\] is a builtins\.set"):
        tasks.echo.using(backend="dummy").enqueue({1, 2})

    assert stored("dummy") == []
    assert enqueued == []


def test_enqueue_with_an_argument_json_cannot_carry_runs_nothing(
    enqueued: list[TaskResult[Any]],
) -> None:
    with pytest.raises(TypeError, match=r"Task argument 'value' is a builtins\.object"):
        tasks.echo.enqueue(value=object())

    assert enqueued == []


def test_valid_enqueue_is_recorded(enqueued: list[TaskResult[Any]]) -> None:
    # The counterpart of the tests above: the observers do see an enqueue.
    result = tasks.echo.using(backend="dummy").enqueue([1, 2])

    assert stored("dummy") == [result]
    assert enqueued == [result]

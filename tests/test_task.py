import dataclasses
from datetime import timedelta
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync
from django.utils import timezone

from django_tasks import (
    DEFAULT_TASK_BACKEND_ALIAS,
    DEFAULT_TASK_QUEUE_NAME,
    Task,
    TaskContext,
    TaskResult,
    TaskResultStatus,
    task,
    task_backends,
)
from django_tasks.backends.dummy import DummyBackend
from django_tasks.base import DEFAULT_TASK_PRIORITY
from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch

from . import tasks


def dummy_backend() -> DummyBackend:
    return cast(DummyBackend, task_backends["dummy"])


def plain_function(value: int) -> int:
    return value


# --- declaring tasks ----------------------------------------------------------------


def test_bare_decorator_makes_a_task_with_the_defaults() -> None:
    assert isinstance(tasks.add, Task)
    assert tasks.add.priority == DEFAULT_TASK_PRIORITY
    assert tasks.add.queue_name == DEFAULT_TASK_QUEUE_NAME
    assert tasks.add.backend == DEFAULT_TASK_BACKEND_ALIAS
    assert tasks.add.run_after is None
    assert tasks.add.takes_context is False
    assert tasks.add.enqueue_on_commit is None


def test_decorator_with_empty_parentheses_makes_a_task_with_the_defaults() -> None:
    assert isinstance(tasks.subtract, Task)
    assert tasks.subtract.priority == DEFAULT_TASK_PRIORITY
    assert tasks.subtract.backend == DEFAULT_TASK_BACKEND_ALIAS


def test_decorator_arguments_become_the_task_defaults() -> None:
    assert tasks.send_email.priority == 10
    assert tasks.send_email.queue_name == "emails"
    assert tasks.send_email.backend == "dummy"


def test_decorator_records_enqueue_on_commit() -> None:
    assert tasks.store_on_commit.enqueue_on_commit is True
    assert tasks.store_at_once.enqueue_on_commit is False


def test_decorator_records_takes_context() -> None:
    assert tasks.describe_context.takes_context is True


def test_decorator_keeps_the_function() -> None:
    declared = task(plain_function)

    assert declared.func is plain_function


def test_async_function_makes_an_async_task() -> None:
    assert tasks.async_add.is_async
    assert not tasks.add.is_async


def test_name_is_the_function_name() -> None:
    assert tasks.add.name == "add"


def test_module_path_is_where_a_worker_imports_the_function_from() -> None:
    assert tasks.add.module_path == "tests.tasks.add"


def test_get_backend_returns_the_configured_backend() -> None:
    assert tasks.send_email.get_backend() is task_backends["dummy"]


# --- immutability and using() -------------------------------------------------------


def test_task_attributes_cannot_be_changed() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        cast(Any, tasks.add).priority = 5


def test_using_returns_a_new_task_with_the_given_defaults() -> None:
    run_after = timezone.now() + timedelta(hours=1)

    changed = tasks.add.using(
        priority=5, queue_name="reports", run_after=run_after, backend="dummy"
    )

    assert changed.priority == 5
    assert changed.queue_name == "reports"
    assert changed.run_after == run_after
    assert changed.backend == "dummy"
    assert changed.func is tasks.add.func


def test_using_leaves_the_original_task_unchanged() -> None:
    tasks.add.using(priority=5, queue_name="reports", backend="dummy")

    assert tasks.add.priority == DEFAULT_TASK_PRIORITY
    assert tasks.add.queue_name == DEFAULT_TASK_QUEUE_NAME
    assert tasks.add.backend == DEFAULT_TASK_BACKEND_ALIAS


def test_using_keeps_the_defaults_it_is_not_given() -> None:
    changed = tasks.send_email.using(priority=20)

    assert changed.queue_name == "emails"
    assert changed.backend == "dummy"
    assert changed.run_after is None


def test_using_without_arguments_returns_an_equal_task() -> None:
    assert tasks.add.using() == tasks.add


# --- enqueue ------------------------------------------------------------------------


def test_enqueue_returns_the_result_of_the_task() -> None:
    result = tasks.add.enqueue(1, 2)

    assert isinstance(result, TaskResult)
    assert result.task == tasks.add
    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_enqueue_records_the_arguments() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, b=2)

    assert result.args == [1]
    assert result.kwargs == {"b": 2}


def test_enqueue_records_the_backend_alias() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)

    assert result.backend == "dummy"


def test_enqueue_gives_each_result_its_own_id() -> None:
    first = tasks.add.enqueue(1, 2)
    second = tasks.add.enqueue(1, 2)

    assert first.id != second.id
    assert 0 < len(first.id) <= 64


def test_aenqueue_returns_the_result_of_the_task() -> None:
    result = async_to_sync(tasks.add.aenqueue)(1, 2)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


# --- get_result ---------------------------------------------------------------------


def test_get_result_returns_the_result_by_id() -> None:
    on_dummy = tasks.add.using(backend="dummy")
    enqueued = on_dummy.enqueue(1, 2)

    assert on_dummy.get_result(enqueued.id) == enqueued


def test_aget_result_returns_the_result_by_id() -> None:
    on_dummy = tasks.add.using(backend="dummy")
    enqueued = on_dummy.enqueue(1, 2)

    assert async_to_sync(on_dummy.aget_result)(enqueued.id) == enqueued


def test_get_result_accepts_the_same_function_with_other_defaults() -> None:
    enqueued = tasks.add.using(backend="dummy", priority=5).enqueue(1, 2)

    assert tasks.add.using(backend="dummy").get_result(enqueued.id) == enqueued


def test_get_result_of_another_tasks_result_raises_task_result_mismatch() -> None:
    enqueued = tasks.add.using(backend="dummy").enqueue(1, 2)

    with pytest.raises(
        TaskResultMismatch, match=r"belongs to that task, not to 'tests\.tasks\.subtract'"
    ):
        tasks.subtract.using(backend="dummy").get_result(enqueued.id)


def test_aget_result_of_another_tasks_result_raises_task_result_mismatch() -> None:
    enqueued = tasks.add.using(backend="dummy").enqueue(1, 2)

    with pytest.raises(
        TaskResultMismatch, match=r"belongs to that task, not to 'tests\.tasks\.subtract'"
    ):
        async_to_sync(tasks.subtract.using(backend="dummy").aget_result)(enqueued.id)


def test_get_result_of_an_unknown_id_raises_task_result_does_not_exist() -> None:
    with pytest.raises(TaskResultDoesNotExist):
        tasks.add.using(backend="dummy").get_result("no-such-id")


def test_get_result_on_a_backend_without_a_result_store_raises_not_implemented() -> None:
    enqueued = tasks.add.enqueue(1, 2)

    with pytest.raises(NotImplementedError, match="does not support retrieving"):
        tasks.add.get_result(enqueued.id)


def test_aget_result_on_a_backend_without_a_result_store_raises_not_implemented() -> None:
    enqueued = tasks.add.enqueue(1, 2)

    with pytest.raises(NotImplementedError, match="does not support retrieving"):
        async_to_sync(tasks.add.aget_result)(enqueued.id)


# --- call and acall -----------------------------------------------------------------


def test_call_runs_the_function_now_without_enqueueing() -> None:
    assert tasks.send_email.call("ada@example.com") == "sent to ada@example.com"
    assert dummy_backend().results == []


def test_call_runs_an_async_task_to_its_awaited_value() -> None:
    assert tasks.async_add.call(1, 2) == 3


def test_call_lets_the_exception_of_the_function_propagate() -> None:
    with pytest.raises(tasks.TaskFailure, match="boom"):
        tasks.fail.call("boom")


def test_call_passes_arguments_unchanged_not_through_json() -> None:
    assert tasks.echo.call((1, 2)) == (1, 2)


def test_acall_runs_a_sync_task() -> None:
    assert async_to_sync(tasks.add.acall)(1, 2) == 3


def test_acall_runs_an_async_task() -> None:
    assert async_to_sync(tasks.async_add.acall)(1, 2) == 3


def test_call_of_a_context_task_gives_it_a_fresh_context() -> None:
    described = tasks.describe_context.call("direct")

    assert described["label"] == "direct"
    assert described["attempt"] == 1
    assert described["status"] == TaskResultStatus.RUNNING
    assert described["task"] == "tests.tasks.describe_context"


def test_each_call_of_a_context_task_gets_a_new_result_id() -> None:
    first = tasks.describe_context.call("one")
    second = tasks.describe_context.call("two")

    assert first["result_id"] != second["result_id"]


def test_acall_of_a_context_task_gives_it_a_fresh_context() -> None:
    described = async_to_sync(tasks.async_describe_context.acall)("async")

    assert described["label"] == "async"
    assert described["attempt"] == 1


def test_call_of_a_context_task_passes_a_given_context_through() -> None:
    # Workers (ours, and Django 6's own backends) pass the context themselves.
    enqueued = tasks.describe_context.using(backend="dummy").enqueue("queued")
    worker_call = cast(Any, tasks.describe_context).call

    described = worker_call(TaskContext(task_result=enqueued), "queued")

    assert described["result_id"] == enqueued.id

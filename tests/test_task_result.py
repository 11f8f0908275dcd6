import dataclasses
from typing import Any, cast

import pytest
from asgiref.sync import async_to_sync

from django_tasks import TaskResult, TaskResultStatus, task_backends
from django_tasks.base import TaskError
from django_tasks.execution import run_task, start_attempt

from . import tasks


def run_as_worker(result: TaskResult[Any], worker_id: str = "worker-1") -> None:
    """What a worker does with a result it picked up."""
    start_attempt(result, worker_id)
    run_task(result)


def stored_by_dummy(result: TaskResult[Any]) -> TaskResult[Any]:
    """The Dummy backend's own copy of an enqueued result, which refresh() reads."""
    return task_backends["dummy"].get_result(result.id)


def stale_copy(result: TaskResult[Any]) -> TaskResult[Any]:
    """The result as another process read it before a worker ran it."""
    return dataclasses.replace(result, errors=[], worker_ids=[])


# --- arguments ----------------------------------------------------------------------


def test_arguments_a_backend_gives_as_tuples_are_lists_on_the_result() -> None:
    result: TaskResult[int] = TaskResult(
        task=tasks.add, id="r1", args=cast(Any, (1, (2, 3))), kwargs={"k": (4,)}, backend="default"
    )

    assert result.args == [1, [2, 3]]
    assert result.kwargs == {"k": [4]}


def test_an_argument_that_is_not_json_is_refused_by_the_result() -> None:
    with pytest.raises(TypeError, match=r"Task argument args\[0\] is a builtins\.set"):
        TaskResult(task=tasks.add, id="r1", args=[{1}], kwargs={}, backend="default")


# --- return_value -------------------------------------------------------------------


def test_return_value_of_a_successful_task_is_what_it_returned() -> None:
    assert tasks.add.enqueue(1, 2).return_value == 3


def test_return_value_can_be_none() -> None:
    result = tasks.echo.enqueue(None)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value is None


def test_return_value_of_a_failed_task_raises_value_error_saying_it_failed() -> None:
    result = tasks.fail.enqueue("boom")

    with pytest.raises(
        ValueError, match=r"tests\.tasks\.fail \(result .*\) has no return value; see \.errors"
    ):
        _ = result.return_value


def test_return_value_of_an_unfinished_task_raises_value_error_saying_so() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)

    with pytest.raises(ValueError, match=r"\(result .*\) is READY; call \.refresh\(\) later"):
        _ = result.return_value


def test_return_value_of_a_running_task_raises_value_error_saying_it_has_not_finished() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)
    start_attempt(result, "worker-1")

    with pytest.raises(ValueError, match=r"\(result .*\) is RUNNING; call \.refresh\(\) later"):
        _ = result.return_value


# --- is_finished and attempts -------------------------------------------------------


def test_ready_result_is_not_finished() -> None:
    assert not tasks.add.using(backend="dummy").enqueue(1, 2).is_finished


def test_running_result_is_not_finished() -> None:
    result = tasks.add.using(backend="dummy").enqueue(1, 2)
    start_attempt(result, "worker-1")

    assert not result.is_finished


def test_successful_result_is_finished() -> None:
    assert tasks.add.enqueue(1, 2).is_finished


def test_failed_result_is_finished() -> None:
    assert tasks.fail.enqueue("boom").is_finished


def test_attempts_is_zero_before_any_worker_ran_the_task() -> None:
    assert tasks.add.using(backend="dummy").enqueue(1, 2).attempts == 0


def test_attempts_counts_each_worker_attempt() -> None:
    result = tasks.fail.using(backend="dummy").enqueue("boom")

    run_as_worker(result, "worker-1")
    run_as_worker(result, "worker-2")

    assert result.attempts == 2
    assert result.worker_ids == ["worker-1", "worker-2"]


def test_each_failed_attempt_adds_an_error() -> None:
    result = tasks.fail.using(backend="dummy").enqueue("boom")

    run_as_worker(result, "worker-1")
    run_as_worker(result, "worker-2")

    assert len(result.errors) == 2


def test_started_at_is_the_start_of_the_first_attempt() -> None:
    result = tasks.fail.using(backend="dummy").enqueue("boom")
    run_as_worker(result, "worker-1")
    first_started_at = result.started_at

    run_as_worker(result, "worker-2")

    assert result.started_at == first_started_at
    assert result.last_attempted_at is not None
    assert first_started_at is not None
    assert result.last_attempted_at >= first_started_at


def test_result_fields_cannot_be_changed() -> None:
    result = tasks.add.enqueue(1, 2)

    with pytest.raises(dataclasses.FrozenInstanceError):
        cast(Any, result).status = TaskResultStatus.READY


# --- refresh ------------------------------------------------------------------------


def test_refresh_loads_what_a_worker_recorded() -> None:
    stored = stored_by_dummy(tasks.add.using(backend="dummy").enqueue(1, 2))
    stale = stale_copy(stored)
    run_as_worker(stored)

    stale.refresh()

    assert stale.status == TaskResultStatus.SUCCESSFUL
    assert stale.return_value == 3
    assert stale.worker_ids == ["worker-1"]
    assert stale.started_at == stored.started_at
    assert stale.finished_at == stored.finished_at


def test_refresh_loads_the_errors_of_a_failed_attempt() -> None:
    stored = stored_by_dummy(tasks.fail.using(backend="dummy").enqueue("boom"))
    stale = stale_copy(stored)
    run_as_worker(stored)

    stale.refresh()

    assert stale.status == TaskResultStatus.FAILED
    assert stale.errors == stored.errors


def test_arefresh_loads_what_a_worker_recorded() -> None:
    stored = stored_by_dummy(tasks.add.using(backend="dummy").enqueue(1, 2))
    stale = stale_copy(stored)
    run_as_worker(stored)

    async_to_sync(stale.arefresh)()

    assert stale.status == TaskResultStatus.SUCCESSFUL
    assert stale.return_value == 3


def test_refresh_on_a_backend_without_a_result_store_raises_not_implemented() -> None:
    result = tasks.add.enqueue(1, 2)

    with pytest.raises(NotImplementedError, match=r"results\. \(backend 'default'\)"):
        result.refresh()


# --- errors -------------------------------------------------------------------------


def test_error_exception_class_is_the_class_the_task_raised() -> None:
    result = tasks.fail.enqueue("boom")

    assert result.errors[0].exception_class is tasks.TaskFailure
    assert result.errors[0].exception_class_path == "tests.tasks.TaskFailure"


def test_error_exception_class_resolves_builtin_exceptions() -> None:
    error = TaskError(exception_class_path="builtins.ValueError", traceback="")

    assert error.exception_class is ValueError


def test_error_traceback_shows_where_and_why_the_task_failed() -> None:
    result = tasks.fail.enqueue("boom")

    traceback = result.errors[0].traceback
    assert traceback.startswith("Traceback (most recent call last):")
    assert "raise TaskFailure(message)" in traceback
    assert traceback.rstrip().endswith("tests.tasks.TaskFailure: boom")


def test_error_exception_class_of_a_path_that_is_not_a_class_raises_value_error() -> None:
    error = TaskError(exception_class_path="builtins.len", traceback="")

    with pytest.raises(ValueError, match=r"'builtins\.len' .* It names <built-in function len>"):
        _ = error.exception_class


def test_error_exception_class_of_a_class_that_is_not_an_exception_raises_value_error() -> None:
    error = TaskError(exception_class_path="builtins.dict", traceback="")

    with pytest.raises(ValueError, match=r"'builtins\.dict' .* It names <class 'dict'>"):
        _ = error.exception_class


def test_error_exception_class_of_a_missing_path_raises_import_error() -> None:
    error = TaskError(exception_class_path="tests.tasks.NoSuchError", traceback="")

    with pytest.raises(ImportError):
        _ = error.exception_class


# --- context ------------------------------------------------------------------------


def test_context_holds_the_running_result() -> None:
    result = tasks.describe_context.enqueue("queued")

    described = result.return_value
    assert described["result_id"] == result.id
    assert described["status"] == TaskResultStatus.RUNNING
    assert described["worker_ids"] == result.worker_ids


def test_context_attempt_is_one_on_the_first_attempt() -> None:
    assert tasks.describe_context.enqueue("queued").return_value["attempt"] == 1


def test_context_attempt_counts_retries() -> None:
    result = tasks.describe_context.using(backend="dummy").enqueue("queued")
    run_as_worker(result, "worker-1")

    run_as_worker(result, "worker-2")  # A retry.

    assert result.return_value["attempt"] == 2


# --- construction -------------------------------------------------------------------


def test_a_result_built_with_only_its_task_id_arguments_and_backend_is_ready_and_unattempted() -> (
    None
):
    first = TaskResult(task=tasks.add, id="a", args=[1, 2], kwargs={}, backend="default")
    second = TaskResult(task=tasks.add, id="b", args=[3, 4], kwargs={}, backend="default")

    assert first.status == TaskResultStatus.READY
    assert (first.enqueued_at, first.started_at, first.finished_at) == (None, None, None)
    assert first.last_attempted_at is None
    assert first.errors == []
    assert first.worker_ids == []
    first.worker_ids.append("worker-1")
    assert second.worker_ids == []  # Each result has lists of its own.

"""ImmediateBackend runs each task in the calling thread as it is enqueued."""

import logging
import threading
from typing import cast

import pytest
from asgiref.sync import async_to_sync
from pytest_django import Settings

from django_tasks import TaskResult, TaskResultStatus, default_task_backend, task_backends
from django_tasks.backends.immediate import ImmediateBackend

from . import tasks
from .conftest import SentSignal


def seen(sent: list[SentSignal]) -> list[tuple[str, type[object], TaskResultStatus]]:
    return [(signal.name, signal.sender, signal.status) for signal in sent]


@pytest.fixture
def backend() -> ImmediateBackend:
    return cast(ImmediateBackend, task_backends["default"])


# --- running ------------------------------------------------------------------------


def test_is_the_default_backend() -> None:
    assert isinstance(task_backends["default"], ImmediateBackend)
    assert default_task_backend.alias == "default"


def test_enqueue_runs_the_task_before_returning() -> None:
    result = tasks.add.enqueue(1, 2)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_enqueue_outside_a_transaction_needs_no_database_access(settings: Settings) -> None:
    # This test has no database access: enqueue on commit must not open a connection.
    settings.TASKS = {
        "default": {
            "BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
            "ENQUEUE_ON_COMMIT": True,
        }
    }

    assert tasks.add.enqueue(2, 3).return_value == 5


def test_enqueue_runs_the_task_in_the_calling_thread() -> None:
    assert tasks.current_thread_id.enqueue().return_value == threading.get_ident()


def test_enqueue_passes_keyword_arguments() -> None:
    assert tasks.subtract.enqueue(b=1, a=5).return_value == 4


def test_enqueue_records_the_timeline_of_the_run() -> None:
    result = tasks.add.enqueue(1, 2)

    assert result.enqueued_at is not None
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.enqueued_at <= result.started_at <= result.finished_at
    assert result.last_attempted_at == result.started_at


def test_run_is_one_attempt_by_the_backends_worker(backend: ImmediateBackend) -> None:
    result = tasks.add.enqueue(1, 2)

    assert result.attempts == 1
    assert result.worker_ids == [backend.worker_id]


def test_every_run_in_a_thread_is_by_the_same_worker() -> None:
    first = tasks.add.enqueue(1, 2)
    second = tasks.add.enqueue(3, 4)

    assert first.worker_ids == second.worker_ids


def test_context_task_receives_the_result_being_run() -> None:
    result = tasks.describe_context.enqueue("immediate")

    assert result.return_value["result_id"] == result.id
    assert result.return_value["attempt"] == 1


# --- failures -----------------------------------------------------------------------


def test_failing_task_is_recorded_not_raised() -> None:
    result = tasks.fail.enqueue("boom")

    assert result.status == TaskResultStatus.FAILED
    assert result.finished_at is not None


def test_failure_is_recorded_with_its_exception_class_and_traceback() -> None:
    result = tasks.fail.enqueue("boom")

    [error] = result.errors
    assert error.exception_class is tasks.TaskFailure
    assert "raise TaskFailure(message)" in error.traceback
    assert error.traceback.rstrip().endswith("tests.tasks.TaskFailure: boom")


def test_interrupted_task_is_recorded_as_failed_and_the_interruption_raised(
    signals_sent: list[SentSignal],
) -> None:
    with pytest.raises(KeyboardInterrupt):
        tasks.interrupt.enqueue()

    assert seen(signals_sent)[-1] == ("finished", ImmediateBackend, TaskResultStatus.FAILED)


# --- async --------------------------------------------------------------------------


def test_async_task_enqueued_from_sync_code_runs_to_its_value() -> None:
    result = tasks.async_add.enqueue(1, 2)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_failing_async_task_is_recorded() -> None:
    result = tasks.async_fail.enqueue("async boom")

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is tasks.TaskFailure


def test_async_task_enqueued_from_async_code_runs_to_its_value() -> None:
    async def view() -> TaskResult[int]:
        return await tasks.async_add.aenqueue(1, 2)

    result = async_to_sync(view)()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 3


def test_sync_task_enqueued_from_async_code_runs_to_its_value() -> None:
    async def view() -> TaskResult[int]:
        return await tasks.add.aenqueue(1, 2)

    assert async_to_sync(view)().return_value == 3


def test_async_context_task_enqueued_from_async_code_receives_the_result() -> None:
    async def view() -> TaskResult[dict[str, object]]:
        return await tasks.async_describe_context.aenqueue("async")

    result = async_to_sync(view)()

    assert result.return_value["result_id"] == result.id


# --- signals and logging ------------------------------------------------------------


def test_signals_are_sent_from_the_backend_class_in_order(signals_sent: list[SentSignal]) -> None:
    tasks.add.enqueue(1, 2)

    assert seen(signals_sent) == [
        ("enqueued", ImmediateBackend, TaskResultStatus.READY),
        ("started", ImmediateBackend, TaskResultStatus.RUNNING),
        ("finished", ImmediateBackend, TaskResultStatus.SUCCESSFUL),
    ]


def test_task_finished_is_sent_for_a_failed_task(signals_sent: list[SentSignal]) -> None:
    tasks.fail.enqueue("boom")

    assert seen(signals_sent)[-1] == ("finished", ImmediateBackend, TaskResultStatus.FAILED)


def test_signals_carry_the_result(signals_sent: list[SentSignal]) -> None:
    result = tasks.add.enqueue(1, 2)

    assert [signal.task_result for signal in signals_sent] == [result, result, result]


def test_lifecycle_is_logged_on_the_django_tasks_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="django_tasks"):
        result = tasks.add.enqueue(1, 2)

    assert [(record.name, record.levelno, record.getMessage()) for record in caplog.records] == [
        (
            "django_tasks",
            logging.DEBUG,
            f"Task id={result.id} path=tests.tasks.add enqueued backend=default",
        ),
        (
            "django_tasks",
            logging.INFO,
            f"Task id={result.id} path=tests.tasks.add state=RUNNING attempt=1",
        ),
        (
            "django_tasks",
            logging.INFO,
            f"Task id={result.id} path=tests.tasks.add state=SUCCESSFUL",
        ),
    ]


def test_failure_is_logged_as_an_error_with_the_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="django_tasks"):
        result = tasks.fail.enqueue("boom")

    last = caplog.records[-1]
    assert last.levelno == logging.ERROR
    assert last.getMessage().startswith(f"Task id={result.id} path=tests.tasks.fail state=FAILED\n")
    assert last.getMessage().endswith(result.errors[0].traceback)


# --- features -----------------------------------------------------------------------


def test_supports_async_and_priority_but_not_defer_or_get_result() -> None:
    assert ImmediateBackend.supports_async_task
    assert ImmediateBackend.supports_priority
    assert not ImmediateBackend.supports_defer
    assert not ImmediateBackend.supports_get_result


def test_system_exit_in_a_task_is_recorded_as_its_failure_and_not_raised() -> None:
    result = tasks.exit_process.enqueue()

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is SystemExit
